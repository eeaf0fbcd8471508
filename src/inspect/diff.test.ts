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
    expect(await diff([file('f')], [v1])).toEqual([{ path: '/f', change: 'metadata', type: 'file' }]);
    expect(await diff([v1], [file('f', { xattrs: [{ name: 'user.a', value: 'Ag==' }] })])).toEqual([{ path: '/f', change: 'metadata', type: 'file' }]);
    expect(await diff([v1], [file('f')])).toEqual([{ path: '/f', change: 'metadata', type: 'file' }]);
    expect(await diff([v1], [file('f', { xattrs: [{ name: 'user.a', value: 'AQ==' }] })])).toEqual([]);
  });

  it('an atime alone is no change (it moves on every read)', async () => {
    expect(await diff([file('f', { atimeNs: '1' })], [file('f', { atimeNs: '2' })])).toEqual([]);
  });
});

describe('diff of contents', () => {
  it('new contents with every other field the same is marked as probable bitrot (restic\'s "?"); with a new mtime it is not', async () => {
    const old = file('f', { size: 3, content: ['1'.repeat(64) as BlobId] });
    const rotted = file('f', { size: 3, content: ['2'.repeat(64) as BlobId] });
    expect(await diff([old], [rotted])).toEqual([{ path: '/f', change: 'modified', type: 'file', bitrot: true }]);
    expect(await diff([old], [{ ...rotted, mtimeNs: '1700000001000000000' }])).toEqual([{ path: '/f', change: 'modified', type: 'file' }]);
    expect(await diff([old], [{ ...rotted, size: 4 }])).toEqual([{ path: '/f', change: 'modified', type: 'file' }]);
  });

  it('an entry that changed type names the new type', async () => {
    expect(await diff([file('x')], [{ ...file('x'), type: 'symlink', linkTarget: 'y', content: undefined, size: undefined } as TreeNode])).toEqual([{ path: '/x', change: 'type', type: 'symlink' }]);
  });
});
