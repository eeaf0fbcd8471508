// Ctrl-C (SIGINT) or `systemctl stop` (SIGTERM) stops check, prune, forget --prune and repair at
// any moment: exit 130 within seconds, and the repository left as `check` passes it (issue 12,
// "Abort honoured at every await"). The test hook `maint-pause=STAGE:MS`
// (src/cli/commands/check.ts maintenancePause) holds the command at a stage, deaf to signals
// like a slow step would be, and says so on stderr; the signal is sent then, and what the command
// does after the pause must notice it.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, readdir, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { workdirPerFile } from '../support/workdir.js';
import { currentNative, ENGINE_BIN, runEngine, TEST_PASSWORD } from '../support/cli.js';
import { compareTrees } from '../support/tree.js';

const native = currentNative();
/** How long a pause lasts: the signal comes at its start, the command must stop soon after its end. */
const PAUSE_MS = 3000;
/** Generous: the machine may be loaded. A command that ignores the signal runs on far past it, or exits 0. */
const PROMPT_MS = 15_000;

interface Exit {
  code: number | null;
  stderr: string;
  /** From the signal to the exit. */
  ms: number;
}

/**
 * Runs engine with a pause at `stage`, sends `sig` once it is paused there (after `atPause`), and
 * returns how it ended. `hooks` and `pausedText` replace the maint-pause hook and its message.
 */
async function interrupt(args: string[], stage: string, sig: NodeJS.Signals, more: { hooks?: string; pausedText?: string; atPause?: () => Promise<void> } = {}): Promise<Exit> {
  const pausedText = more.pausedText ?? `test hook: paused at ${stage}`;
  const child: ChildProcess = spawn(ENGINE_BIN, args, {
    env: { ...process.env, ENGINE_PASSWORD: TEST_PASSWORD, ENGINE_NATIVE: native, ENGINE_TEST_HOOKS: more.hooks ?? `maint-pause=${stage}:${PAUSE_MS}` },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  let signalledAt = 0;
  const exited = new Promise<Exit>((resolve) => {
    child.on('close', (code) => resolve({ code, stderr, ms: signalledAt ? Date.now() - signalledAt : -1 }));
  });
  const paused = new Promise<boolean>((resolve) => {
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      if (stderr.includes(pausedText)) resolve(true);
    });
    void exited.then(() => resolve(false));
  });
  child.stdout!.resume();
  if (!(await paused)) {
    const e = await exited;
    throw new Error(`engine exited (${e.code}) before pausing at ${stage}:\n${e.stderr}`);
  }
  await more.atPause?.();
  signalledAt = Date.now();
  child.kill(sig);
  // A command deaf to the signal is ended here, so the test fails on its assertion, not a timeout.
  const timer = setTimeout(() => child.kill('SIGKILL'), PAUSE_MS + PROMPT_MS + 5000);
  const e = await exited;
  clearTimeout(timer);
  return e;
}

function expectStopped(e: Exit): void {
  expect(e.code, `exit code; stderr:\n${e.stderr}`).toBe(130);
  expect(e.ms, 'stopped within seconds of the pause ending').toBeLessThan(PAUSE_MS + PROMPT_MS);
}

