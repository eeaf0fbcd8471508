// Backup: walk → read → chunk + hash (pool) → dedup → compress + encrypt + verify (pool) → pack →
// store, then trees bottom-up and the snapshot. Every stage is bounded in bytes (pipeline/budget.ts):
// segments hold the read budget from the read until their new chunks are sealed; sealed blobs hold
// the sealed budget until their pack is durably stored.
import { promises as fsp, type BigIntStats } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { EngineError, ErrorCode } from '../errors/engine-error.js';
import { envelopeOverhead } from '../crypto/envelope.js';
import type { BlobId } from '../format/ids.js';
import { compareNames, type NodeType, type Tree, type TreeNode, type Xattr } from '../format/tree.js';
import { baseNode, nodeType, unchangedSince } from '../fs/node-meta.js';
import { decodeName, displayName, fsPath } from '../fs/names.js';
import { capturePathXattrs } from '../fs/xattrs.js';
import { ByteBudget } from '../pipeline/budget.js';
import type { SegmentPool } from '../pipeline/segment-pool.js';
import type { BusyMeter, WorkerPool } from '../pipeline/pool.js';
import type { BlobUploader } from '../repository/blob-uploader.js';
import type { BlobIndex } from '../repository/blob-index.js';
import type { Repository } from '../repository/repository.js';
import { treeEntries } from '../repository/tree-stream.js';
import { BlobSealer } from './blob-sealer.js';
import type { BackupCounters } from './counters.js';
import { FileSaver } from './file-saver.js';
import type { ArchiverOptions, ExcludedFolder, PosixAccess } from './options.js';
import { OrderedSink } from './ordered-sink.js';
import { ParentCursor } from './parent-cursor.js';
import { RunState } from './run-state.js';
import { sortedNames } from './sorted-names.js';
import { TreeSaver } from './tree-saver.js';

export { snapshotSummary, type BackupCounters } from './counters.js';
export type { ArchiverOptions, ExcludedFolder, SourceProblem } from './options.js';

/** Entries of one directory started and not yet written to its tree: the walk of it waits beyond. */
const PENDING_PER_DIR = 2048;
/** Names lstat-ed at once (the libuv threadpool runs four at a time; more only queue). */
const LSTAT_BATCH = 128;

export class Archiver {
  private readonly repo: Repository;
  private readonly index: BlobIndex;
  private readonly uploader: BlobUploader;
  private readonly state: RunState;
  private readonly files: FileSaver;
  private readonly trees: TreeSaver;
  private readonly posix: PosixAccess | undefined;
  private readonly withAtime: boolean;
  private readonly exclude: readonly ExcludedFolder[];
  /** Files started and not yet stored: how far the walk may run ahead of the pipeline. */
  private readonly walkSlots = new ByteBudget('walk', 1024);
  /** Segment buffers: the bound of the read stage. */
  readonly segments: SegmentPool;
  readonly sealedBudget: ByteBudget;
  /** Time with at least one file read in flight (for `engine bench`). */
  readonly readBusy: BusyMeter;
  readonly counters: BackupCounters;

  constructor(repo: Repository, index: BlobIndex, pool: WorkerPool, uploader: BlobUploader, sealedBudget: ByteBudget, opts: ArchiverOptions) {
    this.repo = repo;
    this.index = index;
    this.uploader = uploader;
    this.posix = opts.posix;
    this.withAtime = opts.withAtime ?? false;
    this.exclude = opts.exclude ?? [];
    this.state = new RunState(opts);
    this.counters = this.state.counters;
    this.sealedBudget = sealedBudget;
    const sealer = new BlobSealer(this.state, pool, uploader, sealedBudget, envelopeOverhead(repo.suite));
    this.files = new FileSaver(repo, pool, sealer, this.state, opts.plan, opts.posix);
    this.segments = this.files.segments;
    this.readBusy = this.files.readBusy;
    const files = this.files;
    this.trees = new TreeSaver(repo, uploader, sealedBudget, this.state, () => files.flushSmall());
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
    this.files.flushSmall();
    for (const n of await Promise.all(pending)) if (n) nodes.push(n);
    this.state.check();
    await this.state.afterRead();
    this.state.check();
    nodes.sort((a, b) => compareNames(a.name, b.name));
    const writer = this.trees.writer();
    for (const n of nodes) await writer.add(n);
    const root = await writer.finish();
    await this.state.drain();
    this.state.check();
    return root;
  }

