// key list/add/remove/passwd, stats and diff as a user runs them.
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { workdirPerFile } from '../support/workdir.js';
import { spawn } from 'node:child_process';
import { currentNative, ENGINE_BIN, runEngine, TEST_PASSWORD } from '../support/cli.js';
import { makeTree } from '../support/tree.js';
import { wayTreesAdded } from '../support/way-trees.js';

const native = currentNative();

describe(`keys, stats and diff (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-inspect-');
  let src: string;

  beforeAll(async () => {
    src = join(work, 'src');
    await makeTree(src, { seed: 61, smallFiles: 30, scale: 0.2 });
  });

  it('key add, list, remove and passwd: every password that should open does, the others exit 12, and none is printed', async () => {
    const repo = join(work, 'repo-keys');
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
    const as = (pw: string, args: string[], extra: Record<string, string> = {}) => runEngine([...args, '--repo', repo], { native, env: { ENGINE_PASSWORD: pw, ...extra } });
    const list = async (pw: string) => JSON.parse((await as(pw, ['key', 'list', '--json'])).stdout) as { id: string; current: boolean }[];

    expect(await list(TEST_PASSWORD)).toEqual([expect.objectContaining({ current: true })]);
    const add = await as(TEST_PASSWORD, ['key', 'add', '--json'], { ENGINE_NEW_PASSWORD: 'second password' });
    expect(add.code, add.stderr).toBe(0);
    const added = String(add.json?.added);
    const keys = await list('second password');
    expect(keys).toHaveLength(2);
    expect(keys.find((k) => k.current)?.id).toBe(added);
    const original = keys.find((k) => !k.current)!.id;

    // A key cannot remove itself; another key can.
    const self = await as(TEST_PASSWORD, ['key', 'remove', original.slice(0, 8)]);
    expect(self.code).toBe(2);
    expect(self.stderr).toContain('cannot remove itself');
    const rm1 = await as('second password', ['key', 'remove', original.slice(0, 8)]);
    expect(rm1.code, rm1.stderr).toBe(0);
    expect((await as(TEST_PASSWORD, ['snapshots'])).code).toBe(12);

    const pw = await as('second password', ['key', 'passwd'], { ENGINE_NEW_PASSWORD: 'third password' });
    expect(pw.code, pw.stderr).toBe(0);
    expect((await as('second password', ['snapshots'])).code).toBe(12);
    expect((await as('third password', ['snapshots'])).code).toBe(0);
    expect(await list('third password')).toHaveLength(1);
    for (const r of [add, rm1, pw]) for (const secret of ['second password', 'third password', TEST_PASSWORD]) expect(r.stdout + r.stderr).not.toContain(secret);
  });

  it("a key's Argon2id memory sets every command's floor: the refusal says so, and passwd --kdf-memory lowers it", async () => {
    const repo = join(work, 'repo-kdf');
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
    const as = (pw: string, args: string[], extra: Record<string, string> = {}) => runEngine([...args, '--repo', repo], { native, env: { ENGINE_PASSWORD: pw, ...extra } });
    // 120M: below the floor of a 64 MiB key on every Node major (124-152 MiB), above a 16 MiB one's (96-118).
    const refused = await as(TEST_PASSWORD, ['check', '--mem-budget', '120M']);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/Argon2id memory/);
    expect(refused.stderr).toContain('engine key passwd --kdf-memory');
    const bad = await as(TEST_PASSWORD, ['key', 'passwd', '--kdf-memory', '4M'], { ENGINE_NEW_PASSWORD: 'cheaper key' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--kdf-memory 4M: give a size from 8M to 1G');
    const pw = await as(TEST_PASSWORD, ['key', 'passwd', '--kdf-memory', '16M', '--kdf-time', '2'], { ENGINE_NEW_PASSWORD: 'cheaper key' });
    expect(pw.code, pw.stderr).toBe(0);
    const checked = await as('cheaper key', ['check', '--mem-budget', '120M', '--json']);
    expect(checked.code, checked.stderr).toBe(0);
    // The old password no longer opens it (passwd removed its key).
    expect((await as(TEST_PASSWORD, ['snapshots'])).code).toBe(12);
  });

  it('stats: two snapshots of the same tree deduplicate to one, and a single snapshot restores to the tree size', async () => {
    const repo = join(work, 'repo-stats');
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
    const a = await runEngine(['backup', '--repo', repo, '--json', src], { native });
    expect(a.code).toBe(0);
    const b = await runEngine(['backup', '--repo', repo, '--json', src], { native });
    expect(b.code, b.stderr).toBe(0);
    const one = await runEngine(['stats', '--repo', repo, '--json', String(a.json?.snapshot_id).slice(0, 8)], { native });
    const all = await runEngine(['stats', '--repo', repo, '--json'], { native });
    expect(one.code, one.stderr).toBe(0);
    expect(all.code, all.stderr).toBe(0);
    const o = one.json as Record<string, number>;
    const t = all.json as Record<string, number>;
    expect(o.total_size).toBe(Number(a.json?.total_bytes_processed));
    expect(t.snapshots_count).toBe(2);
    expect(t.total_size).toBe(2 * o.total_size!);
    // The second snapshot adds no blob of src's (the snapshot holds it under its absolute path),
    // only the trees on the way to it whose folders' times changed meanwhile (the temp folder's,
    // which other processes use): wayTreesAdded checks src's node is the same in both.
    const way = await wayTreesAdded(repo, native, String(a.json?.snapshot_id), String(b.json?.snapshot_id), src);
    expect(t.unique_raw_bytes).toBe(o.unique_raw_bytes! + way.rawBytes);
    expect(t.dedup_ratio).toBeCloseTo((2 * o.total_size!) / (o.unique_raw_bytes! + way.rawBytes), 5);
    expect(o.compression_ratio).toBeGreaterThan(1);
    expect(t.pack_bytes).toBeGreaterThanOrEqual(o.unique_stored_bytes!);
  });

  it('a reader slower than engine still gets every line: output is flushed before the process exits', async () => {
    const repo = join(work, 'repo-ls');
    const tree = join(work, 'many');
    await mkdir(tree);
    const names = Array.from({ length: 3000 }, (_, i) => `a-file-with-a-rather-long-name-so-the-listing-exceeds-a-pipe-${i}.txt`);
    for (const n of names) await writeFile(join(tree, n), 'x');
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
    expect((await runEngine(['backup', '--repo', repo, tree], { native })).code).toBe(0);
    // Nothing is read from the pipe for a second: far more than 64 KiB waits in the writer.
    const lines = await new Promise<number>((resolve, reject) => {
      const child = spawn(ENGINE_BIN, ['ls', 'latest', '--repo', repo], { env: { ...process.env, ENGINE_PASSWORD: TEST_PASSWORD, ENGINE_NATIVE: native }, stdio: ['ignore', 'pipe', 'ignore'] });
      let out = '';
      child.stdout.pause();
      setTimeout(() => child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d)).resume(), 1000);
      child.on('error', reject);
      child.on('close', () => resolve(out.split('\n').filter((l) => l.includes('rather-long-name')).length));
    });
    expect(lines).toBe(names.length);
  });

  it('diff lists what was added, removed, modified and changed in mode only; an unchanged pair differs in nothing', async () => {
    const repo = join(work, 'repo-diff');
    const tree = join(work, 'tree');
    await mkdir(join(tree, 'docs'), { recursive: true });
    await writeFile(join(tree, 'docs', 'keep.txt'), 'same\n');
    await writeFile(join(tree, 'docs', 'edit.txt'), 'before\n');
    await writeFile(join(tree, 'gone.txt'), 'bye\n');
    await writeFile(join(tree, 'mode.sh'), '#!/bin/sh\n');
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
    const a = await runEngine(['backup', '--repo', repo, '--json', tree], { native });
    await writeFile(join(tree, 'docs', 'edit.txt'), 'after, longer\n');
    await rm(join(tree, 'gone.txt'));
    await chmod(join(tree, 'mode.sh'), 0o755);
    await mkdir(join(tree, 'new'));
    await writeFile(join(tree, 'new', 'file.txt'), 'new\n');
    const b = await runEngine(['backup', '--repo', repo, '--json', tree], { native });
    const d = await runEngine(['diff', String(a.json?.snapshot_id), String(b.json?.snapshot_id), '--repo', repo, '--json'], { native });
    expect(d.code, d.stderr).toBe(0);
    const changes = d.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { message_type: string; path: string; modifier: string })
      .filter((m) => m.message_type === 'change');
    const files = changes.filter((c) => !c.path.endsWith('/')).map((c) => `${c.modifier} ${c.path}`).sort();
    expect(files).toEqual([`+ ${tree}/new/file.txt`, `U ${tree}/mode.sh`, `M ${tree}/docs/edit.txt`, `- ${tree}/gone.txt`].sort());
    expect(changes.filter((c) => c.path.endsWith('/')).map((c) => `${c.modifier} ${c.path}`)).toContain(`+ ${tree}/new/`);
    expect(d.json).toMatchObject({ message_type: 'statistics', changed_files: 1, added: { files: 1, dirs: 1, others: 0 }, removed: { files: 1, dirs: 0, others: 0 } });
    const same = await runEngine(['diff', String(a.json?.snapshot_id), String(a.json?.snapshot_id), '--repo', repo], { native });
    expect(same.code).toBe(0);
    expect(same.stdout).toBe('');
  });
});
