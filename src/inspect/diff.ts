// The differences between two snapshots' trees, walked side by side one directory at a time, each
// directory streamed in name order (merge join), so the output is in name order too.
// Identical subtrees (the same tree id) are skipped without being read: an unchanged folder costs
// nothing, whatever its size (an observer, for restic's statistics of `diff --json`, is told of
// them and reads them itself: src/inspect/diff-stats.ts).
import type { BlobId } from '../format/ids.js';
import { compareNames, type NodeType, type TreeNode } from '../format/tree.js';

export type Change = 'added' | 'removed' | 'modified' | 'type' | 'metadata';

/** The snapshot a tree is read from: the first given (`before`) or the second (`after`). */
export type Side = 'before' | 'after';

export interface Difference {
  /** From the root of the snapshots, with '/' separators; folders end with '/'. Names as stored (escaped form): displayName before printing. */
  readonly path: string;
  readonly change: Change;
  /** The entry's type: the added or removed entry's, else the second snapshot's. */
  readonly type: NodeType;
  /**
   * A modified file whose every other field is the same (size, times, inode, device, links, mode,
   * owner, extended attributes): restic's "?", probable bitrot (contents changed behind the file
   * system's back).
   */
  readonly bitrot?: true;
}

/** A tree's nodes, sorted by name, as stored: streamed, so a huge directory is never held whole. `side`: the snapshot it is read for. */
export type TreeLoader = (id: BlobId, side?: Side) => AsyncIterable<TreeNode>;

/** Told what the diff walks, for restic's statistics (src/inspect/diff-stats.ts). */
export interface DiffObserver {
  /** Every entry of two directories compared, and every entry below a folder added or removed, with its side. */
  entry(side: Side, node: TreeNode): void;
  /** A folder whose tree is the same in both snapshots: the diff does not read it. */
  same(tree: BlobId): Promise<void>;
}

function sameContent(a: TreeNode, b: TreeNode): boolean {
  if (a.type !== b.type) return false;
  if (a.type === 'symlink') return a.linkTarget === b.linkTarget;
  if (a.type === 'file') return a.size === b.size && (a.content ?? []).join() === (b.content ?? []).join();
  if (a.type === 'chardev' || a.type === 'blockdev') return a.rdev === b.rdev;
  return true;
}

function sameMetadata(a: TreeNode, b: TreeNode): boolean {
  // Not atimeNs: with --with-atime it changes on every read, and every entry would show as "U".
  return a.mode === b.mode && a.mtimeNs === b.mtimeNs && a.uid === b.uid && a.gid === b.gid && sameXattrs(a, b);
}

/** Canonical order on both sides (FORMAT.md "Extended attributes"), so a pairwise compare suffices. */
function sameXattrs(a: TreeNode, b: TreeNode): boolean {
  const x = a.xattrs ?? [];
  const y = b.xattrs ?? [];
  return x.length === y.length && x.every((e, i) => e.name === y[i]!.name && e.value === y[i]!.value);
}

/** Only the contents differ: restic's bitrot test (its Node.Equals without the content; not the atime, which a read moves). */
function onlyContentDiffers(a: TreeNode, b: TreeNode): boolean {
  return a.type === 'file' && b.type === 'file' && a.size === b.size && a.ctimeNs === b.ctimeNs && a.inode === b.inode && a.deviceId === b.deviceId && a.links === b.links && sameMetadata(a, b);
}

/** Every path under `node` (itself included), for a whole subtree added or removed. */
async function* everything(load: TreeLoader, node: TreeNode, path: string, side: Side, observer: DiffObserver | undefined): AsyncGenerator<{ path: string; type: NodeType }> {
  if (node.type !== 'dir') {
    yield { path, type: node.type };
    return;
  }
  yield { path: `${path}/`, type: 'dir' };
  if (!node.subtree) return;
  for await (const child of load(node.subtree, side)) {
    observer?.entry(side, child);
    yield* everything(load, child, `${path}/${child.name}`, side, observer);
  }
}

/** Both directories' entries side by side in name order (a merge join): one chunk of each held. */
async function* pairs(left: AsyncIterable<TreeNode>, right: AsyncIterable<TreeNode>): AsyncGenerator<[TreeNode | null, TreeNode | null]> {
  const l = left[Symbol.asyncIterator]();
  const r = right[Symbol.asyncIterator]();
  let x = await l.next();
  let y = await r.next();
  while (!x.done || !y.done) {
    const order = x.done ? 1 : y.done ? -1 : compareNames(x.value.name, y.value.name);
    if (order < 0) {
      yield [x.value as TreeNode, null];
      x = await l.next();
    } else if (order > 0) {
      yield [null, y.value as TreeNode];
      y = await r.next();
    } else {
      yield [x.value as TreeNode, y.value as TreeNode];
      x = await l.next();
      y = await r.next();
    }
  }
}

/**
 * The differences between trees `a` (the first snapshot's) and `b`, in name order. `observer`,
 * when given, is told of every entry read and of every folder the same on both sides (restic's
 * statistics need them; the list of differences does not).
 */
export async function* diffTrees(load: TreeLoader, a: BlobId, b: BlobId, prefix = '', observer?: DiffObserver): AsyncGenerator<Difference> {
  if (a === b) return;
  for await (const [x, y] of pairs(load(a, 'before'), load(b, 'after'))) {
    if (x) observer?.entry('before', x);
    if (y) observer?.entry('after', y);
    if (!y) {
      for await (const p of everything(load, x!, `${prefix}/${x!.name}`, 'before', observer)) yield { ...p, change: 'removed' };
      continue;
    }
    if (!x) {
      for await (const p of everything(load, y, `${prefix}/${y.name}`, 'after', observer)) yield { ...p, change: 'added' };
      continue;
    }
    const path = `${prefix}/${x.name}`;
    if (x.type !== y.type) {
      yield { path, change: 'type', type: y.type };
      continue;
    }
    if (!sameContent(x, y)) yield { path, change: 'modified', type: y.type, ...(onlyContentDiffers(x, y) ? { bitrot: true as const } : {}) };
    else if (!sameMetadata(x, y)) yield { path: x.type === 'dir' ? `${path}/` : path, change: 'metadata', type: y.type };
    if (x.type === 'dir' && x.subtree && y.subtree) {
      if (x.subtree === y.subtree) await observer?.same(x.subtree);
      else yield* diffTrees(load, x.subtree, y.subtree, path, observer);
    }
  }
}
