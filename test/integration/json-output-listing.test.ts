// --json of `snapshots`, `forget` and `ls` against their schemas (docs/json/snapshots, forget and
// ls .schema.json, restic 0.18's shapes): every stdout line validates, nothing but JSON reaches
// stderr, and the values are the repository's: the ids of the backups made here, what a policy
// keeps and removes and why, each node's path, type, size and target.
import { mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadPrimitives } from '../../native-bindings/index.js';
import { LocalBackend } from '../../src/backend/local/local-backend.js';
import type { Snapshot } from '../../src/format/snapshot.js';
import { Repository } from '../../src/repository/repository.js';
import { currentNative, runEngine, TEST_PASSWORD, type RunResult } from '../support/cli.js';
import { validateLines } from '../support/json-schema.js';
import { workdirPerFile } from '../support/workdir.js';

const native = currentNative();
const HOST = 'json-host';

type Obj = Record<string, unknown>;
interface SnapshotJson {
  id: string;
  short_id: string;
  parent?: string;
  tree: string;
  paths: string[];
  hostname: string;
  tags: string[];
  summary?: Record<string, number | string>;
}
interface ForgetGroup {
  tags: string[] | null;
  host: string;
  paths: string[] | null;
  keep: SnapshotJson[];
  remove: SnapshotJson[];
  reasons: { snapshot: SnapshotJson; matches: string[] }[];
}

