// Restore: plan → read packs (parallel, coalesced ranges) → decrypt + decompress + verify (pool)
// → write at file offsets, out of order. Planning and reading overlap: the plan is handed to the
// reader in batches (the first small, so reading starts at once), and planning runs ahead of the
// restored files by a bounded number of bytes of plan. A blob that fails verification is never
// written: the files that need it are named and the restore ends with exit 4.
//
// Every entry is created through the directory-handle layer (src/fs/dir-handle.ts): each folder of
// the target is opened relative to its parent without following links, files are created new
// (O_EXCL|O_NOFOLLOW) after whatever stood at their path was removed, and metadata is set on open
// descriptors or with no-follow calls, so a target holding links planted by another local user
// cannot make a restore run as root write, chmod or chown anything outside it. A file counts as
// restored only once its data, size and metadata are in place; an entry the target refuses (out of
// space, an I/O error, a mount point in the way) is named, what was written of it removed, and the
// restore goes on with the rest (exit 3).
import fs from 'node:fs';
import { DirTree } from '../fs/dir-handle.js';
import type { BlobId, PackId } from '../format/ids.js';
import type { Tree, TreeNode } from '../format/tree.js';
import { ByteBudget, Concurrency } from '../pipeline/budget.js';
import { BusyMeter, type WorkerPool } from '../pipeline/pool.js';
import type { BlobIndex, BlobLocation } from '../repository/blob-index.js';
import type { Repository } from '../repository/repository.js';
import { packName } from '../repository/layout.js';
import { UnsealStatus } from '../../workers/protocol.js';
import { ErrorCode, IntegrityError, isEngineError } from '../errors/engine-error.js';
import { isNotFound } from '../backend/errors.js';
import { noteDropped } from '../util/gc.js';
import { treeEntries } from '../repository/tree-stream.js';
import { describeTargetError, isTargetError } from './not-restored.js';
import { MetadataWriter } from './metadata.js';
import { RestoreReport } from './report.js';
import { nodeFallbackPosix, type NotKeptNotices, type PosixOps } from '../../native-bindings/posix/index.js';
import { nonZeroRanges, type Region } from '../fs/sparse.js';
import { IncludeFilter } from './includes.js';
import type { FileJob, PlanBatch, PlannedBlob, PlannedDir, PlannedHardlink, PlannedSymlink, Target } from './jobs.js';
import type { RestoreCounters, RestoreOptions } from './options.js';
import { depthOf, joinRel } from './rel-paths.js';

export type { RestoreCounters, RestoreOptions } from './options.js';


const COALESCE_GAP = 1024 * 1024;
/** Share of the read budget for the plan of files not yet restored (it lives on the heap). */
const PLAN_SHARE = 0.25;
/** Measured on Node 20: about 1 KiB of heap per planned file and 200 bytes per planned blob use. */
const PLAN_BYTES_PER_FILE = 1024;
const PLAN_BYTES_PER_BLOB = 200;
/**
 * The first batch goes to the reader once this many bytes are planned, so reading starts at once;
 * each next batch may be twice as big, up to MAX_BATCH_BYTES (bigger batches coalesce more
 * neighbouring blobs into one request).
 */
const FIRST_BATCH_BYTES = 4 * 1024 * 1024;
const MAX_BATCH_BYTES = 256 * 1024 * 1024;

