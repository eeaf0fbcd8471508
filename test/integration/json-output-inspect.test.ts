// --json of the commands that inspect a repository (diff, stats, check, find) against the
// published schemas (docs/json/{diff,stats,check,find}.schema.json): every line they print, on
// stdout and stderr, validates, and the values are the ones the tree and the damage call for. A
// small tree is backed up twice with a file added, one removed, one modified and one chmod-ed in
// between; what each command should say is worked out from the repository itself (the real
// classes, as test/integration/check.test.ts does).
import { randomBytes } from 'node:crypto';
import { chmod, cp, mkdir, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadPrimitives } from '../../native-bindings/index.js';
import { LocalBackend } from '../../src/backend/local/local-backend.js';
import type { BlobId, PackId } from '../../src/format/ids.js';
import type { MasterIndex } from '../../src/repository/master-index.js';
import { packName } from '../../src/repository/layout.js';
import { Repository } from '../../src/repository/repository.js';
import { currentNative, runEngine, TEST_PASSWORD } from '../support/cli.js';
import { validateLines } from '../support/json-schema.js';
import { dataPacks, flipByte } from '../support/repo-files.js';
import { workdirPerFile } from '../support/workdir.js';

const native = currentNative();

/** What a snapshot holds on the way to the tree and in it, read with the real classes. */
interface Shape {
  id: string;
  time: string;
  /** The tree of the snapshot's root and of every folder down to the backed-up folder, in order. */
  path: BlobId[];
  /** Trees of the folders below it, by name ('sub', 'new'). */
  below: Map<string, BlobId>;
  /** Data blob of each file, by its path under the backed-up folder ('edit.txt', 'new/file.txt'). */
  blob: Map<string, BlobId>;
}

