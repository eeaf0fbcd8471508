import { describe, expect, it } from 'vitest';
import type { BlobId } from '../format/ids.js';
import type { TreeNode } from '../format/tree.js';
import { diffTrees, type Difference } from './diff.js';

const file = (name: string, extra: Partial<TreeNode> = {}): TreeNode => ({
  name,
  type: 'file',
  mode: 0o644,
  mtimeNs: '1700000000123456789',
  ctimeNs: '1700000000123456789',
  uid: 0,
  gid: 0,
  deviceId: '1',
  inode: '2',
  links: 1,
  size: 0,
  content: [],
  ...extra,
});

async function diff(a: TreeNode[], b: TreeNode[]): Promise<Difference[]> {
  const trees = new Map<string, TreeNode[]>([
    ['a'.repeat(64), a],
    ['b'.repeat(64), b],
  ]);
  const load = async function* (id: BlobId): AsyncGenerator<TreeNode> {
    yield* trees.get(id)!;
  };
  const out: Difference[] = [];
  for await (const d of diffTrees(load, 'a'.repeat(64) as BlobId, 'b'.repeat(64) as BlobId)) out.push(d);
  return out;
}

describe('diff of metadata', () => {
  it('an xattr added, changed or removed alone is a metadata change', async () => {
    const v1 = file('f', { xattrs: [{ name: 'user.a', value: 'AQ==' }] });
    expect(await diff([file('f')], [v1])).toEqual([{ path: '/f', change: 'metadata' }]);
    expect(await diff([v1], [file('f', { xattrs: [{ name: 'user.a', value: 'Ag==' }] })])).toEqual([{ path: '/f', change: 'metadata' }]);
    expect(await diff([v1], [file('f')])).toEqual([{ path: '/f', change: 'metadata' }]);
    expect(await diff([v1], [file('f', { xattrs: [{ name: 'user.a', value: 'AQ==' }] })])).toEqual([]);
  });

  it('an atime alone is no change (it moves on every read)', async () => {
    expect(await diff([file('f', { atimeNs: '1' })], [file('f', { atimeNs: '2' })])).toEqual([]);
  });
});