export class Restorer {
  private readonly repo: Repository;
  private readonly index: BlobIndex;
  private readonly pool: WorkerPool;
  private readonly opts: RestoreOptions;
  /** The batch being planned, the batches waiting for the reader, and how the reader is woken. */
  private batch: PlanBatch = new Map();
  private batchBytes = 0;
  private batchLimit = FIRST_BATCH_BYTES;
  private readonly batches: PlanBatch[] = [];
  private planning = true;
  private wakeReader: (() => void) | null = null;
  /** The plan of files not yet complete: bounds how far planning runs ahead of the restored files. */
  private readonly planBudget: ByteBudget;
  /** Stops planning when reading failed (and reading when planning failed), and on the caller's signal. */
  private readonly halt = new AbortController();
  private firstFailure: unknown = null;
  /** Times planning waited for files to be restored, and batches of the plan read (for tests). */
  planWaits = 0;
  batchesRead = 0;
  private readonly signal: AbortSignal;
  private readonly dirs: PlannedDir[] = [];
  private readonly hardlinks: PlannedHardlink[] = [];
  private readonly linkGroups = new Map<string, FileJob>();
  private readonly symlinks: PlannedSymlink[] = [];
  /** The target's folders, opened without following links, and what went wrong where, and metadata (set by run). */
  private tree!: DirTree;
  private report!: RestoreReport;
  private meta!: MetadataWriter;
  /** Files with data open for writing (closed by run should the restore end early). */
  private readonly openFiles = new Set<FileJob>();
  private readonly includes: IncludeFilter;
  /** Time with at least one pack read, and with at least one file write, in flight (for `engine bench`). */
  readonly loadBusy = new BusyMeter(1);
  readonly writeBusy = new BusyMeter(1);
  readonly counters: RestoreCounters = { files: 0, dirs: 0, symlinks: 0, hardlinks: 0, bytesWritten: 0, bytesTotal: 0, damagedFiles: [], notRestored: [], noSpaceEntries: 0, spaceNeededBytes: 0, noSpaceFolders: 0, specials: 0, specialsNotMade: 0, blobRetries: 0 };
  /** File creation and metadata calls in flight: enough to keep the libuv threadpool busy. */
  private readonly fsLimit = new Concurrency(32);
  /** Files without data being created (each leaves the set when done: a million empty files are not held). */
  private readonly creating = new Set<Promise<void>>();
  /** Trees fetched at once while planning. */
  private readonly treeReads: Concurrency;
  /** The first failure of a file created while planning (caught at once, rethrown after planning). */
  private planFailure: unknown = null;
  private readonly ops: PosixOps;
  private readonly notices: NotKeptNotices | undefined;
  /** Zero blocks of this size (the target's st_blksize, aligned on file offsets) are not written: they stay holes. */
  private blockSize = 4096;
  /** Packs that could not be read at all: no blob is planned from them again. */
  private readonly failedPacks = new Set<PackId>();
  /** Ranges being read and written: the reader waits for them (they may plan retries) before it ends. */
  private rangesInFlight = 0;

  constructor(repo: Repository, index: BlobIndex, pool: WorkerPool, opts: RestoreOptions) {
    this.repo = repo;
    this.index = index;
    this.pool = pool;
    this.opts = opts;
    this.treeReads = new Concurrency(Math.min(16, repo.backend.parallelism));
    this.planBudget = new ByteBudget('restore plan', Math.floor(opts.readBudgetBytes * PLAN_SHARE));
    this.signal = opts.signal ? AbortSignal.any([opts.signal, this.halt.signal]) : this.halt.signal;
    this.ops = opts.posix?.ops ?? nodeFallbackPosix();
    this.notices = opts.posix?.notices;
    this.includes = new IncludeFilter(opts);
  }

  /** The includes that matched no entry of the snapshot (known once run has returned). */
  unmatchedIncludes(): string[] {
    return this.includes.unmatched();
  }

  /** Restores a snapshot's root tree (by id, streamed, or already loaded) into `target`. */
  async run(root: Tree | BlobId, target: string): Promise<void> {
    const notice = this.opts.onNotice;
    this.tree = DirTree.open(target, { ...this.opts.dirHandles, onReplace: (path, message) => notice?.({ path, message }) });
    this.report = new RestoreReport(this.tree, this.opts, this.counters);
    this.meta = new MetadataWriter(this.tree, this.report, this.opts, this.ops, this.notices);
    try {
      this.blockSize = holeBlockSize(this.tree.withDir('', (fd) => fs.fstatSync(fd).blksize));
      // The reader consumes batches while the plan goes on. Whichever fails first stops the other
      // (through `halt`), and its error is the one reported.
      const reading = this.readPacks().catch((err: unknown) => this.fail(err));
      try {
        await this.planTree(typeof root === 'string' ? this.entries(root) : root.nodes, '');
      } catch (err) {
        this.fail(err);
      }
      // Empty files created while planning: their failures are caught into planFailure.
      await Promise.all([...this.creating]);
      if (this.planFailure) this.fail(this.planFailure);
      this.planning = false;
      this.flushBatch();
      await reading;
      if (this.firstFailure !== null) throw this.firstFailure;
      await this.finish();
    } finally {
      // After a failure or an abort, files still open are incomplete (they were created at full
      // size): closed and removed, so none is left looking complete. Nothing writes to them any more.
      for (const job of this.openFiles) {
        if (job.fd !== null) closeQuietly(job.fd);
        job.fd = null;
        try {
          this.tree.unlink(job.dir, job.name);
        } catch {
          // The restore already ends with an error; a resumed restore replaces the file.
        }
      }
      this.openFiles.clear();
      this.tree.close();
    }
  }

