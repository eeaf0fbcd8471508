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
//
// This file only wires the parts, each in a file of its own: tree-planner.ts walks the snapshot
// and plans files into plan.ts (which blobs of which packs go where, batched for the reader);
// pack-reader.ts reads, verifies and decrypts ranges of packs and retries other copies;
// file-writer.ts writes blobs and holes into files; metadata.ts sets owners, modes, xattrs and
// times; report.ts keeps the count of what was not restored, and why. options.ts (what a caller
// gives and reads back), jobs.ts (the plan's shapes), includes.ts and rel-paths.ts are shared by them.
import { PathSet } from './path-set.js';
import fs from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fsPath } from '../fs/names.js';
import { DirTree } from '../fs/dir-handle.js';
import type { BlobId } from '../format/ids.js';
import type { Tree } from '../format/tree.js';
import { Concurrency } from '../util/concurrency.js';
import { type WorkerPool } from '../worker-pool/pool.js';
import { BusyMeter } from '../util/busy-meter.js';
import type { BlobIndex } from '../repository/blob-index.js';
import type { Repository } from '../repository/repository.js';
import type { IndexedRepository } from '../repository/indexed-repository.js';
import { IntegrityError } from '../errors/engine-error.js';
import { nodeFallbackPosix, type NotKeptNotices, type PosixOps } from '../../native-bindings/posix/index.js';
import { FileWriter, holeBlockSize } from './file-writer.js';
import { IncludeFilter } from './includes.js';
import { MetadataWriter } from './metadata.js';
import type { RestoreCounters, RestoreOptions } from './options.js';
import { PackReader } from './pack-reader.js';
import { RestorePlan } from './plan.js';
import { joinRel } from './rel-paths.js';
import { RestoreReport } from './report.js';
import { TreePlanner } from './tree-planner.js';

export type { OverwriteMode, RestoreCounters, RestoreOptions } from './options.js';
export { wholeData } from './file-writer.js';
export { coalesce } from './pack-reader.js';

export class Restorer {
  private readonly repo: Repository;
  private readonly index: BlobIndex;
  private readonly pool: WorkerPool;
  private readonly opts: RestoreOptions;
  /** Stops planning when reading failed (and reading when planning failed), and on the caller's signal. */
  private readonly halt = new AbortController();
  private firstFailure: unknown = null;
  private readonly signal: AbortSignal;
  private readonly includes: IncludeFilter;
  /** The plan and the reader of the run (set by run). */
  private plan: RestorePlan | null = null;
  private reader: PackReader | null = null;
  /** Time with at least one pack read, and with at least one file write, in flight (for `engine bench`). */
  readonly loadBusy = new BusyMeter(1);
  readonly writeBusy = new BusyMeter(1);
  readonly counters: RestoreCounters = { files: 0, dirs: 0, symlinks: 0, hardlinks: 0, bytesWritten: 0, bytesTotal: 0, filesTotal: 0, damagedFiles: [], notRestored: [], noSpaceEntries: 0, spaceNeededBytes: 0, noSpaceFolders: 0, specials: 0, specialsNotMade: 0, blobRetries: 0, skipped: 0, skippedBytes: 0, deleted: 0 };
  /** Trees fetched at once while planning. */
  private readonly treeReads: Concurrency;
  /** The entries kept as they were by --overwrite (filled only with `rememberSkipped`). */
  readonly skippedPaths = new PathSet();
  private readonly ops: PosixOps;
  private readonly notices: NotKeptNotices | undefined;

  constructor(indexed: IndexedRepository, pool: WorkerPool, opts: RestoreOptions) {
    const { repo, index } = indexed;
    this.repo = repo;
    this.index = index;
    this.pool = pool;
    this.opts = opts;
    this.treeReads = new Concurrency(Math.min(16, repo.readParallelism));
    this.signal = opts.signal ? AbortSignal.any([opts.signal, this.halt.signal]) : this.halt.signal;
    this.ops = opts.posix?.ops ?? nodeFallbackPosix();
    this.notices = opts.posix?.notices;
    this.includes = new IncludeFilter(opts);
  }

  /** Times planning waited for files to be restored, and batches of the plan read (for tests). */
  get planWaits(): number {
    return this.plan?.planWaits ?? 0;
  }

  get batchesRead(): number {
    return this.reader?.batchesRead ?? 0;
  }

  /** The includes that matched no entry of the snapshot (known once run has returned). */
  unmatchedIncludes(): string[] {
    return this.includes.unmatched();
  }

