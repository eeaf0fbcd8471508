// restic's snapshot selection (issue 17): --host, --tag and --path choose which snapshots
// `snapshots`, `forget` and `tag` work on and which one "latest" means for `ls`, `restore` and
// `diff`; `snapshots --latest N`; and `tag --add/--remove/--set`, which replaces each snapshot by
// a new one naming the first as `original` and leaves a repository that `check` passes.
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { workdirPerFile } from '../support/workdir.js';
import { currentNative, runEngine, type RunResult } from '../support/cli.js';

const native = currentNative();

interface ListedJson {
  id: string;
  hostname: string;
  tags: string[];
  paths: string[];
  original?: string;
}

describe(`snapshot filters and tags (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-snapfilter-');
  const repo = (): string => join(work, 'repo');
  const a = (): string => join(work, 'a');
  const b = (): string => join(work, 'b');
  const engine = (args: string[]): Promise<RunResult> => runEngine([...args, '--repo', repo()], { native });
  const ids: Record<string, string> = {};

  async function backup(name: string, host: string, tags: string[], paths: string[]): Promise<void> {
    const r = await engine(['backup', '--json', '--host', host, ...tags.flatMap((t) => ['--tag', t]), ...paths]);
    expect(r.code, r.stderr).toBe(0);
    ids[name] = String(r.json?.snapshot_id);
  }

  async function list(args: string[] = []): Promise<ListedJson[]> {
    const r = await engine(['snapshots', '--json', ...args]);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as ListedJson[];
  }

  /** The names (S1...) of the snapshots listed, in the order listed. */
  const names = (l: ListedJson[]): string[] => l.map((s) => Object.keys(ids).find((k) => ids[k] === s.id) ?? s.id.slice(0, 8));

  beforeAll(async () => {
    await mkdir(join(a(), 'sub'), { recursive: true });
    await mkdir(b(), { recursive: true });
    await writeFile(join(a(), 'sub', 'one.txt'), 'one\n');
    await writeFile(join(b(), 'two.txt'), 'two\n');
    const init = await runEngine(['init', '--repo', repo(), '--kdf-memory', '8M', '--kdf-time', '1'], { native });
    expect(init.code, init.stderr).toBe(0);
    await backup('S1', 'h1', ['x'], [a()]);
    await backup('S2', 'h2', ['x', 'y'], [a()]);
    await backup('S3', 'h1', [], [a(), b()]);
    await backup('S4', 'h1', ['y'], [b()]);
    await backup('S5', 'h1', ['x'], [a()]);
  }, 120_000);

  it('snapshots: --host any of, --tag all of one list (any list), "" for untagged, --path all of', async () => {
    expect(names(await list())).toEqual(['S1', 'S2', 'S3', 'S4', 'S5']);
    expect(names(await list(['--host', 'h1']))).toEqual(['S1', 'S3', 'S4', 'S5']);
    expect(names(await list(['-H', 'h2', '--host', 'h1', '--tag', 'y']))).toEqual(['S2', 'S4']);
    expect(names(await list(['--tag', 'x,y']))).toEqual(['S2']);
    expect(names(await list(['--tag', 'x', '--tag', 'y']))).toEqual(['S1', 'S2', 'S4', 'S5']);
    expect(names(await list(['--tag', '']))).toEqual(['S3']);
    expect(names(await list(['--path', `${a()}/`]))).toEqual(['S1', 'S2', 'S3', 'S5']);
    expect(names(await list(['--path', a(), '--path', b()]))).toEqual(['S3']);
    expect(names(await list(['--host', 'h1', '--path', a(), '--tag', 'x']))).toEqual(['S1', 'S5']);
    expect(names(await list(['--host', 'nobody']))).toEqual([]);
    // Ids are taken whatever the filter says (restic), and a warning says the filter was not used.
    const byId = await engine(['snapshots', '--json', '--host', 'h2', ids.S1!.slice(0, 8)]);
    expect(names(JSON.parse(byId.stdout) as ListedJson[])).toEqual(['S1']);
    expect(byId.stderr).toContain('ignored');
    expect(names(await list(['latest', '--tag', 'y']))).toEqual(['S4']);
  }, 120_000);

  it('snapshots prints local times (TZ applies, as restic) and names the zone under the table', async () => {
    const list = JSON.parse((await engine(['snapshots', '--json'])).stdout) as { id: string; time: string }[];
    const r = await runEngine(['snapshots', '--repo', repo()], { native, env: { TZ: 'Asia/Kolkata' } });
    expect(r.code, r.stderr).toBe(0);
    // India is UTC+05:30 all year: each row's time is the snapshot's instant shifted by it.
    const shifted = new Date(Date.parse(list[0]!.time) + 330 * 60_000).toISOString().slice(0, 19).replace('T', ' ');
    expect(r.stdout.split('\n').find((l) => l.startsWith(list[0]!.id.slice(0, 8)))).toContain(shifted);
    // ICU may name the zone by its older alias.
    expect(r.stdout).toMatch(new RegExp(`${list.length} snapshot\\(s\\), times in Asia/(Kolkata|Calcutta) \\(UTC\\+05:30 now\\)`));
    const utc = await runEngine(['snapshots', '--repo', repo()], { native, env: { TZ: 'UTC' } });
    expect(utc.stdout).toContain(`${list.length} snapshot(s), times in UTC`);
  });

  it('snapshots --latest N: the N newest of each host and set of paths', async () => {
    expect(names(await list(['--latest', '1']))).toEqual(['S2', 'S3', 'S4', 'S5']);
    expect(names(await list(['--latest', '2']))).toEqual(['S1', 'S2', 'S3', 'S4', 'S5']);
    expect(names(await list(['--latest', '1', '--host', 'h1']))).toEqual(['S3', 'S4', 'S5']);
    const text = await engine(['snapshots', '--latest', '1', '--tag', 'x']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(ids.S2!.slice(0, 8));
    expect(text.stdout).toContain(ids.S5!.slice(0, 8));
    expect(text.stdout).not.toContain(ids.S1!.slice(0, 8));
    expect(text.stdout).toContain('2 snapshot(s)');
    const bad = await engine(['snapshots', '--latest', '0']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--latest');
  }, 60_000);

  it('ls, restore and diff: the filters choose which snapshot "latest" means', async () => {
    const lsFirst = async (args: string[]): Promise<RunResult> => engine(['ls', '--json', ...args]);
    const snapshotOf = (r: RunResult): string => String((JSON.parse(r.stdout.split('\n')[0]!) as { id: string }).id);
    const h2 = await lsFirst(['latest', '--host', 'h2']);
    expect(h2.code, h2.stderr).toBe(0);
    expect(snapshotOf(h2)).toBe(ids.S2);
    expect(snapshotOf(await lsFirst(['latest', '--tag', 'y']))).toBe(ids.S4);
    expect(snapshotOf(await lsFirst(['latest', '--path', a(), '--tag', '']))).toBe(ids.S3);
    expect(snapshotOf(await lsFirst(['latest']))).toBe(ids.S5);
    const none = await engine(['ls', 'latest', '--host', 'nobody']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('no snapshot matches --host nobody');

    const target = join(work, 'restored-y');
    const r = await engine(['restore', 'latest', '--tag', 'y', '--host', 'h1', '--target', target, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json?.snapshot_id).toBe(ids.S4);
    // S4 holds only b; the newest snapshot (S5) holds only a. The snapshot holds b under its
    // absolute path: each folder on the way to it holds only the next one.
    const way = b().split('/').filter((c) => c !== '');
    for (let i = 0; i < way.length; i++) expect(await readdir(join(target, ...way.slice(0, i)))).toEqual([way[i]]);
    expect(await readdir(join(target, b()))).toEqual(['two.txt']);

    // latest:/folder (restic's subfolder form) with a filter: the folder of the snapshot it chose.
    const sub = join(work, 'restored-sub');
    const rs = await engine(['restore', `latest:${a()}/sub`, '--host', 'h2', '--target', sub, '--json']);
    expect(rs.code, rs.stderr).toBe(0);
    expect(rs.json?.snapshot_id).toBe(ids.S2);
    expect(await readdir(sub)).toEqual(['one.txt']);

    const d = await engine(['diff', ids.S4!.slice(0, 8), 'latest', '--host', 'h2', '--json']);
    expect(d.code, d.stderr).toBe(0);
    expect(d.json?.source_snapshot).toBe(ids.S4);
    expect(d.json?.target_snapshot).toBe(ids.S2);
  }, 120_000);

  it('stats counts the snapshots the filters keep, or those named', async () => {
    const all = await engine(['stats', '--json']);
    expect(all.code, all.stderr).toBe(0);
    expect(all.json?.snapshots_count).toBe(5);
    expect((await engine(['stats', '--json', '--host', 'h2'])).json?.snapshots_count).toBe(1);
    expect((await engine(['stats', '--json', '--tag', 'x'])).json?.snapshots_count).toBe(3);
    expect((await engine(['stats', '--json', 'latest', '--host', 'h1'])).json?.snapshots_count).toBe(1);
  });

  it('forget applies its policy only to the snapshots the filters keep', async () => {
    const dry = await engine(['forget', '--keep-last', '1', '--host', 'h1', '--path', a(), '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    // restic's ForgetGroup array (docs/json/forget.schema.json).
    const groups = JSON.parse(dry.stdout) as { host: string; remove: { id: string }[]; keep: { id: string }[] }[];
    // h1 with paths [a] and h1 with [a, b]: S2 (h2) and S4 (paths [b]) are not considered at all.
    expect(groups.map((g) => g.host)).toEqual(['h1', 'h1']);
    expect(groups.flatMap((g) => g.remove.map((r) => r.id))).toEqual([ids.S1]);
    expect(groups.flatMap((g) => g.keep.map((k) => k.id)).sort()).toEqual([ids.S3, ids.S5].sort());
    expect(names(await list())).toEqual(['S1', 'S2', 'S3', 'S4', 'S5']);
  }, 60_000);

  it('tag --add/--remove/--set: a new snapshot naming the original, the old object gone, check passes', async () => {
    const snapshotFiles = async (): Promise<string[]> => (await readdir(join(repo(), 'snapshots'))).sort();
    // --add on every snapshot of host h2 (the filter, no id).
    const add = await engine(['tag', '--add', 'new,extra', '--host', 'h2', '--json']);
    expect(add.code, add.stderr).toBe(0);
    const lines = add.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual([{ message_type: 'changed', old_snapshot_id: ids.S2, new_snapshot_id: expect.any(String) }, { message_type: 'summary', changed_snapshots: 1 }]);
    const first = String(lines[0]!.new_snapshot_id);
    expect(first).not.toBe(ids.S2);
    expect(await snapshotFiles()).not.toContain(ids.S2);
    expect(await snapshotFiles()).toContain(first);
    let s = (await list([first.slice(0, 8)]))[0]!;
    expect(s.tags).toEqual(['x', 'y', 'new', 'extra']);
    expect(s.original).toBe(ids.S2);
    expect(s.hostname).toBe('h2');

    // --remove on "latest" as the filter chooses it; `original` still names the first snapshot.
    const remove = await engine(['tag', '--remove', 'x', '--remove', 'extra', 'latest', '--tag', 'new']);
    expect(remove.code, remove.stderr).toBe(0);
    expect(remove.stdout.trim()).toBe('modified 1 snapshot(s)');
    s = (await list(['--tag', 'new']))[0]!;
    expect(s.id).not.toBe(first);
    expect(s.tags).toEqual(['y', 'new']);
    expect(s.original).toBe(ids.S2);
    expect(await snapshotFiles()).not.toContain(first);

    // --set by id; a change that changes nothing rewrites nothing.
    const set = await engine(['tag', '--set', 'only', '--set', 'more', s.id.slice(0, 10)]);
    expect(set.code, set.stderr).toBe(0);
    const after = await list(['--tag', 'only,more']);
    expect(after.map((x) => [x.tags, x.original])).toEqual([[['only', 'more'], ids.S2]]);
    const same = await engine(['tag', '--add', 'only', '--tag', 'only']);
    expect(same.stdout.trim()).toBe('no snapshots were modified');
    expect((await list(['--tag', 'only']))[0]!.id).toBe(after[0]!.id);

    // The others are untouched, and there are as many snapshots as before.
    const all = await list();
    expect(all).toHaveLength(5);
    expect(names(all).filter((n) => n.startsWith('S'))).toEqual(['S1', 'S3', 'S4', 'S5']);
    // restore latest follows the new id.
    const ls = await engine(['ls', 'latest', '--host', 'h2', '--json']);
    expect((JSON.parse(ls.stdout.split('\n')[0]!) as { id: string }).id).toBe(after[0]!.id);

    const check = await engine(['check']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
  }, 120_000);

  it('tag refuses nothing to do and --set with --add or --remove (exit 2), before changing anything', async () => {
    const before = (await readdir(join(repo(), 'snapshots'))).sort();
    const nothing = await engine(['tag']);
    expect(nothing.code).toBe(2);
    expect(nothing.stderr).toContain('nothing to do');
    const both = await engine(['tag', '--set', 'a', '--remove', 'b']);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--set cannot be given with --add or --remove');
    const typo = await engine(['tag', '--add', 'a', 'ffff']);
    expect(typo.code).toBe(2);
    expect(typo.stderr).toContain('no snapshot matches "ffff"');
    expect((await readdir(join(repo(), 'snapshots'))).sort()).toEqual(before);
  }, 60_000);

  it('forget --tag removes by policy only among the tagged snapshots; check passes', async () => {
    // Tagged x now: S1 and S5 (h1, [a]); the h2 snapshot lost x above.
    const f = await engine(['forget', '--keep-last', '1', '--tag', 'x']);
    expect(f.code, f.stderr).toBe(0);
    expect(names(await list()).filter((n) => n.startsWith('S'))).toEqual(['S3', 'S4', 'S5']);
    expect(await list()).toHaveLength(4);
    const check = await engine(['check']);
    expect(check.code, check.stdout + check.stderr).toBe(0);
  }, 60_000);

  it('tag takes the exclusive lock: refused (exit 11) while a backup runs, and nothing is changed', async () => {
    const before = (await readdir(join(repo(), 'snapshots'))).sort();
    // A backup slowed down (each file opened after 3 s) holds its shared lock long enough.
    const slow = runEngine(['backup', '--repo', repo(), '--json', a()], { native, env: { ENGINE_TEST_HOOKS: 'open-delay=3000' } });
    const deadline = Date.now() + 30_000;
    while ((await readdir(join(repo(), 'locks')).catch(() => [])).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const refused = await engine(['tag', '--add', 'late']);
    expect(refused.code, refused.stderr).toBe(11);
    expect(refused.stderr).toContain('locked by `engine backup`');
    expect((await readdir(join(repo(), 'snapshots'))).sort()).toEqual(before);
    expect((await slow).code).toBe(0);
  }, 60_000);
});