  /** Records the first failure (later ones are its consequences) and stops planning and reading. */
  private fail(err: unknown): void {
    this.firstFailure ??= err;
    this.halt.abort();
  }

  /** Hands the batch being planned to the reader. */
  private flushBatch(): void {
    if (this.batch.size > 0) {
      this.batches.push(this.batch);
      this.batch = new Map();
      this.batchBytes = 0;
      this.batchLimit = Math.min(MAX_BATCH_BYTES, 2 * this.batchLimit);
    }
    const wake = this.wakeReader;
    this.wakeReader = null;
    wake?.();
  }

  private wake(): void {
    const wake = this.wakeReader;
    this.wakeReader = null;
    wake?.();
  }

  /** The next batch of the plan, waiting for planning to make one; null once planning is over. */
  private async nextBatch(): Promise<PlanBatch | null> {
    for (;;) {
      const next = this.batches.shift();
      if (next) return next;
      // Ranges still being read may yet plan retries from other locations of their blobs.
      if (!this.planning && this.rangesInFlight === 0) return null;
      this.signal.throwIfAborted();
      await new Promise<void>((resolve) => {
        const onAbort = (): void => resolve();
        this.signal.addEventListener('abort', onAbort, { once: true });
        this.wakeReader = () => {
          this.signal.removeEventListener('abort', onAbort);
          resolve();
        };
      });
    }
  }

  /** Takes a file's share of the plan budget, handing the batch on first when it must wait. */
  private async reservePlan(bytes: number): Promise<void> {
    if (this.planBudget.tryAcquire(bytes)) return;
    // Files complete only once their batch is read: the batch being planned must go first.
    this.flushBatch();
    this.planWaits++;
    await this.planBudget.acquire(bytes, this.signal);
  }

  /**
   * Creates folders, symlinks and empty-but-sized files, and records which blobs each file needs.
   * Subtrees are fetched several at once: on a remote store each fetch waits a round trip, and
   * one folder at a time made the plan of a tree of many folders take minutes.
   */
  private async planTree(entries: AsyncIterable<TreeNode> | Iterable<TreeNode>, rel: string): Promise<void> {
    const subtrees: Promise<void>[] = [];
    let failure: unknown = null;
    for await (const node of entries) {
      if (failure) break;
      this.signal.throwIfAborted();
      const r = rel ? `${rel}/${node.name}` : node.name;
      const scope = this.includes.scope(r);
      if (scope === 'no') continue;
      if (node.type === 'dir') {
        try {
          this.tree.ensureDir(r);
        } catch (err) {
          this.report.refused(r, err, 'folder not restored, nor anything in it', true);
          continue;
        }
        this.dirs.push({ rel: r, depth: depthOf(r), node });
        this.counters.dirs++;
        // The failure is caught as it happens (an unhandled rejection would end the process
        // while this loop still awaits its siblings) and rethrown once every subtree settled.
        const subtree = this.planTree(this.entries(node.subtree!), r);
        subtrees.push(
          subtree.catch((err: unknown) => {
            failure ??= err;
          }),
        );
        continue;
      }
      if (scope === 'partial') continue;
      if (node.type === 'symlink') {
        try {
          this.tree.symlink(rel, node.name, node.linkTarget!);
        } catch (err) {
          this.report.refused(r, err, 'symlink not restored');
          continue;
        }
        this.symlinks.push({ dir: rel, name: node.name, node });
        this.counters.symlinks++;
      } else if (node.type === 'file') {
        const cost = PLAN_BYTES_PER_FILE + PLAN_BYTES_PER_BLOB * (node.content?.length ?? 0);
        await this.reservePlan(cost);
        this.planFile(rel, node, cost);
        // While others wait for room, whatever is planned goes to the reader at once: room comes
        // back only when planned files are restored, and a file left in the batch never would be.
        if (this.batchBytes >= this.batchLimit || this.planBudget.waiting > 0) this.flushBatch();
      } else if (node.type === 'fifo' || node.type === 'chardev' || node.type === 'blockdev') {
        this.meta.restoreSpecial(rel, node);
      } else {
        // Sockets, as restic: a socket is made by the program that listens on it.
        this.opts.onProblem({ path: this.report.display(r), message: `${node.type} entries are not restored` });
      }
    }
    await Promise.all(subtrees);
    if (failure) throw failure;
  }

