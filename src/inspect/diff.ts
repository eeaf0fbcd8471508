// The differences between two snapshots' trees, walked side by side one directory at a time, each
// directory streamed in name order (merge join), so the output is in name order too.
// Identical subtrees (the same tree id) are skipped without being read: an unchanged folder costs
// nothing, whatever its size.
import type { BlobId } from '../format/ids.js';
import { compareNames, type TreeNode } from '../format/tree.js';

export type Change = 'added' | 'removed' | 'modified' | 'type' | 'metadata';

export interface Difference {
  /** From the root of the snapshots, with '/' separators; folders end with '/'. Names as stored (escaped form): displayName before printing. */
  readonly path: string;
  readonly change: Change;
}

/** A tree's nodes, sorted by name, as stored: streamed, so a huge directory is never held whole. */
export type TreeLoader = (id: BlobId) => AsyncIterable<TreeNode>;

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

/** Every path under `node` (itself included), for a whole subtree added or removed. */
async function* everything(load: TreeLoader, node: TreeNode, path: string): AsyncGenerator<string> {
  if (node.type !== 'dir') {
    yield path;
    return;
  }
  yield `${path}/`;
  if (!node.subtree) return;
  for await (const child of load(node.subtree)) yield* everything(load, child, `${path}/${child.name}`);
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

export async function* diffTrees(load: TreeLoader, a: BlobId, b: BlobId, prefix = ''): AsyncGenerator<Difference> {
  if (a === b) return;
  for await (const [x, y] of pairs(load(a), load(b))) {
    if (!y) {
      for await (const p of everything(load, x!, `${prefix}/${x!.name}`)) yield { path: p, change: 'removed' };
      continue;
    }
    if (!x) {
      for await (const p of everything(load, y, `${prefix}/${y.name}`)) yield { path: p, change: 'added' };
      continue;
    }
    const path = `${prefix}/${x.name}`;
    if (x.type !== y.type) {
      yield { path, change: 'type' };
      continue;
    }
    if (!sameContent(x, y)) yield { path, change: 'modified' };
    else if (!sameMetadata(x, y)) yield { path: x.type === 'dir' ? `${path}/` : path, change: 'metadata' };
    if (x.type === 'dir' && x.subtree && y.subtree) yield* diffTrees(load, x.subtree, y.subtree, path);
  }
}
