// The walker: reads each directory's names in name order (sorted in bounded memory), lstats them in
// batches, reads their xattrs, merge-joins them with the parent snapshot's entries, skips the
// folders never backed up (the repository itself, its cache), starts saving each entry and walks
// each subdirectory in turn. It never waits for a file to be stored: each directory's entries go to
// its tree writer in name order as they complete (OrderedSink), so the pool stays fed across
// directories, and `walkSlots` bounds how far the walk runs ahead of the storing.
import { promises as fsp, type BigIntStats } from 'node:fs';
import { join, resolve } from 'node:path';
import type { BlobId } from '../format/ids.js';
import { encodeNode, type TreeNode, type Xattr } from '../format/tree.js';
import { decodeName, fsPath } from '../fs/names.js';
import { ByteBudget } from '../util/concurrency.js';
import type { BlobIndex } from '../repository/blob-index.js';
import type { Repository } from '../repository/repository.js';
import { treeEntries } from '../repository/tree-stream.js';
import type { EntryMeta } from './entry-meta.js';
import type { EntrySaver } from './entry-saver.js';
import type { FileSaver } from './file-saver.js';
import type { ExcludedFolder } from './options.js';
import type { Selection } from './selection.js';
import { OrderedSink } from './ordered-sink.js';
import { ParentCursor } from './parent-cursor.js';
import type { RunState } from './run-state.js';
import { sortedNames } from '../fs/sorted-names.js';
import type { TreeSaver } from './tree-saver.js';
import { targetTree, type TargetNode, type TargetPath } from './target-tree.js';

/** Entries of one directory started and not yet written to its tree: the walk of it waits beyond. */
const PENDING_PER_DIR = 2048;
/** Names lstat-ed at once (the libuv threadpool runs four at a time; more only queue). */
const LSTAT_BATCH = 128;

export class Walker {
  private readonly repo: Repository;
  private readonly index: BlobIndex;
  private readonly state: RunState;
  private readonly meta: EntryMeta;
  private readonly entries: EntrySaver;
  private readonly files: FileSaver;
  private readonly trees: TreeSaver;
  private readonly exclude: readonly ExcludedFolder[];
  /** What the user leaves out (--exclude and the rest); null when nothing is. */
  private readonly selection: Selection | null;
  /**
   * Some backed-up path differs from the parent snapshot's (or there is none): what restic's
   * --skip-if-unchanged asks. The folders on the way are not compared by their own metadata: the
   * times of /tmp or /home change whenever anyone adds a file beside the backed-up path, and a
   * snapshot for that alone would be noise (a pull request to restic, 5623, proposes the same).
   */
  private changed = false;
  /** Files started and not yet stored: how far the walk may run ahead of the pipeline. */
  private readonly walkSlots = new ByteBudget('walk', 1024);

  constructor(repo: Repository, index: BlobIndex, state: RunState, meta: EntryMeta, entries: EntrySaver, files: FileSaver, trees: TreeSaver, exclude: readonly ExcludedFolder[], selection?: Selection) {
    this.repo = repo;
    this.index = index;
    this.state = state;
    this.meta = meta;
    this.entries = entries;
    this.files = files;
    this.trees = trees;
    this.exclude = exclude;
    this.selection = selection && !selection.empty ? selection : null;
  }

  /**
   * Walks the backup paths, each stored under its absolute path (target-tree.ts), merged with the
   * parent snapshot (`parentRoot`: its root tree, when it has one in the index). Returns once the
   * walk is done, with the promises of the root's nodes (null: left out), which resolve as
   * everything below them is stored; `wholeRoot`: '/' itself is backed up, and its one node's
   * subtree is the root. A path that does not exist is left out (a problem: exit 3, as restic); a
   * path the selection excludes is left out, as restic does; a folder on the way to backup paths
   * of which none is left is left out too.
   */
  async walkPaths(paths: string[], parentRoot: BlobId | null): Promise<{ pending: Promise<TreeNode | null>[]; wholeRoot: boolean }> {
    const target = targetTree(paths.map((p) => resolve(p)));
    if (target.kind === 'path') {
      const xattrs = this.meta.readXattrs('/');
      const st = await fsp.lstat('/', { bigint: true });
      const { done } = await this.walkDir('/', '', await this.rootParent(parentRoot), st, xattrs, st.dev, true, target.children);
      this.compareWithParent(done, (n) => n !== null && n.subtree === parentRoot);
      return { pending: [done], wholeRoot: true };
    }
    const rootNodes = parentRoot ? (await this.repo.loadTree(this.index, parentRoot)).nodes : [];
    const byName = new Map(rootNodes.map((n) => [n.name, n]));
    const pending: Promise<TreeNode | null>[] = [];
    for (const child of target.children) {
      const parentNode = byName.get(child.name);
      // A parent snapshot written before the absolute-path layout stored each path under its last
      // name at the top (FORMAT.md "Layout of the root tree"): its nodes are still the right
      // parents of the paths, so the first backup after the change does not read every file again.
      const legacy = parentNode || rootNodes.length === 0 ? null : byName;
      pending.push((await this.walkTarget(child, parentNode, legacy)).done);
    }
    return { pending, wholeRoot: false };
  }