  private planFile(dir: string, node: TreeNode, planCost: number): void {
    const group = node.links > 1 ? `${node.deviceId}:${node.inode}` : null;
    const first = group ? this.linkGroups.get(group) : undefined;
    if (first) {
      this.planBudget.release(planCost);
      this.hardlinks.push({ dir, name: node.name, first });
      return;
    }
    const job: FileJob = { dir, name: node.name, node, blobs: 0, remaining: 0, damaged: false, failed: false, finished: false, fd: null, linked: group !== null, ino: null, planCost };
    if (group) this.linkGroups.set(group, job);
    this.counters.bytesTotal += node.size ?? 0;
    let offset = 0;
    for (const id of node.content ?? []) {
      let loc = this.index.lookup(id);
      // A pack that already failed: another location straight away, when the index has one.
      if (loc && this.failedPacks.size > 0 && this.failedPacks.has(loc.packId)) loc = this.index.lookupAll?.(id).find((l) => !this.failedPacks.has(l.packId)) ?? loc;
      if (!loc) {
        this.report.damage(job, `blob ${id} is missing from the repository`);
        continue;
      }
      let pack = this.batch.get(loc.packId);
      if (!pack) {
        pack = new Map();
        this.batch.set(loc.packId, pack);
      }
      let planned = pack.get(id);
      if (!planned) {
        planned = { id, offset: loc.offset, length: loc.length, rawLength: loc.rawLength, targets: [] };
        pack.set(id, planned);
        this.batchBytes += loc.rawLength;
      }
      planned.targets.push({ file: job, offset });
      job.blobs++;
      job.remaining++;
      offset += loc.rawLength;
    }
    // Files with data are created when their first blob arrives; the others (empty, or with every
    // blob missing) now.
    if (job.remaining === 0 && !job.damaged && (node.size ?? 0) === 0) {
      // Empty files are most of a folder of a million entries: created, with their metadata, in
      // one go with synchronous calls, as single-blob files are written.
      this.writeWholeFileSync(job, EMPTY, []);
      this.planBudget.release(job.planCost);
      return;
    }
    if (job.remaining === 0) {
      const creating = this.fsLimit.run(() => this.completeFile(job)).catch((err: unknown) => void (this.planFailure ??= err));
      this.creating.add(creating);
      void creating.finally(() => this.creating.delete(creating));
    }
  }

  /** A directory's entries, one chunk at a time; the reads share the restorer's bound on tree reads. */
  private entries(treeId: BlobId): AsyncIterable<TreeNode> {
    return treeEntries(this.repo, this.index, treeId, { run: (load) => this.treeReads.run(load) });
  }

  /** Removes what was written of a file given up on (by name, through its folder's handle). */
  private discard(job: FileJob): void {
    try {
      this.tree.unlink(job.dir, job.name);
    } catch (err) {
      if (!isTargetError(err)) throw err;
      this.opts.onProblem({ path: this.report.display(job.dir, job.name), message: `could not remove the partly written file: ${describeTargetError(err).text}` });
    }
  }

