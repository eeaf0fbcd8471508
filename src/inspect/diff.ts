// The differences between two snapshots' trees, walked side by side one directory at a time.
// Identical subtrees (the same tree id) are skipped without being read: an unchanged folder costs
// nothing, whatever its size.
import type { BlobId } from '../format/ids.js';
import type { TreeNode } from '../format/tree.js';

export type Change = 'added' | 'removed' | 'modified' | 'type' | 'metadata';

export interface Difference {
  /** From the root of the snapshots, with '/' separators; folders end with '/'. */
  readonly path: string;
  readonly change: Change;
}

/** Loads a tree's nodes (sorted by name, as stored). */
export type TreeLoader = (id: BlobId) => Promise<readonly TreeNode[]>;

function sameContent(a: TreeNode, b: TreeNode): boolean {
  if (a.type !== b.type) return false;
  if (a.type === 'symlink') return a.linkTarget === b.linkTarget;
  if (a.type === 'file') return a.size === b.size && (a.content ?? []).join() === (b.content ?? []).join();
  if (a.type === 'chardev' || a.type === 'blockdev') return a.rdev === b.rdev;
  return true;
}

function sameMetadata(a: TreeNode, b: TreeNode): boolean {
  return a.mode === b.mode && a.mtimeNs === b.mtimeNs && a.uid === b.uid && a.gid === b.gid;
}

/** Every path under `node` (itself included), for a whole subtree added or removed. */
async function* everything(load: TreeLoader, node: TreeNode, path: string): AsyncGenerator<string> {
  if (node.type !== 'dir') {
    yield path;
    return;
  }
  yield `${path}/`;
  if (!node.subtree) return;
  for (const child of await load(node.subtree)) yield* everything(load, child, `${path}/${child.name}`);
}

export async function* diffTrees(load: TreeLoader, a: BlobId, b: BlobId, prefix = ''): AsyncGenerator<Difference> {
  if (a === b) return;
  const [left, right] = await Promise.all([load(a), load(b)]);
  const byName = new Map(right.map((n) => [n.name, n]));
  const seen = new Set<string>();
  for (const x of left) {
    const path = `${prefix}/${x.name}`;
    const y = byName.get(x.name);
    seen.add(x.name);
    if (!y) {
      for await (const p of everything(load, x, path)) yield { path: p, change: 'removed' };
      continue;
    }
    if (x.type !== y.type) {
      yield { path, change: 'type' };
      continue;
    }
    if (!sameContent(x, y)) yield { path, change: 'modified' };
    else if (!sameMetadata(x, y)) yield { path: x.type === 'dir' ? `${path}/` : path, change: 'metadata' };
    if (x.type === 'dir' && x.subtree && y.subtree) yield* diffTrees(load, x.subtree, y.subtree, path);
  }
  for (const y of right) {
    if (seen.has(y.name)) continue;
    for await (const p of everything(load, y, `${prefix}/${y.name}`)) yield { path: p, change: 'added' };
  }
}