  /**
   * The parent listing of '/' backed up whole: the parent's root, or, when the parent was written
   * in the last-name layout (its root holds one folder named "root", what '/' was stored as), that
   * folder's listing.
   */
  private async rootParent(parentRoot: BlobId | null): Promise<BlobId | undefined> {
    if (!parentRoot) return undefined;
    const nodes = (await this.repo.loadTree(this.index, parentRoot)).nodes;
    const only = nodes.length === 1 ? nodes[0]! : null;
    return only?.name === 'root' && only.type === 'dir' && only.subtree ? only.subtree : parentRoot;
  }

  /**
   * Walks one node of the target tree: a backup path whole, or a folder on the way to backup
   * paths with its own metadata and only those children (never left out by the selection: the
   * paths below are what the user asked for). `legacy`: the top-level nodes of a parent snapshot
   * in the last-name layout, looked up by each backup path's last name.
   */
  private async walkTarget(target: TargetNode, parent: TreeNode | undefined, legacy: ReadonlyMap<string, TreeNode> | null = null): Promise<{ done: Promise<TreeNode | null> }> {
    if (target.kind === 'path') {
      const parentNode = parent ?? legacy?.get(target.name);
      const saved = await this.walkPath(target, parentNode);
      this.compareWithParent(saved.done, (n) => (n === null ? parentNode === undefined : parentNode !== undefined && encodeNode(n) === encodeNode(parentNode)));
      return saved;
    }
    return this.walkWay(target.name, target.path, target.children, parent, legacy);
  }

  /**
   * A folder on the way to backup paths: its own metadata, and only the entries that lead to
   * them. `stat`, not lstat: the way to the backup paths may go through a link, and is a folder.
   */
  private async walkWay(name: string, abs: string, children: readonly TargetNode[], parent: TreeNode | undefined, legacy: ReadonlyMap<string, TreeNode> | null): Promise<{ done: Promise<TreeNode | null> }> {
    let st: BigIntStats;
    try {
      st = await fsp.stat(fsPath(abs), { bigint: true });
    } catch (err) {
      // The paths below are gone (a disk unplugged): a change, whatever the parent held.
      this.changed = true;
      this.state.problem(abs, err);
      return { done: Promise.resolve(null) };
    }
    // The attributes of the folder the way goes through, not of a link to it (the metadata is
    // the folder's, from stat).
    const real = await fsp.realpath(fsPath(abs), { encoding: 'buffer' }).then(decodeName, () => abs);
    const xattrs = this.meta.readXattrs(real);
    const parentTreeId = subtreeOf(parent);
    const parentEntries = new ParentCursor(parentTreeId && this.index.has(parentTreeId) ? treeEntries(this.repo, this.index, parentTreeId) : null, () => undefined);
    // Through the same bounded queue as a walked folder's entries: a --files-from list of a
    // million files in one folder never has them all pending at once.
    const sink = new OrderedSink(this.trees.writer(), PENDING_PER_DIR, () => this.files.flushSmall(), () => this.state.check());
    try {
      for (const child of children) await sink.push((await this.walkTarget(child, await parentEntries.find(child.name), legacy)).done);
    } finally {
      await parentEntries.close();
    }
    const done = sink.finishUnlessEmpty().then((id) => {
      if (id === null) return null;
      const node = this.meta.node(name, 'dir', st, xattrs);
      node.subtree = id;
      this.state.counters.dirs++;
      countDir(this.state.counters, parentTreeId, id);
      return node;
    });
    done.catch(() => undefined);
    return { done };
  }