  /** Creates a file at its full size (ranges never written stay holes); null when the target refused it. */
  private createFile(job: FileJob): number | null {
    let fd: number;
    try {
      fd = this.tree.createFile(job.dir, job.name);
    } catch (err) {
      this.report.fileFailed(job, err, 'create');
      job.finished = true;
      return null;
    }
    try {
      if (job.linked) job.ino = fs.fstatSync(fd, { bigint: true }).ino;
      return fd;
    } catch (err) {
      closeQuietly(fd);
      this.discard(job);
      this.report.fileFailed(job, err, 'create');
      job.finished = true;
      return null;
    }
  }

  private async readPacks(): Promise<void> {
    // The ranges in flight get what the plan's share leaves.
    const budget = new ByteBudget('restore', Math.max(this.opts.minRangeBudgetBytes, this.opts.readBudgetBytes - this.planBudget.capacity));
    const maxRange = Math.min(this.opts.maxRangeBytes, Math.floor(budget.capacity / this.opts.rangesPerBudget));
    const limit = new Concurrency(this.opts.readsInFlight);
    const jobs = new Set<Promise<void>>();
    let failure: unknown = null;
    try {
      batches: for (let batch = await this.nextBatch(); batch; batch = await this.nextBatch()) {
        this.batchesRead++;
        for (const [packId, blobs] of batch) {
          for (const range of coalesce([...blobs.values()], maxRange)) {
            // The bytes read and their plaintext (larger than the stored bytes when they were compressed).
            const need = range.end - range.start + range.blobs.reduce((t, b) => t + b.rawLength, 0);
            await budget.acquire(need, this.signal);
            if (failure) {
              budget.release(need);
              break batches;
            }
            this.rangesInFlight++;
            const job = limit
              .run(() => this.restoreRange(packId, range))
              .catch((err: unknown) => {
                failure ??= err;
                // Planning waits for files to complete, which they no longer will.
                this.fail(err);
              })
              .finally(() => {
                budget.release(need);
                noteDropped(need);
                jobs.delete(job);
                // The reader may be waiting for the last ranges (and the retries they plan).
                this.rangesInFlight--;
                this.wake();
              });
            jobs.add(job);
          }
          batch.delete(packId);
        }
      }
    } finally {
      // Ranges in flight settle before the caller goes on (or reports), even after an abort.
      await Promise.all(jobs);
    }
    if (failure) throw failure;
  }

  private async restoreRange(packId: PackId, range: { start: number; end: number; blobs: PlannedBlob[] }): Promise<void> {
    let bytes: Uint8Array;
    try {
      bytes = await this.loadBusy.track(this.repo.backend.load(packName(packId), { offset: range.start, length: range.end - range.start }));
    } catch (err) {
      // A pack that is gone or shorter than the index says is damage to the repository: the
      // files that need it are named (exit 4). Storage that does not answer (after the retries)
      // ends the restore instead (exit 13): running it again may well succeed.
      // Before that, each blob is read from its next indexed copy, if any.
      if (!isNotFound(err) && !isEngineError(err, ErrorCode.INTEGRITY)) throw err;
      const why = `cannot read pack ${packId}: ${err instanceof Error ? err.message : String(err)}`;
      if (!this.failedPacks.has(packId)) {
        this.failedPacks.add(packId);
        if (range.blobs.some((b) => this.nextLocation(b, packId) !== undefined)) this.opts.onRepositoryNotice?.(`${why}; its blobs are read from the other packs that hold them`);
      }
      const retries: PlanBatch = new Map();
      const done = range.blobs.filter((b) => !this.replan(b, packId, why, retries));
      this.queueRetries(retries);
      await this.settle(done);
      return;
    }
    const out = await this.pool.unseal({
      packBytes: bytes,
      blobs: range.blobs.map((b) => ({ offset: b.offset - range.start, length: b.length, rawLength: b.rawLength, id: b.id })),
    });
    const view = new DataView(out);
    const n = view.getUint32(0, true);
    let pos = 4 + 8 * n;
    const writes: Promise<void>[] = [];
    const retries: PlanBatch = new Map();
    const done: PlannedBlob[] = [];
    for (let i = 0; i < n; i++) {
      const status = view.getUint32(4 + 8 * i, true);
      const len = view.getUint32(8 + 8 * i, true);
      const blob = range.blobs[i]!;
      if (status !== UnsealStatus.OK) {
        const why = `blob ${blob.id} in pack ${packId} is damaged (${status === UnsealStatus.AUTH_FAILED ? 'authentication failed' : status === UnsealStatus.ID_MISMATCH ? 'content does not match its id' : 'cannot be decoded'})`;
        if (this.replan(blob, packId, why, retries)) this.opts.onRepositoryNotice?.(`${why}; it is read from another pack that holds it`);
        else done.push(blob);
        continue;
      }
      done.push(blob);
      const plain = new Uint8Array(out, pos, len);
      pos += len;
      // Which parts to write, by alignment on the block size (most blobs have one target).
      const byAlign = new Map<number, Region[]>();
      for (const t of blob.targets) {
        const align = t.offset % this.blockSize;
        let ranges = byAlign.get(align);
        if (ranges === undefined) {
          ranges = wholeData(plain, align, this.blockSize) ? [{ offset: align, length: plain.length }] : nonZeroRanges(plain, align, this.blockSize);
          byAlign.set(align, ranges);
        }
        const at = ranges;
        writes.push(this.writeBusy.run(() => this.writeAt(t, plain, at, t.offset - align)));
      }
    }
    this.queueRetries(retries);
    await Promise.all(writes);
    await this.settle(done);
  }