describe(`check, prune, forget --prune and repair interrupted (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-abort-maint-');
  let src: string;
  /** Two snapshots: the first of src with drop/, the second without it (what src holds now). */
  let base: string;
  let n = 0;

  beforeAll(async () => {
    src = join(work, 'src');
    await mkdir(join(src, 'keep'), { recursive: true });
    await mkdir(join(src, 'drop'), { recursive: true });
    // Written alternately, so that 1 MiB packs hold blobs of both: forgetting the first snapshot
    // leaves packs partly used (repacked) and packs unused (deleted).
    for (let i = 0; i < 8; i++) {
      await writeFile(join(src, 'keep', `k${i}.bin`), randomBytes(300 * 1024));
      await writeFile(join(src, 'drop', `d${i}.bin`), randomBytes(300 * 1024));
      await writeFile(join(src, 'keep', `s${i}.txt`), `small ${i}\n`.repeat(50 * (i + 1)));
    }
    base = join(work, 'base');
    expect((await runEngine(['init', '--repo', base, '--kdf-memory', '8M', '--pack-size', '1M'], { native })).code).toBe(0);
    const b1 = await runEngine(['backup', '--repo', base, src], { native });
    expect(b1.code, b1.stderr).toBe(0);
    await rename(join(src, 'drop'), join(work, 'dropped'));
    const b2 = await runEngine(['backup', '--repo', base, src], { native });
    expect(b2.code, b2.stderr).toBe(0);
  }, 120_000);

  async function copyOfBase(): Promise<string> {
    const repo = join(work, `repo-${++n}`);
    await cp(base, repo, { recursive: true });
    return repo;
  }

  /** check passes, and the latest snapshot restores identical to src. */
  async function expectSound(repo: string): Promise<void> {
    const c = await runEngine(['check', '--repo', repo], { native });
    expect(c.code, c.stdout + c.stderr).toBe(0);
    const target = join(work, `restore-${++n}`);
    const r = await runEngine(['restore', 'latest', '--repo', repo, '--target', target], { native });
    expect(r.code, r.stderr).toBe(0);
    expect(await compareTrees(src, join(target, src))).toEqual([]);
  }

  async function snapshotNames(repo: string): Promise<string[]> {
    return (await readdir(join(repo, 'snapshots'))).sort();
  }

  it('check, SIGTERM once the index is loaded: exit 130', async () => {
    const repo = await copyOfBase();
    expectStopped(await interrupt(['check', '--repo', repo], 'check-index', 'SIGTERM'));
    await expectSound(repo);
  }, 90_000);

  it('check --read-data-subset (one pack), SIGINT while its pack is being verified: exit 130, not the verdict on a partial read', async () => {
    const repo = await copyOfBase();
    expectStopped(await interrupt(['check', '--repo', repo, '--read-data-subset', '1%'], 'check-read', 'SIGINT'));
    await expectSound(repo);
  }, 90_000);

  it('check --read-data, SIGTERM while packs are being read: exit 130', async () => {
    const repo = await copyOfBase();
    expectStopped(await interrupt(['check', '--repo', repo, '--read-data'], 'check-read', 'SIGTERM'));
    await expectSound(repo);
  }, 90_000);

  for (const stage of ['prune-planned', 'prune-repack', 'prune-delete']) {
    it(`prune, SIGTERM at ${stage}: exit 130, check passes, latest restores identical, the next prune completes`, async () => {
      const repo = await copyOfBase();
      const f = await runEngine(['forget', '--repo', repo, '--keep-last', '1'], { native });
      expect(f.code, f.stderr).toBe(0);
      expectStopped(await interrupt(['prune', '--repo', repo, '--max-unused', '0%'], stage, 'SIGTERM'));
      await expectSound(repo);
      const p = await runEngine(['prune', '--repo', repo, '--max-unused', '0%'], { native });
      expect(p.code, p.stderr).toBe(0);
      await expectSound(repo);
    }, 120_000);
  }

  it('prune, SIGTERM while held before its "write index" step (prune-step-delay): exit 130, no index object written after the signal', async () => {
    const repo = await copyOfBase();
    const f = await runEngine(['forget', '--repo', repo, '--keep-last', '1'], { native });
    expect(f.code, f.stderr).toBe(0);
    let atSignal: string[] = [];
    const e = await interrupt(['prune', '--repo', repo, '--max-unused', '0%'], 'write index', 'SIGTERM', {
      hooks: `prune-step-delay=${PAUSE_MS}`,
      pausedText: 'prune step: write index',
      // The repacked packs' own index objects are written by now; nothing more may be.
      atPause: async () => void (atSignal = (await readdir(join(repo, 'index'))).sort()),
    });
    expectStopped(e);
    expect((await readdir(join(repo, 'index'))).sort()).toEqual(atSignal);
    await expectSound(repo);
  }, 120_000);

  it('forget --prune, SIGTERM while repacking: exit 130, the snapshot stays forgotten, check passes', async () => {
    const repo = await copyOfBase();
    const before = await snapshotNames(repo);
    expectStopped(await interrupt(['forget', '--repo', repo, '--keep-last', '1', '--prune', '--max-unused', '0%'], 'prune-repack', 'SIGTERM'));
    expect(await snapshotNames(repo)).toHaveLength(before.length - 1);
    await expectSound(repo);
  }, 120_000);

  it('repair index, SIGTERM during the pack scan: exit 130, no index object written or deleted', async () => {
    const repo = await copyOfBase();
    const indexBefore = (await readdir(join(repo, 'index'))).sort();
    expectStopped(await interrupt(['repair', 'index', '--repo', repo], 'repair-index-scan', 'SIGTERM'));
    expect((await readdir(join(repo, 'index'))).sort()).toEqual(indexBefore);
    await expectSound(repo);
  }, 90_000);

  it('repair snapshots, SIGTERM before a rewritten snapshot is saved: exit 130, no snapshot saved or removed; a second run completes', async () => {
    const repo = await copyOfBase();
    // A lost data pack: the largest (1 MiB of random file data; tree packs are small).
    const packs: { path: string; size: number }[] = [];
    for (const d of await readdir(join(repo, 'data'))) {
      for (const f of await readdir(join(repo, 'data', d))) packs.push({ path: join(repo, 'data', d, f), size: (await stat(join(repo, 'data', d, f))).size });
    }
    packs.sort((a, b) => b.size - a.size);
    await unlink(packs[0]!.path);
    const ri = await runEngine(['repair', 'index', '--repo', repo], { native });
    expect(ri.code, ri.stderr).toBe(0);
    const before = await snapshotNames(repo);
    expectStopped(await interrupt(['repair', 'snapshots', '--repo', repo], 'repair-snapshot', 'SIGTERM'));
    expect(await snapshotNames(repo), 'no repaired snapshot saved after the signal, no original removed').toEqual(before);
    const rs = await runEngine(['repair', 'snapshots', '--repo', repo], { native });
    expect(rs.code, rs.stderr).toBe(0);
    expect(await snapshotNames(repo)).toHaveLength(before.length);
    const c = await runEngine(['check', '--repo', repo], { native });
    expect(c.code, c.stdout + c.stderr).toBe(0);
  }, 120_000);
});
