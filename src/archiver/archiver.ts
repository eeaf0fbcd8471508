// Backup: walk → read → chunk + hash (pool) → dedup → compress + encrypt + verify (pool) → pack →
// store, then trees bottom-up and the snapshot. Every stage is bounded in bytes (pipeline/budget.ts):
// segments hold the read budget from the read until their new chunks are sealed; sealed blobs hold
// the sealed budget until their pack is durably stored.
import { promises as fsp, type BigIntStats } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { AbortedError, EngineError, ErrorCode } from '../errors/engine-error.js';
import { envelopeOverhead, seal as sealEnvelope } from '../crypto/envelope.js';
import { type BlobId, BlobType } from '../format/ids.js';
import { compareNames, type NodeType, type Tree, type TreeNode, type Xattr } from '../format/tree.js';
import { baseNode, nodeType, unchangedSince } from '../fs/node-meta.js';
import { decodeName, displayName, fsPath } from '../fs/names.js';
import { HoleSkippingReader, looksSparse } from '../fs/sparse.js';
import { capturePathXattrs } from '../fs/xattrs.js';
import type { NotKeptNotices, PosixOps } from '../../native-bindings/posix/index.js';
import { ByteBudget, Concurrency } from '../pipeline/budget.js';
import { SegmentPool } from '../pipeline/segment-pool.js';
import type { Plan } from '../pipeline/planner.js';
import { BusyMeter, type WorkerPool } from '../pipeline/pool.js';
import type { BlobUploader } from '../repository/blob-uploader.js';
import type { BlobIndex } from '../repository/blob-index.js';
import type { Repository } from '../repository/repository.js';
import { chunkedTreeGuard, treeEntries, TreeWriter, type TreeStore } from '../repository/tree-stream.js';
import { toHex } from '../util/hex.js';
import { OrderedSink } from './ordered-sink.js';
import { sortedNames } from './sorted-names.js';
import type { Span, SpanChunks } from '../../workers/protocol.js';

import type { BackupCounters } from './counters.js';
import type { ArchiverOptions, ExcludedFolder, SourceProblem } from './options.js';
import { ParentCursor } from './parent-cursor.js';

export { snapshotSummary, type BackupCounters } from './counters.js';
export type { ArchiverOptions, ExcludedFolder, SourceProblem } from './options.js';

/** Files at most this big are one chunk (FastCDC never cuts below the minimum): batched per task. */
interface SmallFile {
  readonly path: string;
  readonly size: number;
  /** null: the file could not be read (reported). */
  readonly resolve: (r: { ids: BlobId[]; size: number } | null) => void;
  readonly reject: (err: unknown) => void;
}

const SMALL_BATCH_FILES = 128;
/** Entries of one directory started and not yet written to its tree: the walk of it waits beyond. */
const PENDING_PER_DIR = 2048;
/** Names lstat-ed at once (the libuv threadpool runs four at a time; more only queue). */
const LSTAT_BATCH = 128;
const SMALL_BATCH_BYTES = 2 * 1024 * 1024;

export class Archiver {
  private readonly repo: Repository;
  private readonly index: BlobIndex;
  private readonly pool: WorkerPool;
  private readonly uploader: BlobUploader;
  private readonly plan: Plan;
  private readonly signal: AbortSignal | undefined;
  private readonly onProblem: (p: SourceProblem) => void;
  private readonly beforeOpen: (path: string) => Promise<void>;
  private readonly afterRead: () => Promise<void>;
  private readonly onInconsistent: (p: SourceProblem) => void;
  private readonly onNotice: (text: string) => void;
  private readonly onMetaProblem: (p: SourceProblem) => void;
  private readonly posix: { readonly ops: PosixOps; readonly notices: NotKeptNotices } | undefined;
  private readonly withAtime: boolean;
  private readonly exclude: readonly ExcludedFolder[];
  /** Segment buffers: the bound of the read stage. */
  readonly segments: SegmentPool;
  readonly sealedBudget: ByteBudget;
  private readonly fileLimit: Concurrency;
  /** Files started and not yet stored: how far the walk may run ahead of the pipeline. */
  private readonly walkSlots = new ByteBudget('walk', 1024);
  /** Where trees go; the first chunked directory raises the repository to format version 3. */
  private readonly treeStore: TreeStore;
  private readonly overhead: number;
  private readonly room: number;
  private small: SmallFile[] = [];
  private smallBytes = 0;
  private readonly background: Promise<void>[] = [];
  private failure: unknown = null;
  /** Time with at least one file read in flight (for `engine bench`). */
  readonly readBusy = new BusyMeter(1);
  readonly counters: BackupCounters = { filesNew: 0, filesChanged: 0, filesUnmodified: 0, dirs: 0, filesRead: 0, bytesRead: 0, totalBytes: 0, filesDone: 0, bytesDone: 0, filesReadAgain: 0, filesChangedWhileRead: 0, holeBytesSkipped: 0, entriesXattrsNotRead: 0 };