  /** The next indexed location of a blob, in no pack that failed for it or for everything. */
  private nextLocation(blob: PlannedBlob, failedIn: PackId): BlobLocation | undefined {
    return this.index.lookupAll?.(blob.id).find((l) => l.packId !== failedIn && !this.failedPacks.has(l.packId) && !(blob.tried?.includes(l.packId) ?? false));
  }

  /**
   * Plans a blob that failed in `packId` again, from its next indexed location, for the same
   * files (into `retries`); when no location is left, its files are damaged (exit 4) and false
   * is returned: the blob is then done with.
   */
  private replan(blob: PlannedBlob, packId: PackId, why: string, retries: PlanBatch): boolean {
    const next = this.nextLocation(blob, packId);
    if (next === undefined) {
      const others = blob.tried?.length ?? 0;
      const message = others > 0 ? `${why}; the ${others === 1 ? 'other copy' : `${others} other copies`} of blob ${blob.id} failed too` : `${why}; the damaged range was not written`;
      for (const t of blob.targets) this.report.damage(t.file, message);
      return false;
    }
    let pack = retries.get(next.packId);
    if (!pack) {
      pack = new Map();
      retries.set(next.packId, pack);
    }
    const existing = pack.get(blob.id);
    if (existing) existing.targets.push(...blob.targets);
    else pack.set(blob.id, { id: blob.id, offset: next.offset, length: next.length, rawLength: next.rawLength, targets: blob.targets, tried: [...(blob.tried ?? []), packId] });
    this.counters.blobRetries++;
    return true;
  }

  /** Hands blobs planned again to the reader (ahead of the rest: their files wait for them). */
  private queueRetries(retries: PlanBatch): void {
    if (retries.size === 0) return;
    this.batches.unshift(retries);
    this.wake();
  }