  /** A folder that must not be backed up (the repository itself, its cache): told once, then skipped. */
  private excluded(path: string, st: BigIntStats): boolean {
    const hit = this.exclude.find((e) => e.dev === st.dev && e.ino === st.ino);
    if (!hit) return false;
    this.state.onNotice(`${path}: skipped, it is ${hit.why}`);
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
        this.state.onMetaProblem({ path, message: `extended attribute(s) not kept, they could not be read: ${which}` });
      }
      return got.xattrs;
    } catch (err) {
      // Gone since its lstat: reading it reports that (or, for a FIFO or device node, it is stored as lstat saw it).
      if ((err as { code?: unknown }).code === 'ENOENT') return undefined;
      this.counters.entriesXattrsNotRead++;
      const code = (err as { code?: unknown }).code;
      this.state.onMetaProblem({ path, message: `extended attributes not kept, they could not be listed (${typeof code === 'string' ? code : err instanceof Error ? err.message : String(err)})` });
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
        this.state.problem(path, err);
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
    const result = await this.files.saveFileContents(path, size);
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
    this.state.check();
    const names = sortedNames(path)[Symbol.asyncIterator]();
    let next: IteratorResult<string>;
    try {
      next = await names.next();
    } catch (err) {
      this.state.problem(path, err);
      return { done: Promise.resolve(null) };
    }
    this.counters.dirs++;
    const parentTreeId = parent?.type === 'dir' ? parent.subtree : undefined;
    // A parent tree not in the index (lost, and dropped by `repair index`) is no parent: every
    // entry below is read again. One whose chunks cannot be read likewise, from that point on.
    const parentEntries = new ParentCursor(parentTreeId && this.index.has(parentTreeId) ? treeEntries(this.repo, this.index, parentTreeId) : null, (err) =>
      this.state.onNotice(`${path}: the parent snapshot's listing cannot be read (${err instanceof Error ? err.message : String(err)}): its files are read again`),
    );
    const sink = new OrderedSink(this.trees.writer(), PENDING_PER_DIR, () => this.files.flushSmall(), () => this.state.check());
    try {
      while (!next.done) {
        const batch: string[] = [];
        for (; !next.done && batch.length < LSTAT_BATCH; next = await names.next()) batch.push(next.value);
        const stats = await Promise.all(batch.map((n) => fsp.lstat(fsPath(join(path, n)), { bigint: true }).catch((err: Error) => err)));
        // Each entry's xattrs right after the batch's lstat, before any subfolder of the batch is
        // walked: what lstat and listxattr say stays close in time.
        const xattrs = stats.map((childSt, i) => (childSt instanceof Error ? undefined : this.readXattrs(join(path, batch[i]!))));
        for (const [i, entryName] of batch.entries()) {
          this.state.check();
          const full = join(path, entryName);
          const childParent = await parentEntries.find(entryName);
          const childSt = stats[i]!;
          if (childSt instanceof Error) {
            this.state.problem(full, childSt);
            continue;
          }
          if (childSt.isDirectory()) {
            if (this.excluded(full, childSt)) continue;
            await sink.push((await this.walkDir(full, entryName, childParent, childSt, xattrs[i])).done);
            continue;
          }
          if (!this.walkSlots.tryAcquire(1)) {
            // Files waiting in the batch hold slots too: send them on before waiting for one.
            this.files.flushSmall();
            await this.walkSlots.acquire(1, this.state.signal);
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
}