  constructor(repo: Repository, index: BlobIndex, pool: WorkerPool, uploader: BlobUploader, sealedBudget: ByteBudget, opts: ArchiverOptions) {
    this.repo = repo;
    this.index = index;
    this.pool = pool;
    this.uploader = uploader;
    this.plan = opts.plan;
    this.signal = opts.signal;
    this.onProblem = opts.onProblem;
    this.beforeOpen = opts.beforeOpen ?? (async () => undefined);
    this.afterRead = opts.afterRead ?? (async () => undefined);
    this.onInconsistent = opts.onInconsistent ?? opts.onProblem;
    this.onNotice = opts.onNotice ?? (() => undefined);
    this.onMetaProblem = opts.onMetaProblem ?? this.onInconsistent;
    this.posix = opts.posix;
    this.withAtime = opts.withAtime ?? false;
    this.exclude = opts.exclude ?? [];
    // Room in front of the fresh data for the tail carried over from the previous segment.
    this.room = repo.config.chunker.maxSize;
    const segmentCapacity = this.room + opts.plan.segmentBytes;
    this.segments = new SegmentPool(Math.max(2, Math.floor(opts.plan.readBytes / segmentCapacity)), segmentCapacity);
    this.sealedBudget = sealedBudget;
    this.fileLimit = new Concurrency(opts.plan.fileConcurrency);
    this.overhead = envelopeOverhead(repo.suite);
    this.treeStore = { save: (bytes) => this.saveTreeBlob(bytes), beforeChunked: chunkedTreeGuard(repo) };
  }