  /**
   * Writes the parts of a blob that are not whole zero blocks (`ranges`: offsets in the blob plus
   * `shift`, so `shift + r.offset` is the file offset) into a file created at its full size: the
   * zero blocks are never written, so they stay holes, at the filesystem's block size.
   */
  private async writeAt(t: Target, data: Uint8Array, ranges: readonly Region[], shift: number): Promise<void> {
    const job = t.file;
    if (job.damaged || job.failed) return;
    if (job.blobs === 1) {
      // Most files of a tree are small: one blob, written with its metadata in one go, with
      // synchronous calls (a handful of microseconds each) instead of six trips through the
      // libuv threadpool, which made restores of many small files slow.
      this.writeWholeFileSync(job, data, ranges);
      return;
    }
    // The file is created (at full size) even when this blob is all zeros: holes stay holes.
    const fd = this.handle(job);
    if (fd === null) return;
    try {
      for (const r of ranges) {
        const from = r.offset + shift - t.offset;
        await writeFully(fd, data.subarray(from, from + r.length), r.offset + shift);
      }
      this.counters.bytesWritten += data.length;
    } catch (err) {
      if (job.failed) return;
      this.report.fileFailed(job, err, 'write');
      // The space it held goes back at once, for the files still to come; the file itself is
      // removed once its last blob has settled (writes in flight still use the descriptor).
      try {
        fs.ftruncateSync(fd, 0);
      } catch {
        // Removed at completion anyway.
      }
    }
  }

  /** A file of one blob (or none): `ranges` are the parts of `data` to write (offsets in the file), the rest stays holes. */
  private writeWholeFileSync(job: FileJob, data: Uint8Array, ranges: readonly Region[]): void {
    const fd = this.createFile(job);
    if (fd === null) return;
    let stage: 'write' | 'metadata' = 'write';
    let failure: unknown = null;
    try {
      let end = 0;
      for (const r of ranges) {
        for (let done = 0; done < r.length; ) done += fs.writeSync(fd, data, r.offset + done, r.length - done, r.offset + done);
        end = r.offset + r.length;
      }
      // Zero blocks at the end were not written: the size makes them holes.
      if (end < data.length) fs.ftruncateSync(fd, data.length);
      stage = 'metadata';
      this.meta.setMeta(fd, job.node, job.dir, () => this.report.display(job.dir, job.name));
    } catch (err) {
      failure = err;
    }
    try {
      fs.closeSync(fd);
    } catch (err) {
      // A network filesystem may report a failed write only at close.
      if (failure === null) {
        failure = err;
        stage = 'write';
      }
    }
    job.finished = true;
    if (failure === null) {
      this.counters.files++;
      this.counters.bytesWritten += data.length;
      return;
    }
    if (stage === 'write') this.discard(job);
    this.report.fileFailed(job, failure, stage);
  }

  /** The descriptor of a file that takes several blobs, created at full size on first use; null when refused. */
  private handle(job: FileJob): number | null {
    if (job.fd !== null) return job.fd;
    if (job.failed) return null;
    const fd = this.createFile(job);
    if (fd === null) return null;
    try {
      // At full size from the start: ranges never written (zero blobs) stay holes.
      fs.ftruncateSync(fd, job.node.size ?? 0);
    } catch (err) {
      closeQuietly(fd);
      this.discard(job);
      this.report.fileFailed(job, err, 'write');
      job.finished = true;
      return null;
    }
    job.fd = fd;
    this.openFiles.add(job);
    return fd;
  }

  /** Counts the blobs of a range as done for each of their files, finishing files that are complete. */
  private async settle(blobs: PlannedBlob[]): Promise<void> {
    const done: Promise<void>[] = [];
    for (const b of blobs) {
      for (const t of b.targets) {
        t.file.remaining--;
        if (t.file.remaining === 0) done.push(this.fsLimit.run(() => this.completeFile(t.file)));
      }
    }
    await Promise.all(done);
  }

  private async completeFile(job: FileJob): Promise<void> {
    try {
      await this.completeFileContents(job);
    } finally {
      this.planBudget.release(job.planCost);
    }
  }

  private async completeFileContents(job: FileJob): Promise<void> {
    if (job.finished) return;
    // A file none of whose blobs was written (empty, or all damaged) is created now, at its size:
    // a damaged file still exists, holding zeros where data was lost, to be named.
    const fd = job.fd ?? (job.failed ? null : this.handle(job));
    job.fd = null;
    this.openFiles.delete(job);
    job.finished = true;
    // Null: the target refused the file, and whatever was created of it is already removed.
    if (fd === null) return;
    let failure: unknown = null;
    let stage: 'write' | 'metadata' = 'metadata';
    if (!job.failed) {
      try {
        this.meta.setMeta(fd, job.node, job.dir, () => this.report.display(job.dir, job.name));
      } catch (err) {
        failure = err;
      }
    }
    try {
      fs.closeSync(fd);
    } catch (err) {
      if (!job.failed) {
        failure = err;
        stage = 'write';
      }
    }
    if (job.failed || stage === 'write') this.discard(job);
    if (failure !== null) this.report.fileFailed(job, failure, stage);
    else if (!job.failed && !job.damaged) this.counters.files++;
  }