describe(`snapshots, forget and ls --json (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-json-listing-');
  const repo = (): string => join(work, 'repo');
  const src = (): string => join(work, 'src');
  const engine = (args: string[]): Promise<RunResult> => runEngine([...args, '--repo', repo()], { native });
  const ids: string[] = [];

  /** The snapshot ids in the repository (its snapshots/ folder), not from any command's output. */
  const stored = async (): Promise<string[]> => (await readdir(join(repo(), 'snapshots')).catch(() => [] as string[])).sort();

  /** A backup (human output: its JSON is not under test here); returns the new snapshot's id. */
  async function backup(tags: string[]): Promise<string> {
    const before = await stored();
    const r = await engine(['backup', '--host', HOST, ...tags.flatMap((t) => ['--tag', t]), src()]);
    expect(r.code, r.stderr).toBe(0);
    const added = (await stored()).filter((id) => !before.includes(id));
    expect(added).toHaveLength(1);
    return added[0]!;
  }

  /**
   * The command ran (exit 0), each stdout line matches the command's schema, and whatever reached
   * stderr is JSON too (warnings, messages), so a script reading either stream never meets text.
   */
  function lines(command: string, r: RunResult): Obj[] {
    expect(r.code, r.stderr).toBe(0);
    for (const line of r.stderr.split('\n').filter((l) => l.trim() !== '')) {
      expect(() => JSON.parse(line) as unknown, `stderr line is not JSON: ${line}`).not.toThrow();
    }
    return validateLines(command, r.stdout);
  }

  beforeAll(async () => {
    await mkdir(join(src(), 'folder'), { recursive: true });
    await writeFile(join(src(), 'a.txt'), 'hello\n');
    await writeFile(join(src(), 'empty'), '');
    await writeFile(join(src(), 'folder', 'b.txt'), 'b\n');
    await symlink('a.txt', join(src(), 'link'));
    expect((await engine(['init'])).code).toBe(0);
    ids.push(await backup(['one']));
    await writeFile(join(src(), 'a.txt'), 'hello again\n');
    ids.push(await backup(['two', 'extra']));
  }, 120_000);

  it('snapshots --json: one array of restic Snapshot objects, oldest first, ids and figures the backups\'', async () => {
    const out = lines('snapshots', await engine(['snapshots', '--json']));
    expect(out).toHaveLength(1);
    const list = out[0] as unknown as SnapshotJson[];
    expect(list.map((s) => s.id)).toEqual(ids);
    expect(list.map((s) => s.short_id)).toEqual(ids.map((id) => id.slice(0, 8)));
    const [first, second] = list as [SnapshotJson, SnapshotJson];
    expect(first).toMatchObject({ hostname: HOST, paths: [src()], tags: ['one'] });
    expect(first.parent).toBeUndefined();
    expect(second).toMatchObject({ hostname: HOST, paths: [src()], tags: ['two', 'extra'], parent: ids[0] });
    // a.txt, empty and folder/b.txt (the symlink is no file): 6 + 0 + 2 bytes, then 12 + 0 + 2.
    expect(first.summary).toMatchObject({ files_new: 3, files_changed: 0, files_unmodified: 0, total_files_processed: 3, total_bytes_processed: 8 });
    expect(second.summary).toMatchObject({ files_new: 0, files_changed: 1, files_unmodified: 2, total_files_processed: 3, total_bytes_processed: 14 });

    // A filter that keeps nothing: an empty array, still one valid line.
    expect(lines('snapshots', await engine(['snapshots', '--json', '--host', 'nobody']))).toEqual([[]]);
    // A warning (the filter is ignored when ids are given) reaches stderr as JSON.
    const warned = await engine(['snapshots', '--json', '--host', 'nobody', ids[0]!.slice(0, 8)]);
    expect((lines('snapshots', warned)[0] as unknown as SnapshotJson[]).map((s) => s.id)).toEqual([ids[0]]);
    expect(JSON.parse(warned.stderr.trim()) as Obj).toMatchObject({ message_type: 'warning' });

    // The schema is closed: engine's old camelCase keys would be caught.
    expect(() => validateLines('snapshots', JSON.stringify([{ ...list[0], copiedFrom: ids[0] }]))).toThrow(/(additional|unevaluated) propert/);
    expect(() => validateLines('snapshots', JSON.stringify([{ ...list[0], summary: { ...first.summary, filesNew: 3 } }]))).toThrow(/(additional|unevaluated) propert/);
  });

  it('snapshots has no --group-by (restic\'s grouped form is not printed; add it to the schema with the flag)', async () => {
    expect((await engine(['snapshots', '--json', '--group-by', 'host'])).code).toBe(2);
  });

  it('forget --json --dry-run: restic\'s ForgetGroup array, the rule named in the reasons, nothing removed', async () => {
    const out = lines('forget', await engine(['forget', '--json', '--dry-run', '--keep-last', '1']));
    expect(out).toHaveLength(1);
    const groups = out[0] as unknown as ForgetGroup[];
    expect(groups).toHaveLength(1);
    const g = groups[0]!;
    // Grouped by host and paths (the default): no tags key.
    expect({ tags: g.tags, host: g.host, paths: g.paths }).toEqual({ tags: null, host: HOST, paths: [src()] });
    expect(g.keep.map((s) => s.id)).toEqual([ids[1]]);
    expect(g.remove.map((s) => s.id)).toEqual([ids[0]]);
    expect(g.reasons.map((k) => [k.snapshot.id, k.matches])).toEqual([[ids[1], ['last']]]);
    expect(g.keep[0]!.tags).toEqual(['two', 'extra']);
    expect(await stored()).toEqual([...ids].sort());

    // Each rule that keeps a snapshot is named; by tags, each group says its tags (sorted).
    const tagged = lines('forget', await engine(['forget', '--json', '--dry-run', '--keep-last', '1', '--keep-tag', 'one']))[0] as unknown as ForgetGroup[];
    expect(tagged[0]!.remove).toEqual([]);
    expect(tagged[0]!.reasons.map((k) => [k.snapshot.id, k.matches])).toEqual([
      [ids[1], ['last']],
      [ids[0], ['tag one']],
    ]);
    const byTags = lines('forget', await engine(['forget', '--json', '--dry-run', '--keep-last', '1', '--group-by', 'tags']))[0] as unknown as ForgetGroup[];
    expect(byTags.map((x) => ({ tags: x.tags, host: x.host, paths: x.paths, keep: x.keep.map((s) => s.id), remove: x.remove.length }))).toEqual([
      { tags: ['extra', 'two'], host: '', paths: null, keep: [ids[1]], remove: 0 },
      { tags: ['one'], host: '', paths: null, keep: [ids[0]], remove: 0 },
    ]);
    expect(await stored()).toEqual([...ids].sort());
  });

  it('ls --json: the snapshot line, then one restic node line per entry with path, type, size and target', async () => {
    const out = lines('ls', await engine(['ls', '--json', 'latest']));
    const [head, ...nodes] = out as [Obj, ...Obj[]];
    expect(head).toMatchObject({ message_type: 'snapshot', struct_type: 'snapshot', id: ids[1], short_id: ids[1]!.slice(0, 8), paths: [src()], tags: ['two', 'extra'] });
    expect(nodes.every((n) => n.message_type === 'node' && n.struct_type === 'node')).toBe(true);
    // The folders on the way to src (stored under its absolute path), then src's entries in name order.
    const way = src().split('/').slice(1, -1).map((_, i, parts) => `/${parts.slice(0, i + 1).join('/')}`);
    expect(nodes.map((n) => n.path)).toEqual([...way, src(), ...['a.txt', 'empty', 'folder', 'folder/b.txt', 'link'].map((p) => `${src()}/${p}`)]);
    for (const n of nodes) expect(n.name).toBe(String(n.path).split('/').pop());
    const at = (p: string): Obj => nodes.find((n) => n.path === `${src()}/${p}`)!;
    expect(at('a.txt')).toMatchObject({ type: 'file', size: 12 });
    expect(at('empty')).toMatchObject({ type: 'file', size: 0 });
    expect(at('folder/b.txt')).toMatchObject({ type: 'file', size: 2 });
    expect(at('link')).toMatchObject({ type: 'symlink', linktarget: 'a.txt' });
    expect(at('link').size).toBeUndefined();
    expect(at('folder').type).toBe('dir');
    expect(at('folder').size).toBeUndefined();
    // Go's os.FileMode: the type bit above the permissions, and the permissions as Go writes them.
    expect(at('folder').mode as number).toBeGreaterThanOrEqual(2 ** 31);
    expect(String(at('folder').permissions)).toMatch(/^d[rwx-]{9}$/);
    expect(Number(at('link').mode) & 2 ** 27).toBe(2 ** 27);
    expect(String(at('a.txt').permissions)).toMatch(/^-[rwx-]{9}$/);
    expect(Number(at('a.txt').mode) & 0o777).toBe(Number(at('a.txt').mode));

    // A node line with the old camelCase target, or without `name`, is caught.
    const { linktarget, ...rest } = at('link');
    expect(() => validateLines('ls', JSON.stringify({ ...rest, linkTarget: linktarget }))).toThrow(/linktarget|additional propert/);
    expect(() => validateLines('ls', JSON.stringify({ ...at('a.txt'), name: undefined }))).toThrow(/name/);
  });

  it('forget --json (real): the group says what was removed, and it is gone; --prune adds prune\'s line; ids given: one group', async () => {
    const out = lines('forget', await engine(['forget', '--json', '--keep-last', '1']));
    expect(out).toHaveLength(1);
    const [g] = out[0] as unknown as ForgetGroup[];
    expect(g!.remove.map((s) => s.id)).toEqual([ids[0]]);
    expect(g!.keep.map((s) => s.id)).toEqual([ids[1]]);
    expect(await stored()).toEqual([ids[1]]);
    expect((lines('snapshots', await engine(['snapshots', '--json']))[0] as unknown as SnapshotJson[]).map((s) => s.id)).toEqual([ids[1]]);

    // --prune: the forget array, then prune's summary line; both validate.
    await writeFile(join(src(), 'a.txt'), 'third\n');
    const third = await backup([]);
    const pruned = lines('forget', await engine(['forget', '--json', '--keep-last', '1', '--prune', '--max-unused', '0%']));
    expect(pruned).toHaveLength(2);
    expect((pruned[0] as unknown as ForgetGroup[]).flatMap((x) => x.remove.map((s) => s.id))).toEqual([ids[1]]);
    expect(pruned[1]).toMatchObject({ message_type: 'summary', snapshots: 1 });
    expect(await stored()).toEqual([third]);

    // Snapshots named instead of a policy: one group with no key, the named ones removed.
    await writeFile(join(src(), 'a.txt'), 'fourth\n');
    const fourth = await backup(['four']);
    const named = lines('forget', await engine(['forget', '--json', fourth.slice(0, 8)]));
    expect(named).toEqual([[{ tags: null, host: '', paths: null, keep: [], remove: [expect.objectContaining({ id: fourth, tags: ['four'] })], reasons: [] }]]);
    expect(await stored()).toEqual([third]);
  }, 120_000);

  it('a snapshot stored without the optional summary is printed without one, still valid', async () => {
    const { primitives } = await loadPrimitives(native === 'off' ? 'fallback' : 'auto');
    const r = await Repository.open(new LocalBackend(repo()), primitives, new TextEncoder().encode(TEST_PASSWORD));
    const { snapshot } = await r.resolveSnapshot('latest');
    const bare: Record<string, unknown> = { ...snapshot, time: new Date(Date.parse(snapshot.time) + 1000).toISOString(), tags: ['bare'] };
    delete bare.summary;
    const id = await r.saveSnapshot(bare as unknown as Snapshot);
    try {
      const list = lines('snapshots', await engine(['snapshots', '--json']))[0] as unknown as SnapshotJson[];
      const listed = list.find((s) => s.id === id);
      expect(listed).toMatchObject({ tags: ['bare'] });
      expect(listed!.summary).toBeUndefined();
      expect(list.find((s) => s.id !== id)!.summary).toBeDefined();
      const plan = lines('forget', await engine(['forget', '--json', '--dry-run', '--keep-last', '1']))[0] as unknown as ForgetGroup[];
      expect(plan[0]!.keep.map((s) => s.id)).toEqual([id]);
      expect(lines('ls', await engine(['ls', '--json', id]))[0]).toMatchObject({ id, message_type: 'snapshot' });
    } finally {
      await r.removeSnapshot(id);
    }
  });
});
