// Small CLI faults of issue 12 (point 10), as a user meets them (CLI subprocesses, real files):
// - a repository path that is a regular file: exit 10 at once, "not a repository: ... is a file";
// - --repo or --cache-dir under /proc: a clear error at once (Node's recursive mkdir spins there);
// - `engine snapshots` on a snapshot without the optional summary: listed, size blank;
// - `forget --keep-tag typo`: refused (exit 1) naming the tag, nothing removed;
// - `key add` with a password a key already has: refused, no key added;
// - a damaged index object: the hint names `engine repair index`.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPrimitives } from '../../native-bindings/index.js';
import { LocalBackend } from '../../src/backend/local/local-backend.js';
import { Repository } from '../../src/repository/repository.js';
import { ENGINE_BIN, TEST_PASSWORD, currentNative, runEngine, type RunResult } from '../support/cli.js';

const native = currentNative();

/** Runs the CLI, killed after `deadlineMs` (a command that spins must not outlive the test). */
function runWithDeadline(args: string[], deadlineMs: number): Promise<RunResult & { ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(ENGINE_BIN, args, { env: { ...process.env, ENGINE_PASSWORD: TEST_PASSWORD, ENGINE_NATIVE: native, ENGINE_RETRY_BASE_MS: '250' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr, json: null, ms: Date.now() - started });
    });
  });
}

describe(`small CLI faults (ENGINE_NATIVE=${native})`, () => {
  let work: string;
  let repo: string;
  let src: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'engine-faults-'));
    repo = join(work, 'repo');
    src = join(work, 'src');
    await mkdir(src);
    await writeFile(join(src, 'a.txt'), 'alpha\n');
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
    const b = await runEngine(['backup', '--repo', repo, '--tag', 'nightly', src], { native });
    expect(b.code, b.stderr).toBe(0);
  });

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('a repository path that is a regular file: exit 10 at once, naming it', async () => {
    const file = join(work, 'not-a-repo');
    await writeFile(file, 'just a file\n');
    for (const cmd of [['snapshots'], ['backup', src]]) {
      const r = await runWithDeadline([...cmd, '--repo', file], 12_000);
      expect(r.code, r.stderr).toBe(10);
      expect(r.stderr).toContain(`not a repository: ${file} is a file`);
      expect(r.stderr).not.toMatch(/unreachable|retry/i);
    }
  });

  it('--repo or --cache-dir under /proc: a clear error at once, not a spin', async () => {
    const init = await runWithDeadline(['init', '--repo', '/proc/engine-no-such/repo'], 12_000);
    expect(init.code, init.stderr).toBe(2);
    expect(init.stderr).toContain('cannot create the repository folder /proc/engine-no-such/repo');
    const backup = await runWithDeadline(['backup', '--repo', repo, '--cache-dir', '/proc/engine-no-such/cache', src], 12_000);
    expect(backup.code, backup.stderr).toBe(1);
    expect(backup.stderr).toContain('cannot create the local index cache folder /proc/engine-no-such/cache');
    expect(backup.stderr).toContain('--no-cache');
    const restore = await runWithDeadline(['restore', 'latest', '--repo', repo, '--target', '/proc/engine-no-such/target'], 12_000);
    expect(restore.code, restore.stderr).toBe(2);
    expect(restore.stderr).toContain('cannot create the restore target /proc/engine-no-such/target');
  });

  it('`engine snapshots` lists a snapshot without the optional summary', async () => {
    const { primitives } = await loadPrimitives(native === 'off' ? 'fallback' : 'auto');
    const r = await Repository.open(new LocalBackend(repo), primitives, new TextEncoder().encode(TEST_PASSWORD));
    const { snapshot } = await r.resolveSnapshot('latest');
    const bare: Record<string, unknown> = { ...snapshot, time: new Date(Date.parse(snapshot.time) + 1000).toISOString(), tags: ['bare'] };
    delete bare.summary;
    const id = await r.saveSnapshot(bare as unknown as typeof snapshot);
    try {
      const s = await runEngine(['snapshots', '--repo', repo], { native });
      expect(s.code, s.stderr).toBe(0);
      expect(s.stdout).toContain(id.slice(0, 8));
      expect(s.stdout).toContain('2 snapshot(s)');
    } finally {
      await r.removeSnapshot(id);
    }
  });

  it('`forget --keep-tag` with a tag no snapshot has is refused, naming the tag; nothing is removed', async () => {
    const before = await readdir(join(repo, 'snapshots'));
    const r = await runEngine(['forget', '--repo', repo, '--keep-tag', 'nighlty'], { native });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('"nighlty"');
    expect(r.stderr).toContain('nothing was removed');
    expect(await readdir(join(repo, 'snapshots'))).toEqual(before);
    // The right tag keeps the snapshot (and removes nothing).
    const ok = await runEngine(['forget', '--repo', repo, '--keep-tag', 'nightly'], { native });
    expect(ok.code, ok.stderr).toBe(0);
    expect(await readdir(join(repo, 'snapshots'))).toEqual(before);
  });

  it('`key add` and `key passwd` refuse a password a key already has', async () => {
    const keysBefore = await readdir(join(repo, 'keys'));
    const same = await runEngine(['key', 'add', '--repo', repo], { native, env: { ENGINE_NEW_PASSWORD: TEST_PASSWORD } });
    expect(same.code, same.stderr).toBe(2);
    expect(same.stderr).toContain('already');
    expect(await readdir(join(repo, 'keys'))).toEqual(keysBefore);
    // A second key, then adding its password again (opened with the first) is refused too.
    const add = await runEngine(['key', 'add', '--repo', repo], { native, env: { ENGINE_NEW_PASSWORD: 'second password' } });
    expect(add.code, add.stderr).toBe(0);
    const again = await runEngine(['key', 'add', '--repo', repo], { native, env: { ENGINE_NEW_PASSWORD: 'second password' } });
    expect(again.code, again.stderr).toBe(2);
    expect(again.stderr).toMatch(/already opens key [0-9a-f]{8}/);
    const passwd = await runEngine(['key', 'passwd', '--repo', repo], { native, env: { ENGINE_NEW_PASSWORD: 'second password' } });
    expect(passwd.code, passwd.stderr).toBe(2);
    expect((await readdir(join(repo, 'keys'))).length).toBe(keysBefore.length + 1);
  });

  it('a damaged index object: the hint names `engine repair index`', async () => {
    const copy = join(work, 'repo-damaged-index');
    await runEngine(['init', '--repo', copy], { native });
    expect((await runEngine(['backup', '--repo', copy, src], { native })).code).toBe(0);
    const [name] = await readdir(join(copy, 'index'));
    const path = join(copy, 'index', name!);
    const bytes = await readFile(path);
    bytes[bytes.length - 20]! ^= 0x01;
    await writeFile(path, bytes);
    const r = await runEngine(['restore', 'latest', '--repo', copy, '--target', join(work, 'restore-damaged'), '--no-cache'], { native });
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain(`index/${name}`);
    expect(r.stderr).toContain('engine repair index');
    expect(r.stderr).not.toContain('check --read-data');
  });
});
