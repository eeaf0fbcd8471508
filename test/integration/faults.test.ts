// Bad input and damage: wrong password, a flipped byte in a pack, a source file that vanishes
// during the backup, budgets below the minimum, a missing repository. Each ends with its
// documented exit code, a message naming what is wrong, and nothing lost or silently wrong.
import { lstat, mkdir, open, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { workdirPerFile } from '../support/workdir.js';
import { currentNative, runEngine } from '../support/cli.js';
import { dataPacks, listRepo, repoChanges } from '../support/repo-files.js';
import { diffTrees, makeTree } from '../support/tree.js';

const native = currentNative();

describe(`faults (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-faults-');
  let src: string;
  let repo: string;
  /** The snapshot of `src` (later tests add snapshots of other folders). */
  let srcSnapshot: string;

  beforeAll(async () => {
    src = join(work, 'src');
    repo = join(work, 'repo');
    await makeTree(src, { seed: 5, smallFiles: 300 });
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
    const b = await runEngine(['backup', '--repo', repo, '--json', src], { native });
    expect(b.code, b.stderr).toBe(0);
    srcSnapshot = String(b.json?.snapshot_id);
  });

  it('a wrong password exits 12 and writes nothing', async () => {
    const before = await listRepo(repo);
    for (const args of [['backup', '--repo', repo, src], ['snapshots', '--repo', repo], ['restore', 'latest', '--repo', repo, '--target', join(work, 'never')]]) {
      const r = await runEngine(args, { native, env: { ENGINE_PASSWORD: 'not the password' } });
      expect(r.code, r.stderr).toBe(12);
      expect(r.stderr).toMatch(/wrong password/);
      expect(r.stderr).not.toContain('not the password');
    }
    const after = await listRepo(repo);
    expect(repoChanges(before, after)).toEqual({ added: [], changed: [], removed: [] });
  });

  it('a flipped byte in a pack: restore exits 4, names the damaged files, and every other file is identical', async () => {
    const copy = join(work, 'repo-damaged');
    await rm(copy, { recursive: true, force: true });
    // Work on a copy so the other tests keep a sound repository.
    const { cp } = await import('node:fs/promises');
    await cp(repo, copy, { recursive: true });
    const pack = (await dataPacks(copy))[0]!;
    const fh = await open(join(copy, pack.name), 'r+');
    const at = Math.floor(pack.size / 3);
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    b[0] = b[0]! ^ 0x20;
    await fh.write(b, 0, 1, at);
    await fh.close();

    const target = join(work, 'restored-damaged');
    const r = await runEngine(['restore', srcSnapshot, '--repo', copy, '--target', target], { native });
    expect(r.code, r.stderr).toBe(4);
    const named = new Set([...r.stderr.matchAll(/^warning: (.+?): blob [0-9a-f]{64} in pack/gm)].map((m) => m[1]!));
    expect(named.size).toBeGreaterThan(0);
    // Every file that differs from the source was named: nothing is silently wrong.
    const diffs = await diffTrees(src, join(target, src));
    expect(diffs.length).toBeGreaterThan(0);
    for (const d of diffs) expect(named.has(join(target, src, d.path)), `${d.path}: ${d.message}`).toBe(true);
  });

  it('a file removed while backing up: exit 3 and a snapshot of the rest', async () => {
    const victimDir = join(work, 'vanishing');
    await mkdir(victimDir, { recursive: true });
    await writeFile(join(victimDir, 'keep.txt'), 'kept\n');
    await writeFile(join(victimDir, 'vanish-me.txt'), 'gone\n');
    await writeFile(join(victimDir, 'big-vanish-me.bin'), Buffer.alloc(3 * 1024 * 1024, 7));
    const r = await runEngine(['backup', '--repo', repo, '--json', victimDir], { native, env: { ENGINE_TEST_HOOKS: 'vanish=vanish-me.txt' } });
    expect(r.code, r.stderr).toBe(3);
    // With --json the file is named in restic's error message: during, item and the message.
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>).filter((m) => m.message_type === 'error');
    expect(errors).toEqual([{ message_type: 'error', error: { message: 'vanished during backup' }, during: 'archival', item: join(victimDir, 'vanish-me.txt') }]);
    expect(r.json).toMatchObject({ files_new: 2, errors: 1 });
    const target = join(work, 'restored-vanish');
    const restore = await runEngine(['restore', String(r.json?.snapshot_id), '--repo', repo, '--target', target], { native });
    expect(restore.code, restore.stderr).toBe(0);
    // The hook deleted the file from the source itself: the snapshot holds exactly what is left.
    expect(await diffTrees(victimDir, join(target, victimDir))).toEqual([]);
    const ls = await runEngine(['ls', String(r.json?.snapshot_id), '--repo', repo], { native });
    expect(ls.stdout).toContain(`${victimDir}/keep.txt`);
    expect(ls.stdout).toContain(`${victimDir}/big-vanish-me.bin`);
    expect(ls.stdout).not.toContain(`${victimDir}/vanish-me.txt`);
  });

  it('a budget below the minimum is refused, naming the minimum, before anything is written', async () => {
    const before = await listRepo(repo);
    const r = await runEngine(['backup', '--repo', repo, '--mem-budget', '32M', src], { native });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/below the minimum of \d+ MiB/);
    expect(r.stderr).toMatch(/--mem-budget \d+M or more/);
    expect(repoChanges(before, await listRepo(repo))).toEqual({ added: [], changed: [], removed: [] });
    const bad = await runEngine(['backup', '--repo', repo, '--mem-budget', 'lots', src], { native });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--mem-budget');
  });

  it('a missing repository exits 10; a missing password exits 2; a backup of no existing path exits 1, as restic', async () => {
    const r = await runEngine(['snapshots', '--repo', join(work, 'nothing-here')], { native });
    expect(r.code).toBe(10);
    expect(r.stderr).toContain('engine init');
    const noPw = await runEngine(['snapshots', '--repo', repo], { native, env: { ENGINE_PASSWORD: undefined } });
    expect(noPw.code).toBe(2);
    expect(noPw.stderr).toContain('ENGINE_PASSWORD');
    const noPath = await runEngine(['backup', '--repo', repo, join(work, 'no-such-dir')], { native });
    expect(noPath.code).toBe(1);
    expect(noPath.stderr).toContain('does not exist');
    const again = await runEngine(['init', '--repo', repo], { native });
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already exists');
  });

  it('restoring over a symlink planted in the target replaces the link and never writes through it', async () => {
    const target = join(work, 'restored-planted');
    const outside = join(work, 'outside.txt');
    await writeFile(outside, 'must stay as it is\n');
    const victim = (await runEngine(['ls', srcSnapshot, '--repo', repo], { native })).stdout
      .split('\n')
      .find((l) => l.startsWith(`${src}/`) && l.endsWith('.txt') && !l.includes(' -> '))!;
    await mkdir(join(target, victim, '..'), { recursive: true });
    await symlink(outside, join(target, victim));
    const r = await runEngine(['restore', srcSnapshot, '--repo', repo, '--target', target], { native });
    expect(r.code, r.stderr).toBe(0);
    expect(await readFile(outside, 'utf8')).toBe('must stay as it is\n');
    expect((await lstat(join(target, victim))).isFile()).toBe(true);
    expect(await diffTrees(src, join(target, src))).toEqual([]);
  });

  it('--json errors are machine-readable', async () => {
    const r = await runEngine(['snapshots', '--json', '--repo', repo], { native, env: { ENGINE_PASSWORD: 'nope' } });
    expect(r.code).toBe(12);
    const err = JSON.parse(r.stderr.trim().split('\n').pop()!) as { message_type: string; code: number; error_code: string };
    expect(err).toMatchObject({ message_type: 'exit_error', code: 12, error_code: 'E_BAD_CREDENTIALS' });
  });
});