  /**
   * A backup path itself: walked whole (a folder) or saved (anything else); null when left out.
   * Backup paths inside it (`target.children`) are taken whatever would leave them out of its
   * walk; when it is not walked as a folder (a symlink, a file, excluded), it is a folder on the
   * way to them.
   */
  private async walkPath(target: TargetPath, parentNode: TreeNode | undefined): Promise<{ done: Promise<TreeNode | null> }> {
    const abs = target.path;
    const inside = target.children;
    const asWay = (): Promise<{ done: Promise<TreeNode | null> }> => this.walkWay(target.name, abs, inside, parentNode, null);
    if (this.selection?.excludesPath(abs)) return inside.length > 0 ? asWay() : { done: Promise.resolve(null) };
    let st: BigIntStats;
    try {
      st = await fsp.lstat(fsPath(abs), { bigint: true });
    } catch (err) {
      this.state.problem(abs, (err as NodeJS.ErrnoException).code === 'ENOENT' ? new Error('backup path does not exist') : err);
      return { done: Promise.resolve(null) };
    }
    if (st.isDirectory() && this.excluded(abs, st)) return inside.length > 0 ? asWay() : { done: Promise.resolve(null) };
    if (inside.length > 0 && !st.isDirectory()) return asWay();
    if (this.selection?.excludesBySize(st)) return { done: Promise.resolve(null) };
    const xattrs = this.meta.readXattrs(abs);
    // --one-file-system stays on the device of each backup path.
    if (st.isDirectory()) return this.walkDir(abs, target.name, subtreeOf(parentNode), st, xattrs, st.dev, true, inside);
    // A file given as a backup path holds a walk slot as a file met in a folder does.
    if (!this.walkSlots.tryAcquire(1)) {
      this.files.flushSmall();
      await this.walkSlots.acquire(1, this.state.signal);
    }
    return { done: this.entries.saveEntry(abs, target.name, parentNode, st, xattrs).finally(() => this.walkSlots.release(1)) };
  }

  /**
   * An entry of a walked folder that is a backup path itself, or leads to one: the path is walked
   * as a backup path (its own device for -x, its own excludes); a folder leading to one is walked
   * whole when it would have been anyway, and as a folder on the way when not (another
   * filesystem under -x, excluded).
   */
  private async walkInside(target: TargetNode, full: string, parent: TreeNode | undefined, st: BigIntStats, xattrs: Xattr[] | undefined, rootDev: bigint, where: string): Promise<{ done: Promise<TreeNode | null> }> {
    if (target.kind === 'path') return this.walkPath(target, parent);
    const walkedAnyway = st.isDirectory() && where === 'same' && !this.selection?.excludesPath(full) && !this.selection?.excludesBySize(st) && !this.excluded(full, st);
    if (walkedAnyway) return this.walkDir(full, target.name, subtreeOf(parent), st, xattrs, rootDev, true, target.children);
    return this.walkWay(target.name, full, target.children, parent, null);
  }

  /** Notes whether a backed-up path's node, once saved, is as in the parent snapshot. */
  private compareWithParent(done: Promise<TreeNode | null>, same: (node: TreeNode | null) => boolean): void {
    done.then(
      (node) => {
        if (!same(node)) this.changed = true;
      },
      () => undefined,
    );
  }

  /** Every backed-up path holds what the parent snapshot held there (valid once the nodes are saved). */
  get pathsUnchanged(): boolean {
    return !this.changed;
  }