  /** Backs up the given paths; returns the root tree id. Problems with single files are reported, not thrown. */
  async run(paths: string[], parentRoot: Tree | null): Promise<BlobId> {
    const nodes: TreeNode[] = [];
    const pending: Promise<TreeNode | null>[] = [];
    const seen = new Set<string>();
    for (const p of paths) {
      const abs = resolve(p);
      const name = basename(abs) || 'root';
      if (seen.has(name)) throw new EngineError(ErrorCode.USAGE, `two backup paths share the name "${name}"`, { hint: 'back them up in separate snapshots or back up their common parent' });
      seen.add(name);
      const parentNode = parentRoot?.nodes.find((n) => n.name === name);
      let st: BigIntStats;
      try {
        st = await fsp.lstat(abs, { bigint: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
          throw new EngineError(ErrorCode.USAGE, `backup path ${abs} does not exist`, { hint: 'check the paths given to `engine backup`' });
        }
        throw new EngineError(ErrorCode.USAGE, `cannot read backup path ${abs}: ${(err as Error).message}`, { hint: 'check the paths given to `engine backup` and their permissions' });
      }
      if (st.isDirectory() && this.excluded(abs, st)) continue;
      const xattrs = this.readXattrs(abs);
      pending.push(st.isDirectory() ? (await this.walkDir(abs, name, parentNode, st, xattrs)).done : this.saveEntry(abs, name, parentNode, st, xattrs));
    }
    // The walk is over: whatever small files wait in the batch can go.
    this.flushSmall();
    for (const n of await Promise.all(pending)) if (n) nodes.push(n);
    this.check();
    await this.afterRead();
    this.check();
    nodes.sort((a, b) => compareNames(a.name, b.name));
    const writer = new TreeWriter(this.treeStore);
    for (const n of nodes) await writer.add(n);
    const root = await writer.finish();
    await this.drain();
    this.check();
    return root;
  }

  /** Throws once the backup is interrupted (every await of the backup comes back through here). */
  private check(): void {
    if (this.signal?.aborted) throw new AbortedError('backup interrupted: no snapshot saved');
    if (this.failure) throw this.failure;
  }

  /** A folder that must not be backed up (the repository itself, its cache): told once, then skipped. */
  private excluded(path: string, st: BigIntStats): boolean {
    const hit = this.exclude.find((e) => e.dev === st.dev && e.ino === st.ino);
    if (!hit) return false;
    this.onNotice(`${path}: skipped, it is ${hit.why}`);
    return true;
  }

  /**
   * Whether every blob a parent entry lists is stored or on its way in this run. A blob of a pack
   * that was lost is not in the index once `repair index` ran: taking the entry as it was would
   * make a snapshot that cannot be restored (issue 12, point 4). The index answers from its
   * filter and one cached page per blob, far less than reading the file.
   */
  private allStored(ids: readonly BlobId[]): boolean {
    for (const id of ids) if (!this.uploader.has(id)) return false;
    return true;
  }

  private problem(path: string, err: unknown): void {
    const e = err as NodeJS.ErrnoException | null;
    // Node's message repeats the path, decoded with U+FFFD and with any newline raw: the path is
    // reported (escaped) by the caller, so an errno error says only what failed.
    const message = e?.code === 'ENOENT' ? 'vanished during backup' : e?.code && e.syscall ? `${e.message.split(',')[0]} (${e.syscall})` : err instanceof Error ? err.message : String(err);
    this.onProblem({ path, message });
  }

  /**
   * The extended attributes (POSIX ACLs included) of the entry at `path`, right after its lstat:
   * one llistxattr (a single system call, synchronous: no round trip through the threadpool for a
   * call that takes microseconds), plus one lgetxattr per attribute. Never follows a symlink.
   * Always the current ones, also for a file whose content comes from the parent snapshot: a
   * change of xattrs changes ctime, so such a file is read again anyway, and a parent node is
   * never the source of metadata. An attribute that cannot be read is a warning naming the entry
   * (the entry is stored without it); a platform without the calls is noted once (NotKeptNotices).
   */
  private readXattrs(path: string): Xattr[] | undefined {
    if (!this.posix) return undefined;
    const { ops, notices } = this.posix;
    try {
      const got = capturePathXattrs(ops, fsPath(path), notices);
      if (got.failures.length > 0) {
        this.counters.entriesXattrsNotRead++;
        const which = got.failures.map((f) => `${displayName(f.name)} (${f.code})`).join(', ');
        this.onMetaProblem({ path, message: `extended attribute(s) not kept, they could not be read: ${which}` });
      }
      return got.xattrs;
    } catch (err) {
      // Gone since its lstat: reading it reports that (or, for a FIFO or device node, it is stored as lstat saw it).
      if ((err as { code?: unknown }).code === 'ENOENT') return undefined;
      this.counters.entriesXattrsNotRead++;
      const code = (err as { code?: unknown }).code;
      this.onMetaProblem({ path, message: `extended attributes not kept, they could not be listed (${typeof code === 'string' ? code : err instanceof Error ? err.message : String(err)})` });
      return undefined;
    }
  }

  /** An entry's node: what lstat says, its xattrs, and its atime when asked for. */
  private entryNode(name: string, type: NodeType, st: BigIntStats, xattrs: Xattr[] | undefined): TreeNode {
    const node = baseNode(name, type, st);
    if (this.withAtime) node.atimeNs = st.atimeNs.toString();
    if (xattrs !== undefined) node.xattrs = xattrs;
    return node;
  }

  /**
   * Returns the node for one entry that is not a directory, or null when it cannot be read
   * (reported). A small file reaches the small-file batch synchronously, before this function
   * first awaits.
   */
  private async saveEntry(path: string, name: string, parent: TreeNode | undefined, st: BigIntStats, xattrs: Xattr[] | undefined): Promise<TreeNode | null> {
    const type = nodeType(st);
    if (!type) return null;
    const node = this.entryNode(name, type, st, xattrs);
    if (type === 'symlink') {
      try {
        node.linkTarget = decodeName(await fsp.readlink(fsPath(path), { encoding: 'buffer' }));
      } catch (err) {
        this.problem(path, err);
        return null;
      }
      return node;
    }
    if (type !== 'file') return node;
    const size = Number(st.size);
    this.counters.totalBytes += size;
    const unchanged = unchangedSince(parent, st);
    if (unchanged && this.allStored(parent.content)) {
      node.size = size;
      node.content = parent.content;
      this.counters.filesUnmodified++;
      this.counters.filesDone++;
      this.counters.bytesDone += size;
      return node;
    }
    if (unchanged) {
      // Unchanged, but some of its data is no longer in the repository: read again (counted as
      // unmodified, which it is, and as read, which it is; the summary names how many).
      this.counters.filesUnmodified++;
      this.counters.filesReadAgain++;
    } else if (parent?.type === 'file') this.counters.filesChanged++;
    else this.counters.filesNew++;
    if (size === 0) {
      // Nothing to read: an empty file has no chunks, exactly what reading it would store (a file
      // that grew since its lstat is stored as first seen, as a read would store it too).
      this.counters.filesRead++;
      this.counters.filesDone++;
      node.size = 0;
      node.content = [];
      return node;
    }
    const result = await this.saveFileContents(path, size);
    if (!result) return null;
    node.size = result.size;
    node.content = result.ids;
    return node;
  }

  /**
   * Walks one directory: lists its names (sorted in bounded memory), lstats them in batches,
   * merge-joins them with the parent snapshot's entries (streamed), starts saving each entry and
   * walks each subdirectory in turn, without waiting for any file to be stored. Returns once the
   * walk is done, with the promise of the directory's node (wrapped, so that awaiting the walk does
   * not await it), which resolves when everything below is stored and the tree is saved. The
   * entries go to the tree writer in name order as they complete, and the walk of the directory
   * stops while PENDING_PER_DIR of them are not complete: nothing holds the whole directory. So the
   * pool stays fed across directory boundaries; `walkSlots` bounds how far the walk runs ahead of
   * the storing.
   */
  private async walkDir(path: string, name: string, parent: TreeNode | undefined, st: BigIntStats, xattrs: Xattr[] | undefined): Promise<{ done: Promise<TreeNode | null> }> {
    this.check();
    const names = sortedNames(path)[Symbol.asyncIterator]();
    let next: IteratorResult<string>;
    try {
      next = await names.next();
    } catch (err) {
      this.problem(path, err);
      return { done: Promise.resolve(null) };
    }
    this.counters.dirs++;
    const parentTreeId = parent?.type === 'dir' ? parent.subtree : undefined;
    // A parent tree not in the index (lost, and dropped by `repair index`) is no parent: every
    // entry below is read again. One whose chunks cannot be read likewise, from that point on.
    const parentEntries = new ParentCursor(parentTreeId && this.index.has(parentTreeId) ? treeEntries(this.repo, this.index, parentTreeId) : null, (err) =>
      this.onNotice(`${path}: the parent snapshot's listing cannot be read (${err instanceof Error ? err.message : String(err)}): its files are read again`),
    );
    const sink = new OrderedSink(new TreeWriter(this.treeStore), PENDING_PER_DIR, () => this.flushSmall(), () => this.check());
    try {
      while (!next.done) {
        const batch: string[] = [];
        for (; !next.done && batch.length < LSTAT_BATCH; next = await names.next()) batch.push(next.value);
        const stats = await Promise.all(batch.map((n) => fsp.lstat(fsPath(join(path, n)), { bigint: true }).catch((err: Error) => err)));
        // Each entry's xattrs right after the batch's lstat, before any subfolder of the batch is
        // walked: what lstat and listxattr say stays close in time.
        const xattrs = stats.map((childSt, i) => (childSt instanceof Error ? undefined : this.readXattrs(join(path, batch[i]!))));
        for (const [i, entryName] of batch.entries()) {
          this.check();
          const full = join(path, entryName);
          const childParent = await parentEntries.find(entryName);
          const childSt = stats[i]!;
          if (childSt instanceof Error) {
            this.problem(full, childSt);
            continue;
          }
          if (childSt.isDirectory()) {
            if (this.excluded(full, childSt)) continue;
            await sink.push((await this.walkDir(full, entryName, childParent, childSt, xattrs[i])).done);
            continue;
          }
          if (!this.walkSlots.tryAcquire(1)) {
            // Files waiting in the batch hold slots too: send them on before waiting for one.
            this.flushSmall();
            await this.walkSlots.acquire(1, this.signal);
          }
          await sink.push(this.saveEntry(full, entryName, childParent, childSt, xattrs[i]).finally(() => this.walkSlots.release(1)));
        }
      }
    } finally {
      // The listing's temporary runs are removed even when the walk stops early.
      await names.return(undefined);
      await parentEntries.close();
    }
    const done = sink.finish().then((id) => {
      const node = this.entryNode(name, 'dir', st, xattrs);
      node.subtree = id;
      return node;
    });
    done.catch(() => undefined);
    return { done };
  }

  /** Stores a tree blob (a directory, a chunk of one, or a chunk list) unless it is stored or claimed; returns its id. */
  private async saveTreeBlob(bytes: Uint8Array): Promise<BlobId> {
    this.check();
    const { p, keys } = this.repo;
    const id = toHex(p.blake3.keyedHash(keys.blobId, bytes)) as BlobId;
    if (!this.uploader.claim(id)) return id;
    const sealed = sealEnvelope(p, keys, bytes, { suite: this.repo.suite, zstdLevel: this.repo.config.compression.level });
    if (!this.sealedBudget.tryAcquire(sealed.length)) {
      // Small files waiting in the batch may be what the open packs need to fill up and free room.
      this.flushSmall();
      await this.sealedBudget.acquire(sealed.length, this.signal);
    }
    this.check();
    await this.uploader.add(BlobType.TREE, id, sealed, bytes.length, sealed.length);
    return id;
  }

  private async saveFileContents(path: string, size: number): Promise<{ ids: BlobId[]; size: number } | null> {
    if (size <= this.repo.config.chunker.minSize) {
      return new Promise((resolve, reject) => {
        this.small.push({ path, size, resolve, reject });
        this.smallBytes += size;
        if (this.small.length >= SMALL_BATCH_FILES || this.smallBytes >= SMALL_BATCH_BYTES) this.flushSmall();
      });
    }
    return this.fileLimit.run(() => this.saveLargeFile(path));
  }

  private flushSmall(): void {
    if (this.small.length === 0) return;
    const batch = this.small;
    this.small = [];
    this.smallBytes = 0;
    const run = this.fileLimit.run(() => this.saveSmallBatch(batch));
    // A failed batch fails its files too, so no directory waits forever on them.
    this.track(run.catch((err: unknown) => {
      for (const f of batch) f.reject(err);
      throw err;
    }));
  }

  private track(p: Promise<void>): void {
    const t = p.catch((err: unknown) => {
      this.failure ??= err;
    });
    this.background.push(t);
  }

  private async saveSmallBatch(batch: SmallFile[]): Promise<void> {
    // Each file gets one byte more than its size, to detect a file that grew since lstat. A batch
    // is at most 2 MiB and 128 files, far below a segment's capacity.
    const segment = await this.segments.acquire(this.signal);
    try {
      const spans: Span[] = [];
      const read: (SmallFile & { start: number; end: number })[] = [];
      let pos = 0;
      await Promise.all(
        batch.map(async (f) => {
          const start = pos;
          pos += f.size + 1;
          try {
            await this.beforeOpen(f.path);
            const got = await this.readBusy.track(readInto(f.path, segment, start, f.size + 1));
            if (got > f.size) {
              // It grew since its lstat. Cutting it at the old size would store a state the file
              // never had as a whole (and calling it "left out" would be false): read it again,
              // whole, on the path of large files, which reads to the end whatever the size and
              // tells whether that read saw one consistent state (saveLargeFile). Not awaited
              // here: that read takes a file slot of its own, and this batch holds one.
              const again = this.fileLimit.run(() => this.saveLargeFile(f.path, f.size));
              again.then(f.resolve, f.reject);
              return;
            }
            read.push({ ...f, start, end: start + got });
          } catch (err) {
            this.problem(f.path, err);
            f.resolve(null);
          }
        }),
      );
      read.sort((a, b) => a.start - b.start);
      for (const f of read) spans.push({ start: f.start, end: f.end, final: true });
      const out = await this.pool.chunkHash({ segment, spans });
      const ranges: number[] = [];
      const ids: Uint8Array[] = [];
      read.forEach((f, i) => {
        const fileIds: BlobId[] = [];
        this.claimChunks(out.spans[i]!, f.start, fileIds, ranges, ids);
        this.counters.filesRead++;
        this.counters.bytesRead += f.end - f.start;
        this.counters.filesDone++;
        this.counters.bytesDone += f.end - f.start;
        f.resolve({ ids: fileIds, size: f.end - f.start });
      });
      await this.sealNew(segment, ranges, ids);
    } finally {
      this.segments.release(segment);
    }
  }

  /**
   * Reads a file to its end, whatever its size, and stores it. `grewFrom`: the size at which a
   * small file was first read and found to have grown (it is told as a notice once stored whole).
   *
   * A file that changes while it is read (its size or mtime at the end of the read differ from
   * those at its open, or the bytes read differ from its size) is stored as read, and reported as
   * such (onInconsistent: a warning and exit 3, never "left out"), since the stored content may
   * mix two states of the file. restic likewise stores what it read; engine also says so.
   */
  private async saveLargeFile(path: string, grewFrom?: number): Promise<{ ids: BlobId[]; size: number } | null> {
    let fh: fsp.FileHandle;
    let before: BigIntStats;
    try {
      await this.beforeOpen(path);
      fh = await fsp.open(fsPath(path), 'r');
    } catch (err) {
      this.problem(path, err);
      return null;
    }
    try {
      before = await fh.stat({ bigint: true });
    } catch (err) {
      await fh.close().catch(() => undefined);
      this.problem(path, err);
      return null;
    }
    const ids: BlobId[] = [];
    // The tail of the previous segment: already copied in front of the next segment's fresh data
    // (carryLen bytes), or, when that segment was not read yet, kept aside until it is (pendingCarry).
    let carryLen = 0;
    let pendingCarry: Uint8Array | null = null;
    let size = 0;
    const seals: Promise<void>[] = [];
    const want = this.plan.segmentBytes;
    // Fresh data is read behind room for the tail carried over from the previous segment (always
    // shorter than the largest chunk), so the next read can start before this segment's tail is known.
    const room = this.room;
    // A file with fewer blocks allocated than its size has holes: they are found with
    // SEEK_DATA/SEEK_HOLE and given to the chunker as zeros without being read (a 3 GiB file with
    // 1 MiB of data reads 1 MiB). Same bytes, so the same blob ids as a plain read. Reads are
    // sequential (one in flight, positions only growing), as the reader requires.
    const holes = this.posix && looksSparse(before) ? new HoleSkippingReader(this.posix.ops, fh.fd, Number(before.size), this.posix.notices) : null;
    let position = 0;
    const readSegment = async (segment: Uint8Array): Promise<number> => {
      if (!holes) return readFull(fh, segment, room, want);
      const skipped = holes.holeBytes;
      const n = await holes.readAt(segment.subarray(room), want, position);
      position += n;
      this.counters.holeBytesSkipped += holes.holeBytes - skipped;
      return n;
    };
    const readAhead = async (): Promise<{ segment: Uint8Array; n: number }> => {
      const segment = await this.segments.acquire(this.signal);
      try {
        return { segment, n: await this.readBusy.track(readSegment(segment)) };
      } catch (err) {
        this.segments.release(segment);
        throw err;
      }
    };
    let nextReady: { segment: Uint8Array; n: number } | null = null;
    const startRead = (): Promise<{ segment: Uint8Array; n: number }> => {
      nextReady = null;
      const p = readAhead();
      p.then((r) => (nextReady = r), () => undefined);
      return p;
    };
    let next: Promise<{ segment: Uint8Array; n: number }> | null = startRead();
    try {
      for (;;) {
        this.check();
        let got: { segment: Uint8Array; n: number };
        try {
          got = await next!;
        } catch (err) {
          next = null;
          this.problem(path, err);
          await Promise.allSettled(seals);
          return null;
        }
        const { n, segment } = got;
        if (pendingCarry) {
          segment.set(pendingCarry, room - pendingCarry.length);
          carryLen = pendingCarry.length;
          pendingCarry = null;
        }
        const final = n < want;
        nextReady = null;
        next = final ? null : startRead();
        let released = false;
        const release = (): void => {
          if (!released) this.segments.release(segment);
          released = true;
        };
        try {
          size += n;
          this.counters.bytesRead += n;
          this.counters.bytesDone += n;
          const start = room - carryLen;
          const end = room + n;
          const out = await this.pool.chunkHash({ segment, spans: [{ start, end, final }] });
          const s = out.spans[0]!;
          const ranges: number[] = [];
          const newIds: Uint8Array[] = [];
          this.claimChunks(s, start, ids, ranges, newIds);
          if (!final) {
            // The tail must leave this segment before the segment goes to the sealer.
            const tail = segment.subarray(s.tailStart, end);
            const ahead = nextReady as { segment: Uint8Array; n: number } | null;
            if (ahead) {
              ahead.segment.set(tail, room - tail.length);
              carryLen = tail.length;
            } else {
              pendingCarry = tail.slice();
            }
          }
          // Sealing runs on while the next segment is chunked; the segment's lease goes with it.
          const sealing = this.sealNew(segment, ranges, newIds).finally(release);
          sealing.catch(() => undefined);
          seals.push(sealing);
          if (final) break;
        } catch (err) {
          release();
          throw err;
        }
      }
      // Read to the end: did the file stay as it was at the open all along?
      const after = await fh.stat({ bigint: true }).catch(() => null);
      await Promise.all(seals);
      if (!after || after.size !== before.size || after.mtimeNs !== before.mtimeNs || BigInt(size) !== after.size) {
        this.counters.filesChangedWhileRead++;
        this.onInconsistent({ path, message: `changed while being read; stored as read (${size} bytes), which may not be one consistent state of the file` });
      } else if (grewFrom !== undefined) {
        this.onNotice(`${path}: grew from ${grewFrom} to ${size} bytes while backed up; read again and stored whole`);
      }
    } finally {
      // A read still running (after an error) must end before the file is closed.
      if (next) await next.then((r) => this.segments.release(r.segment), () => undefined);
      await fh.close().catch(() => undefined);
    }
    this.counters.filesRead++;
    this.counters.filesDone++;
    return { ids, size };
  }

  /**
   * Records the ids of a span's chunks in file order (`fileIds`) and, for each chunk no one stored
   * or claimed yet, claims it and adds its range and id to what will be sealed: deduplication.
   */
  private claimChunks(span: SpanChunks, start: number, fileIds: BlobId[], ranges: number[], newIds: Uint8Array[]): void {
    let prev = start;
    span.ends.forEach((end, k) => {
      const idBytes = span.ids.subarray(32 * k, 32 * k + 32);
      const id = toHex(idBytes) as BlobId;
      fileIds.push(id);
      if (this.uploader.claim(id)) {
        ranges.push(prev, end - prev);
        newIds.push(idBytes);
      }
      prev = end;
    });
  }

  /** Compresses, encrypts and verifies the claimed chunks of a segment on the pool, then packs them. */
  private async sealNew(segment: Uint8Array, ranges: number[], ids: Uint8Array[]): Promise<void> {
    if (ranges.length === 0) return;
    this.check();
    let estimate = 0;
    for (let i = 1; i < ranges.length; i += 2) estimate += ranges[i]! + this.overhead;
    await this.sealedBudget.acquire(estimate, this.signal);
    const idBytes = new Uint8Array(32 * ids.length);
    ids.forEach((id, i) => idBytes.set(id, 32 * i));
    let out: ArrayBuffer;
    try {
      out = await this.pool.seal({ segment, ranges: Uint32Array.from(ranges), ids: idBytes });
    } catch (err) {
      this.sealedBudget.release(estimate);
      throw err;
    }
    const view = new DataView(out);
    const count = view.getUint32(0, true);
    let pos = 4 + 4 * count;
    let used = 0;
    const blobs: { id: BlobId; sealed: Uint8Array; raw: number }[] = [];
    for (let i = 0; i < count; i++) {
      const len = view.getUint32(4 + 4 * i, true);
      blobs.push({ id: toHex(ids[i]!) as BlobId, sealed: new Uint8Array(out, pos, len), raw: ranges[2 * i + 1]! });
      pos += len;
      used += len;
    }
    // Compression made the blobs smaller than the lease taken for them: give the rest back now.
    this.sealedBudget.release(estimate - used);
    this.check();
    for (const b of blobs) await this.uploader.add(BlobType.DATA, b.id, b.sealed, b.raw, b.sealed.length);
  }

  private async drain(): Promise<void> {
    while (this.background.length > 0) {
      this.check();
      await Promise.all(this.background.splice(0));
    }
    if (this.failure) throw this.failure;
  }
}

async function readFull(fh: fsp.FileHandle, buf: Uint8Array, offset: number, length: number): Promise<number> {
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, offset + got, length - got, null);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

async function readInto(path: string, buf: Uint8Array, offset: number, length: number): Promise<number> {
  const fh = await fsp.open(fsPath(path), 'r');
  try {
    return await readFull(fh, buf, offset, length);
  } finally {
    await fh.close();
  }
}