  private async finish(): Promise<void> {
    for (const h of this.hardlinks) {
      const rel = joinRel(h.dir, h.name);
      if (h.first.failed) {
        this.counters.notRestored.push(this.report.display(rel));
        this.opts.onProblem({ path: this.report.display(rel), message: `not restored: it is a hardlink of ${this.report.display(h.first.dir, h.first.name)}, which was not restored` });
        continue;
      }
      try {
        this.tree.link(h.first.dir, h.first.name, h.dir, h.name, h.first.ino ?? undefined);
        this.counters.hardlinks++;
      } catch (err) {
        this.report.refused(rel, err, 'hardlink not restored');
      }
    }
    this.meta.finishSymlinks(this.symlinks);
    this.meta.finishDirs(this.dirs);
    if (this.counters.damagedFiles.length > 0) {
      throw new IntegrityError(`${this.counters.damagedFiles.length} file(s) could not be restored intact: ${this.counters.damagedFiles.slice(0, 20).join(', ')}${this.counters.damagedFiles.length > 20 ? ', ...' : ''}`, {
        details: { files: this.counters.damagedFiles },
        hint: 'the named files hold zeros where data was damaged; every other file was restored and verified',
      });
    }
  }
}

/**
 * True when no whole block of `buf` (at file offset `position`, blocks aligned on the file) can be
 * all zeros, because each has a non-zero byte among three sampled: then all of it is written, and
 * no block needs comparing. A few loads per 4 KiB against nonZeroRanges' compare of each block
 * (a millisecond per 8 MiB of data, the main cost of a restore from a local disk otherwise).
 */
export function wholeData(buf: Uint8Array, position: number, blockSize: number): boolean {
  const half = blockSize >> 1;
  for (let i = (blockSize - (position % blockSize)) % blockSize; i + blockSize <= buf.length; i += blockSize) {
    if (buf[i] === 0 && buf[i + half] === 0 && buf[i + blockSize - 1] === 0) return false;
  }
  return true;
}

/**
 * The block size holes are made at: st_blksize of the target (4 KiB on most filesystems; ZFS says
 * its record size), kept to a power of two between 512 B and 1 MiB.
 */
function holeBlockSize(blksize: number): number {
  if (!Number.isInteger(blksize) || blksize < 512 || blksize > 1 << 20 || (blksize & (blksize - 1)) !== 0) return 4096;
  return blksize;
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // Already reported, or nothing more to lose.
  }
}

/** Writes all of `data` at `position` (fs.write may write less than asked). */
function writeFully(fd: number, data: Uint8Array, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (done: number): void => {
      if (done >= data.length) return resolve();
      fs.write(fd, data, done, data.length - done, position + done, (err, n) => (err ? reject(err) : step(done + n)));
    };
    step(0);
  });
}

const EMPTY = new Uint8Array(0);

/** Groups a pack's needed blobs into ranges that are cheaper to read in one request than apart. */
export function coalesce(blobs: PlannedBlob[], maxRange: number): { start: number; end: number; blobs: PlannedBlob[] }[] {
  const sorted = [...blobs].sort((a, b) => a.offset - b.offset);
  const out: { start: number; end: number; blobs: PlannedBlob[] }[] = [];
  for (const b of sorted) {
    const last = out[out.length - 1];
    if (last && b.offset - last.end <= COALESCE_GAP && b.offset + b.length - last.start <= maxRange) {
      last.end = Math.max(last.end, b.offset + b.length);
      last.blobs.push(b);
    } else {
      out.push({ start: b.offset, end: b.offset + b.length, blobs: [b] });
    }
  }
  return out;
}