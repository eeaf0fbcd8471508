// find's walk: which entries match, and which folders it never reads.
import { describe, expect, it } from 'vitest';
import { PatternList } from '../filter/pattern.js';
import type { BlobId } from '../format/ids.js';
import type { TreeNode } from '../format/tree.js';
import { findByPattern, findObjects } from './find.js';

const node = (name: string, type: 'file' | 'dir', extra: Partial<TreeNode> = {}): TreeNode => ({ name, type, mode: 0o644, mtimeNs: '1000000000000', ctimeNs: '0', uid: 0, gid: 0, deviceId: '1', inode: '1', links: 1, ...extra });

// /a/{x.go, b/{y.go, c/{z.txt}}}, /d/{x.go}
const trees: Record<string, TreeNode[]> = {
  root: [node('a', 'dir', { subtree: 'A' as BlobId }), node('d', 'dir', { subtree: 'D' as BlobId })],
  A: [node('b', 'dir', { subtree: 'B' as BlobId }), node('x.go', 'file', { content: ['b1' as BlobId] })],
  B: [node('c', 'dir', { subtree: 'C' as BlobId }), node('y.go', 'file', { mtimeNs: '5000000000000', content: ['b2' as BlobId, 'b1' as BlobId] })],
  C: [node('z.txt', 'file')],
  D: [node('x.go', 'file')],
};

function loader(): { load: (id: BlobId) => AsyncGenerator<TreeNode>; read: string[] } {
  const read: string[] = [];
  return {
    read,
    load: async function* (id: BlobId) {
      read.push(id);
      yield* trees[id]!;
    },
  };
}

async function find(patterns: string[], opts: { oldestNs?: bigint; newestNs?: bigint; ignoreCase?: boolean } = {}): Promise<{ paths: string[]; read: string[] }> {
  const { load, read } = loader();
  const list = new PatternList(patterns.map((text) => ({ text, caseInsensitive: opts.ignoreCase === true })));
  const paths: string[] = [];
  for await (const f of findByPattern(load, 'root' as BlobId, { patterns: list, ...opts })) paths.push(f.path);
  return { paths, read };
}

describe('findByPattern', () => {
  it('matches whole paths: relative patterns anywhere, a matched folder with everything below it', async () => {
    expect((await find(['*.go'])).paths).toEqual(['/a/b/y.go', '/a/x.go', '/d/x.go']);
    expect((await find(['b'])).paths).toEqual(['/a/b', '/a/b/c', '/a/b/c/z.txt', '/a/b/y.go']);
    expect((await find(['a/x.go'])).paths).toEqual(['/a/x.go']);
    expect((await find(['A/X.GO'], { ignoreCase: true })).paths).toEqual(['/a/x.go']);
  });

  it('an anchored pattern reads only the folders on its way', async () => {
    const r = await find(['/a/b/y.go']);
    expect(r.paths).toEqual(['/a/b/y.go']);
    expect(r.read).toEqual(['root', 'A', 'B']);
  });

  it('--oldest/--newest keep entries by mtime, and the walk still enters folders that may hold matches', async () => {
    expect((await find(['*.go'], { oldestNs: 2_000_000_000_000n })).paths).toEqual(['/a/b/y.go']);
    expect((await find(['*.go'], { newestNs: 2_000_000_000_000n })).paths).toEqual(['/a/x.go', '/d/x.go']);
  });
});

describe('findObjects', () => {
  it('names every file holding a blob and every folder that is a tree', async () => {
    const { load } = loader();
    const found = [];
    for await (const o of findObjects(load, 'root' as BlobId, ['b1'], ['B', 'root'])) found.push([o.kind, o.id, o.path, o.parentTree ?? '']);
    expect(found).toEqual([
      ['tree', 'root', '/', ''],
      ['tree', 'B', '/a/b', ''],
      ['blob', 'b1', '/a/b/y.go', 'B'],
      ['blob', 'b1', '/a/x.go', 'A'],
    ]);
  });
});