  /** A folder that must not be backed up (the repository itself, its cache): told once, then skipped. */
  private excluded(path: string, st: BigIntStats): boolean {
    const hit = this.exclude.find((e) => e.dev === st.dev && e.ino === st.ino);
    if (!hit) return false;
    this.state.onNotice(`${path}: skipped, it is ${hit.why}`);
    return true;
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
  private async walkDir(path: string, name: string, parentTreeId: BlobId | undefined, st: BigIntStats, xattrs: Xattr[] | undefined, rootDev: bigint, enter: boolean, inside: readonly TargetNode[] = []): Promise<{ done: Promise<TreeNode | null> }> {
    this.state.check();
    // Entries that are backup paths, or lead to them: taken whatever would leave them out here.
    const forced = inside.length > 0 ? new Map(inside.map((t) => [t.name, t])) : null;
    // A folder not entered (a mount point under --one-file-system) is stored empty.
    const names = enter ? sortedNames(path)[Symbol.asyncIterator]() : emptyNames();
    let next: IteratorResult<string>;
    // A folder holding a tag file (--exclude-if-present, --exclude-caches) keeps only its tag files.
    let keep: ReadonlySet<string> | null = null;
    // A parent tree not in the index (lost, and dropped by `repair index`) is no parent: every
    // entry below is read again. One whose chunks cannot be read likewise, from that point on.
    const parentEntries = new ParentCursor(parentTreeId && this.index.has(parentTreeId) ? treeEntries(this.repo, this.index, parentTreeId) : null, (err) =>
      this.state.onNotice(`${path}: the parent snapshot's listing cannot be read (${err instanceof Error ? err.message : String(err)}): its files are read again`),
    );
    // The parent's listing is read while the folder is listed: two waits on the disk at once,
    // not one after the other, in every folder.
    const parentFirst = parentEntries.prime();
    try {
      next = await names.next();
      if (enter && this.selection?.hasTagFiles) keep = await this.selection.keptByTags(path);
      await parentFirst;
    } catch (err) {
      await parentFirst;
      await parentEntries.close();
      this.state.problem(path, err);
      return { done: Promise.resolve(null) };
    }
    this.state.counters.dirs++;
    const sink = new OrderedSink(this.trees.writer(), PENDING_PER_DIR, () => this.files.flushSmall(), () => this.state.check());
    try {
      while (!next.done) {
        const batch: string[] = [];
        for (; !next.done && batch.length < LSTAT_BATCH; next = await names.next()) {
          // Left out by name: never lstat-ed, and a folder never entered.
          if (!forced?.has(next.value)) {
            if (keep && !keep.has(next.value)) continue;
            if (this.selection?.excludesPath(join(path, next.value))) continue;
          }
          batch.push(next.value);
        }
        const stats = await Promise.all(batch.map((n) => fsp.lstat(fsPath(join(path, n)), { bigint: true }).catch((err: Error) => err)));
        // Each entry's xattrs right after the batch's lstat, before any subfolder of the batch is
        // walked: what lstat and listxattr say stays close in time.
        const xattrs = stats.map((childSt, i) => (childSt instanceof Error ? undefined : this.meta.readXattrs(join(path, batch[i]!))));
        for (const [i, entryName] of batch.entries()) {
          this.state.check();
          const full = join(path, entryName);
          const childParent = await parentEntries.find(entryName);
          const childSt = stats[i]!;
          if (childSt instanceof Error) {
            this.state.problem(full, childSt);
            continue;
          }
          const where = this.selection?.device(childSt, rootDev) ?? 'same';
          const leads = forced?.get(entryName);
          if (leads) {
            await sink.push((await this.walkInside(leads, full, childParent, childSt, xattrs[i], rootDev, where)).done);
            continue;
          }
          if (where === 'other' || this.selection?.excludesBySize(childSt)) continue;
          if (childSt.isDirectory()) {
            if (this.excluded(full, childSt)) continue;
            await sink.push((await this.walkDir(full, entryName, subtreeOf(childParent), childSt, xattrs[i], rootDev, where === 'same')).done);
            continue;
          }
          if (!this.walkSlots.tryAcquire(1)) {
            // Files waiting in the batch hold slots too: send them on before waiting for one.
            this.files.flushSmall();
            await this.walkSlots.acquire(1, this.state.signal);
          }
          await sink.push(this.entries.saveEntry(full, entryName, childParent, childSt, xattrs[i]).finally(() => this.walkSlots.release(1)));
        }
      }
    } finally {
      // The listing's temporary runs are removed even when the walk stops early.
      await names.return(undefined);
      await parentEntries.close();
    }
    const done = sink.finish().then((id) => {
      const node = this.meta.node(name, 'dir', st, xattrs);
      node.subtree = id;
      countDir(this.state.counters, parentTreeId, id);
      return node;
    });
    done.catch(() => undefined);
    return { done };
  }
}

/** The parent snapshot's listing of a folder: the subtree of its node, when it was a folder. */
/** restic's dirs_new, dirs_changed, dirs_unmodified: by the parent snapshot's tree of the folder. */
function countDir(counters: { dirsNew: number; dirsChanged: number; dirsUnmodified: number }, parentTreeId: BlobId | undefined, id: BlobId): void {
  if (parentTreeId === undefined) counters.dirsNew++;
  else if (parentTreeId === id) counters.dirsUnmodified++;
  else counters.dirsChanged++;
}

function subtreeOf(node: TreeNode | undefined): BlobId | undefined {
  return node?.type === 'dir' ? node.subtree : undefined;
}

/** The listing of a folder not entered. */
function emptyNames(): AsyncIterator<string> & { return(value?: unknown): Promise<IteratorResult<string>> } {
  const done = async (): Promise<IteratorResult<string>> => ({ done: true, value: undefined });
  return { next: done, return: done };
}