describe(`--json of diff, stats, check and find (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-json-inspect-');
  let repo: string;
  let tree: string;
  let first: Shape;
  let second: Shape;
  let index: MasterIndex;
  let copies = 0;
  /** Bytes of each file, by its path under the backed-up folder, before and after the change. */
  const before = new Map<string, Buffer>();
  const after = new Map<string, Buffer>();
  const engine = (args: string[], at = repo) => runEngine([...args, '--repo', at], { native });
  const rawLength = (id: BlobId): number => index.lookup(id)!.rawLength;
  const sum = (ns: number[]): number => ns.reduce((a, b) => a + b, 0);

  async function shapeOf(r: Repository, id: string): Promise<Shape> {
    const { snapshot } = await r.resolveSnapshot(id);
    const path: BlobId[] = [snapshot.tree];
    for (const name of tree.split('/').filter((c) => c !== '')) {
      const node = (await r.loadTree(index, path[path.length - 1]!)).nodes.find((n) => n.name === name)!;
      path.push(node.subtree!);
    }
    const below = new Map<string, BlobId>();
    const blob = new Map<string, BlobId>();
    const walk = async (treeId: BlobId, prefix: string): Promise<void> => {
      for (const n of (await r.loadTree(index, treeId)).nodes) {
        if (n.type === 'dir') {
          below.set(`${prefix}${n.name}`, n.subtree!);
          await walk(n.subtree!, `${prefix}${n.name}/`);
        } else if (n.type === 'file') {
          expect(n.content, `${n.name} is one blob`).toHaveLength(1);
          blob.set(`${prefix}${n.name}`, n.content![0]!);
        }
      }
    };
    await walk(path[path.length - 1]!, '');
    return { id, time: snapshot.time, path, below, blob };
  }

  /** A copy of the sound repository for one test to damage. */
  async function damaged(): Promise<string> {
    const copy = join(work, `copy-${++copies}`);
    await cp(repo, copy, { recursive: true });
    return copy;
  }

  beforeAll(async () => {
    repo = join(work, 'repo');
    tree = join(work, 'tree');
    await mkdir(join(tree, 'sub'), { recursive: true });
    // Sizes that differ from one another, contents that do not repeat, each file one blob.
    for (const [name, size] of [['keep.txt', 3000], ['edit.txt', 2000], ['gone.txt', 1500], ['mode.sh', 100], ['sub/deep.txt', 700]] as const) {
      before.set(name, randomBytes(size));
      await writeFile(join(tree, name), before.get(name)!);
      await chmod(join(tree, name), 0o644);
    }
    // Modes set, not left to the umask: find's test reads them.
    for (const dir of [tree, join(tree, 'sub')]) await chmod(dir, 0o755);
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
    const a = await engine(['backup', '--json', tree]);
    expect(a.code, a.stderr).toBe(0);

    for (const [k, v] of before) if (k !== 'gone.txt') after.set(k, v);
    after.set('edit.txt', randomBytes(2500));
    await writeFile(join(tree, 'edit.txt'), after.get('edit.txt')!);
    await rm(join(tree, 'gone.txt'));
    await chmod(join(tree, 'mode.sh'), 0o755);
    await mkdir(join(tree, 'new'));
    after.set('new/file.txt', randomBytes(1200));
    // The same bytes as keep.txt, in a folder both snapshots have: a blob of both sides, not "added".
    after.set('new/copy.txt', before.get('keep.txt')!);
    // The same bytes as sub/deep.txt, in a folder the same in both (which diff does not compare):
    // not "added" either, which only reading that folder tells.
    after.set('new/deep.txt', before.get('sub/deep.txt')!);
    for (const name of ['new/file.txt', 'new/copy.txt', 'new/deep.txt']) {
      await writeFile(join(tree, name), after.get(name)!);
      await chmod(join(tree, name), 0o644);
    }
    await chmod(join(tree, 'new'), 0o755);
    const b = await engine(['backup', '--json', tree]);
    expect(b.code, b.stderr).toBe(0);

    const { primitives } = await loadPrimitives('auto');
    const r = await Repository.open(new LocalBackend(repo), primitives, new TextEncoder().encode(TEST_PASSWORD));
    index = await r.loadIndex();
    first = await shapeOf(r, String(a.json?.snapshot_id));
    second = await shapeOf(r, String(b.json?.snapshot_id));
    // The folder that did not change is the same tree in both: diff must not count what is in it.
    expect(second.below.get('sub')).toBe(first.below.get('sub'));
  });

  describe('diff', () => {
    it("one change line per path with restic's modifier, and statistics that count what only one side references", async () => {
      const d = await engine(['diff', '--json', first.id, second.id]);
      expect(d.code, d.stderr).toBe(0);
      expect(d.stderr).toBe('');
      const lines = validateLines('diff', d.stdout);
      const changes = lines.filter((l) => l.message_type === 'change') as { path: string; modifier: string }[];
      expect(lines.slice(0, -1).every((l) => l.message_type === 'change')).toBe(true);

      // In the backed-up folder: exactly these. Above it: only folders on the way whose times moved.
      expect(changes.filter((c) => c.path.startsWith(`${tree}/`)).map((c) => `${c.modifier} ${c.path.slice(tree.length)}`)).toEqual(['U /', 'M /edit.txt', '- /gone.txt', 'U /mode.sh', '+ /new/', '+ /new/copy.txt', '+ /new/deep.txt', '+ /new/file.txt']);
      for (const c of changes.filter((x) => !x.path.startsWith(`${tree}/`))) {
        expect(c.modifier, c.path).toBe('U');
        expect(`${tree}/`.startsWith(c.path), c.path).toBe(true);
      }

      // Every tree on the way to the folder is new (each holds a changed child), and new/'s;
      // data: edit.txt's new contents and new/file.txt (new/copy.txt's and new/deep.txt's blobs
      // were there before).
      const addedTrees = [...second.path, second.below.get('new')!];
      const addedData = [second.blob.get('edit.txt')!, second.blob.get('new/file.txt')!];
      const removedData = [first.blob.get('edit.txt')!, first.blob.get('gone.txt')!];
      expect(new Set(addedTrees).size).toBe(first.path.length + 1);
      for (const t of first.path) expect(addedTrees).not.toContain(t);
      const stats = lines[lines.length - 1]!;
      expect(stats).toEqual({
        message_type: 'statistics',
        source_snapshot: first.id,
        target_snapshot: second.id,
        changed_files: 1,
        added: { files: 3, dirs: 1, others: 0, data_blobs: 2, tree_blobs: addedTrees.length, bytes: sum([...addedTrees, ...addedData].map(rawLength)) },
        removed: { files: 1, dirs: 0, others: 0, data_blobs: 2, tree_blobs: first.path.length, bytes: sum([...first.path, ...removedData].map(rawLength)) },
      });
      // The raw length of a data blob is the file's size (one blob each).
      expect(sum(addedData.map(rawLength))).toBe(2500 + 1200);
    });

    it('the other way round, added and removed trade places; a snapshot against itself differs in nothing', async () => {
      const back = validateLines('diff', (await engine(['diff', '--json', second.id, first.id])).stdout);
      const forth = validateLines('diff', (await engine(['diff', '--json', first.id, second.id])).stdout);
      const [b, f] = [back[back.length - 1]!, forth[forth.length - 1]!];
      expect(b.added).toEqual(f.removed);
      expect(b.removed).toEqual(f.added);
      expect(back.filter((l) => l.message_type === 'change').map((l) => l.modifier)).toContain('-');

      const same = await engine(['diff', '--json', second.id.slice(0, 8), 'latest']);
      expect(same.code, same.stderr).toBe(0);
      const none = { files: 0, dirs: 0, others: 0, data_blobs: 0, tree_blobs: 0, bytes: 0 };
      expect(validateLines('diff', same.stdout)).toEqual([{ message_type: 'statistics', source_snapshot: second.id, target_snapshot: second.id, changed_files: 0, added: none, removed: none }]);
    });

    it('human output is unchanged: one "X path" line per change, no statistics', async () => {
      const h = await engine(['diff', first.id, second.id]);
      expect(h.code, h.stderr).toBe(0);
      expect(h.stdout.split('\n').filter((l) => l.includes(`${tree}/`))).toEqual([`U ${tree}/`, `M ${tree}/edit.txt`, `- ${tree}/gone.txt`, `U ${tree}/mode.sh`, `+ ${tree}/new/`, `+ ${tree}/new/copy.txt`, `+ ${tree}/new/deep.txt`, `+ ${tree}/new/file.txt`]);
    });
  });

  describe('stats', () => {
    it("one object in restic's keys, counting the files and blobs of the snapshots chosen", async () => {
      const files = (m: Map<string, Buffer>): { n: number; bytes: number } => ({ n: m.size, bytes: sum([...m.values()].map((b) => b.length)) });
      const cases = [
        { args: [], snapshots: 2, files: files(before).n + files(after).n, bytes: files(before).bytes + files(after).bytes, shapes: [first, second] },
        { args: ['latest'], snapshots: 1, files: files(after).n, bytes: files(after).bytes, shapes: [second] },
        { args: [first.id.slice(0, 8)], snapshots: 1, files: files(before).n, bytes: files(before).bytes, shapes: [first] },
      ];
      for (const c of cases) {
        const s = await engine(['stats', '--json', ...c.args]);
        expect(s.code, s.stderr).toBe(0);
        expect(s.stderr).toBe('');
        const lines = validateLines('stats', s.stdout);
        expect(lines).toHaveLength(1);
        const o = lines[0]! as Record<string, number>;
        const dataBlobs = new Set(c.shapes.flatMap((x) => [...x.blob.values()]));
        const treeBlobs = new Set(c.shapes.flatMap((x) => [...x.path, ...x.below.values()]));
        const raw = sum([...dataBlobs, ...treeBlobs].map(rawLength));
        expect(o, c.args.join(' ') || 'all').toMatchObject({ snapshots_count: c.snapshots, total_file_count: c.files, total_size: c.bytes, data_blobs: dataBlobs.size, tree_blobs: treeBlobs.size, total_blob_count: dataBlobs.size + treeBlobs.size, unique_raw_bytes: raw });
        expect(o.compression_ratio).toBeCloseTo(raw / o.unique_stored_bytes!, 10);
        expect(o.compression_space_saving).toBeCloseTo((1 - o.unique_stored_bytes! / raw) * 100, 10);
        expect(o.dedup_ratio).toBeCloseTo(c.bytes / raw, 10);
        expect(o.packs).toBe((await dataPacks(repo)).length);
        expect(o).not.toHaveProperty('message_type');
      }
    });
  });

  describe('check', () => {
    it('a sound repository: the summary alone on stdout, nothing on stderr', async () => {
      for (const extra of [[], ['--read-data']]) {
        const c = await engine(['check', '--json', ...extra]);
        expect(c.code, c.stderr).toBe(0);
        expect(c.stderr).toBe('');
        const lines = validateLines('check', c.stdout);
        expect(lines).toHaveLength(1);
        const packs = (await dataPacks(repo)).length;
        expect(lines[0]).toMatchObject({ message_type: 'summary', num_errors: 0, broken_packs: [], suggest_repair_index: false, suggest_prune: false, num_warnings: 0, snapshots: 2, packs, packs_read: extra.length > 0 ? packs : 0 });
      }
    });

    it("a damaged pack: error lines on stderr naming it, num_errors and broken_packs in the summary, exit 4", async () => {
      const r = await damaged();
      const packId = index.lookup(second.blob.get('edit.txt')!)!.packId;
      const file = join(r, packName(packId));
      await flipByte(file, (await stat(file)).size - 10);
      const c = await engine(['check', '--json'], r);
      expect(c.code, c.stderr).toBe(4);
      const errors = validateLines('check', c.stderr);
      expect(errors.length).toBeGreaterThan(0);
      expect(errors.every((e) => e.message_type === 'error')).toBe(true);
      expect(errors.map((e) => e.object)).toContain(packName(packId));
      expect(errors.find((e) => e.object === packName(packId))!.message).toMatch(new RegExp(`^${packName(packId)}: .*authentication failed`));
      const [summary, ...rest] = validateLines('check', c.stdout);
      expect(rest).toEqual([]);
      expect(summary).toMatchObject({ message_type: 'summary', num_errors: errors.length, broken_packs: [packId], suggest_repair_index: false, suggest_prune: false });

      // The data of a pack damaged in the middle is found by --read-data only, the pack listed as broken.
      const m = await damaged();
      const loc = index.lookup(second.blob.get('new/file.txt')!)!;
      await flipByte(join(m, packName(loc.packId)), loc.offset + Math.floor(loc.length / 2));
      expect(validateLines('check', (await engine(['check', '--json'], m)).stdout)[0]).toMatchObject({ num_errors: 0, broken_packs: [] });
      const read = await engine(['check', '--json', '--read-data'], m);
      expect(read.code).toBe(4);
      const blobError = validateLines('check', read.stderr).find((e) => e.object === packName(loc.packId) && String(e.message).includes(`data blob ${second.blob.get('new/file.txt')} fails authentication`));
      expect(blobError, read.stderr).toMatchObject({ message_type: 'error' });
      expect(validateLines('check', read.stdout)[0]).toMatchObject({ broken_packs: [loc.packId] });
    });

    it('a missing pack calls for repair index and is not a broken pack; a pack in no index calls for prune, a warning only', async () => {
      const r = await damaged();
      const packId: PackId = index.lookup(first.blob.get('gone.txt')!)!.packId;
      await unlink(join(r, packName(packId)));
      const c = await engine(['check', '--json'], r);
      expect(c.code).toBe(4);
      const errors = validateLines('check', c.stderr);
      expect(errors.find((e) => e.object === packName(packId))?.message).toContain('is missing');
      expect(validateLines('check', c.stdout)).toEqual([expect.objectContaining({ num_errors: errors.length, broken_packs: [], suggest_repair_index: true, suggest_prune: false })]);

      const j = await damaged();
      const junk = 'ab'.repeat(32);
      await mkdir(join(j, 'data', 'ab'), { recursive: true });
      await writeFile(join(j, 'data', 'ab', junk), Buffer.alloc(1000, 7));
      const w = await engine(['check', '--json'], j);
      expect(w.code, w.stderr).toBe(0);
      expect(validateLines('check', w.stderr)).toEqual([expect.objectContaining({ message_type: 'warning', object: `data/ab/${junk}` })]);
      expect(validateLines('check', w.stdout)).toEqual([expect.objectContaining({ num_errors: 0, num_warnings: 1, unreferenced_packs: 1, broken_packs: [], suggest_repair_index: false, suggest_prune: true })]);
    });
  });

  describe('find', () => {
    it("by name: restic's array of matches per snapshot, newest first", async () => {
      const f = await engine(['find', '--json', 'edit.txt']);
      expect(f.code, f.stderr).toBe(0);
      expect(f.stderr).toBe('');
      const [doc, ...more] = validateLines('find', f.stdout) as unknown as { matches: Record<string, unknown>[]; hits: number; snapshot: string }[][];
      expect(more).toEqual([]);
      expect(doc!.map((s) => [s.snapshot, s.hits, s.matches.map((m) => [m.path, m.type, m.size, m.permissions])])).toEqual([
        [second.id, 1, [[`${tree}/edit.txt`, 'file', 2500, '-rw-r--r--']]],
        [first.id, 1, [[`${tree}/edit.txt`, 'file', 2000, '-rw-r--r--']]],
      ]);
      const modes = validateLines('find', (await engine(['find', '--json', '-s', 'latest', 'mode.sh', 'new'])).stdout)[0] as unknown as { matches: { path: string; permissions: string; mode: number }[] }[];
      expect(modes[0]!.matches.map((m) => [m.path, m.permissions, m.mode])).toEqual([
        [`${tree}/mode.sh`, '-rwxr-xr-x', 0o755],
        [`${tree}/new`, 'drwxr-xr-x', 2 ** 31 + 0o755],
        [`${tree}/new/copy.txt`, '-rw-r--r--', 0o644],
        [`${tree}/new/deep.txt`, '-rw-r--r--', 0o644],
        [`${tree}/new/file.txt`, '-rw-r--r--', 0o644],
      ]);
      expect(validateLines('find', (await engine(['find', '--json', 'no-such-name'])).stdout)).toEqual([[]]);
    });

    it('--blob and --tree: one object per place the blob or tree is met', async () => {
      const blob = second.blob.get('new/file.txt')!;
      const b = await engine(['find', '--json', '--blob', blob.slice(0, 12)]);
      expect(b.code, b.stderr).toBe(0);
      expect(validateLines('find', b.stdout)).toEqual([[{ object_type: 'blob', id: blob, path: `${tree}/new/file.txt`, parent_tree: second.below.get('new'), snapshot: second.id, time: second.time }]]);
      // keep.txt's blob: in both snapshots, and twice in the second (new/copy.txt).
      const kept = validateLines('find', (await engine(['find', '--json', '--blob', first.blob.get('keep.txt')!])).stdout)[0] as unknown as { path: string; snapshot: string }[];
      expect(kept.map((k) => [k.snapshot, k.path.slice(tree.length)])).toEqual([
        [second.id, '/keep.txt'],
        [second.id, '/new/copy.txt'],
        [first.id, '/keep.txt'],
      ]);
      const sub = second.below.get('sub')!;
      const t = validateLines('find', (await engine(['find', '--json', '--tree', sub])).stdout)[0] as unknown as Record<string, unknown>[];
      expect(t.map((x) => [x.object_type, x.id, x.snapshot, x.parent_tree])).toEqual([
        ['tree', sub, second.id, undefined],
        ['tree', sub, first.id, undefined],
      ]);
      expect(t.every((x) => String(x.path).startsWith(`${tree}/sub`))).toBe(true);
    });
  });

  it("the schemas refuse the old shapes and a key out of place (they are live)", () => {
    expect(() => validateLines('check', '{"message_type":"finding","severity":"error","object":"x","message":"y"}')).toThrow(/does not match/);
    expect(() => validateLines('check', '{"message_type":"summary","errors":0,"warnings":0}')).toThrow(/num_errors/);
    expect(() => validateLines('stats', '{"message_type":"summary","snapshots":1,"files":2,"restoreBytes":3}')).toThrow(/total_size/);
    expect(() => validateLines('diff', '{"message_type":"change","path":"/a","change":"added"}')).toThrow(/does not match/);
    expect(() => validateLines('diff', '{"message_type":"change","path":"/a","modifier":"X"}')).toThrow(/does not match/);
    expect(() => validateLines('find', '[{"matches":[],"hits":0,"snapshot":"x"}]')).toThrow(/does not match/);
  });
});
