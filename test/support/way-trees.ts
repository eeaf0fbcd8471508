// A snapshot stores each backed-up path under its absolute path, with the folders on the way to it
// ("intermediate folders", FORMAT.md "Layout of the root tree") and their own metadata, read at
// each backup. A test's folder lies under the OS temp folder, whose times (and link count) change
// whenever any process adds or removes an entry there: two backups of an unchanged folder store
// the same trees for everything below the backed-up path, and new trees on the way when a folder
// there changed in between. `wayTreesAdded` tells which, so that tests count them exactly.
import { basename, dirname } from 'node:path';
import { expect } from 'vitest';
import { loadPrimitives } from '../../native-bindings/index.js';
import { LocalBackend } from '../../src/backend/local/local-backend.js';
import type { BlobId } from '../../src/format/ids.js';
import type { TreeNode } from '../../src/format/tree.js';
import { Repository } from '../../src/repository/repository.js';
import { TEST_PASSWORD } from './cli.js';

/** The folders on the way to an absolute path, as `engine ls` prints them ('/tmp/', '/tmp/w/' for /tmp/w/src). */
export function wayFolders(path: string): string[] {
  const names = dirname(path).split('/').filter((n) => n !== '');
  return names.map((_, i) => `/${names.slice(0, i + 1).join('/')}/`);
}

/** What of a folder on the way may change between two backups while nothing below the backed-up path does. */
function wayNodeKept(n: TreeNode): Partial<TreeNode> {
  const { mtimeNs: _m, ctimeNs: _c, atimeNs: _a, links: _l, subtree: _s, ...kept } = n;
  return kept;
}

/**
 * The trees on the way to `path` (the root's, then each folder's down to the one holding `path`)
 * in snapshot `b` that snapshot `a` does not have: their number and raw bytes. Asserts that each
 * of those trees holds only the entry on the way, that the folders on the way differ at most in
 * their times, link count and subtree, and that the node of `path` is identical in both (so is
 * everything below it).
 */
export async function wayTreesAdded(repoPath: string, native: 'auto' | 'off', a: string, b: string, path: string): Promise<{ count: number; rawBytes: number }> {
  const { primitives } = await loadPrimitives(native === 'off' ? 'fallback' : 'auto');
  const repo = await Repository.open(new LocalBackend(repoPath), primitives, new TextEncoder().encode(TEST_PASSWORD));
  const index = await repo.loadIndex();
  let ta = (await repo.resolveSnapshot(a)).snapshot.tree;
  let tb = (await repo.resolveSnapshot(b)).snapshot.tree;
  const way = dirname(path).split('/').filter((n) => n !== '');
  let count = 0;
  let rawBytes = 0;
  for (let i = 0; i <= way.length; i++) {
    const name = i < way.length ? way[i]! : basename(path);
    const na = (await repo.loadTree(index, ta)).nodes;
    const nb = (await repo.loadTree(index, tb)).nodes;
    expect(na.map((n) => n.name)).toEqual([name]);
    expect(nb.map((n) => n.name)).toEqual([name]);
    if (ta !== tb) {
      count++;
      rawBytes += index.lookup(tb)!.rawLength;
    }
    if (i === way.length) {
      expect(nb[0]).toEqual(na[0]);
      break;
    }
    expect(wayNodeKept(nb[0]!), `/${way.slice(0, i + 1).join('/')}`).toEqual(wayNodeKept(na[0]!));
    ta = na[0]!.subtree as BlobId;
    tb = nb[0]!.subtree as BlobId;
  }
  return { count, rawBytes };
}