  /** Restores a snapshot's root tree (by id, streamed, or already loaded) into `target`. */
  async run(root: Tree | BlobId, target: string): Promise<void> {
    const notice = this.opts.onNotice;
    const tree = DirTree.open(target, { ...this.opts.dirHandles, onReplace: (path, message) => notice?.({ path, message }) });
    const report = new RestoreReport(tree, this.opts, this.counters);
    const meta = new MetadataWriter(tree, report, this.opts, this.ops, this.notices);
    const plan = new RestorePlan(this.index, report, this.opts.readBudgetBytes, this.signal);
    const writer = new FileWriter(tree, report, meta, this.writeBusy, (job) => plan.budget.release(job.planCost));
    const planner = new TreePlanner({ repo: this.repo, index: this.index, tree, includes: this.includes, overwrite: this.opts.overwrite ?? 'always', skippedPaths: this.opts.rememberSkipped ? this.skippedPaths : null, deleteExtra: this.opts.deleteExtra === true, protectedFolder: (path) => protectedBy(this.opts.protectedFolders ?? [], path), plan, writer, meta, report, treeReads: this.treeReads, signal: this.signal });
    const reader = new PackReader({ repo: this.repo, pool: this.pool, opts: this.opts, plan, writer, loadBusy: this.loadBusy, signal: this.signal, fail: (err) => this.fail(err) });
    this.plan = plan;
    this.reader = reader;
    try {
      writer.blockSize = holeBlockSize(tree.withDir('', (fd) => fs.fstatSync(fd).blksize));
      // The reader consumes batches while the plan goes on. Whichever fails first stops the other
      // (through `halt`), and its error is the one reported.
      const reading = reader.readPacks().catch((err: unknown) => this.fail(err));
      try {
        await planner.planTree(typeof root === 'string' ? planner.entries(root) : root.nodes, '');
      } catch (err) {
        this.fail(err);
      }
      // Empty files created while planning: their failures are caught into planFailure.
      await Promise.all([...planner.creating]);
      if (planner.planFailure) this.fail(planner.planFailure);
      plan.end();
      await reading;
      if (this.firstFailure !== null) throw this.firstFailure;
      await this.finish(tree, report, meta, planner);
    } finally {
      // After a failure or an abort, files still open are incomplete: closed and removed, once
      // no creation is in flight that could still add one.
      await writer.quiesce();
      writer.abandonOpenFiles();
      tree.close();
    }
  }

  /** Records the first failure (later ones are its consequences) and stops planning and reading. */
  private fail(err: unknown): void {
    this.firstFailure ??= err;
    this.halt.abort();
  }

  /**
   * Once every file is written: hardlinks to the files restored (a file not restored leaves its
   * hardlinks out too), then the metadata of symlinks and folders; ends with exit 4 when files are damaged.
   */
  private async finish(tree: DirTree, report: RestoreReport, meta: MetadataWriter, planner: TreePlanner): Promise<void> {
    for (const h of planner.hardlinks) {
      const rel = joinRel(h.dir, h.name);
      if (h.first.failed) {
        this.counters.notRestored.push(report.display(rel));
        report.problem({ path: report.display(rel), message: `not restored: it is a hardlink of ${report.display(h.first.dir, h.first.name)}, which was not restored` });
        continue;
      }
      try {
        tree.link(h.first.dir, h.first.name, h.dir, h.name, h.first.ino ?? undefined);
        this.counters.hardlinks++;
      } catch (err) {
        report.refused(rel, err, 'hardlink not restored');
      }
    }
    meta.finishSymlinks(planner.symlinks);
    meta.finishDirs(planner.dirs);
    if (this.counters.damagedFiles.length > 0) {
      throw new IntegrityError(`${this.counters.damagedFiles.length} file(s) could not be restored intact: ${this.counters.damagedFiles.slice(0, 20).join(', ')}${this.counters.damagedFiles.length > 20 ? ', ...' : ''}`, {
        details: { files: this.counters.damagedFiles },
        hint: 'the named files hold zeros where data was damaged; every other file was restored and verified',
      });
    }
  }
}

/**
 * Why `path` (an entry of the target, not followed) must not be removed: it is, or holds, one of
 * the protected folders (compared by real path: the target may be reached through a link).
 */
function protectedBy(folders: readonly { readonly path: string; readonly why: string }[], path: string): string | null {
  if (folders.length === 0) return null;
  let candidate: string;
  try {
    candidate = join(fs.realpathSync(fsPath(dirname(path))).toString(), basename(path));
  } catch {
    return null;
  }
  for (const f of folders) if (f.path === candidate || f.path.startsWith(`${candidate}/`)) return f.why;
  return null;
}
