// Ctrl-C (SIGINT) or `systemctl stop` (SIGTERM) stops a backup at any moment, also after the last
// file is read: exit 130 and no new snapshot (issue 12, point 7). The test hook `backup-pause`
// (src/cli/commands/backup.ts) holds the backup at a given step, deaf to signals like a slow
// step would be, and says so on stderr; the signal is sent then. A slow uplink (--limit-upload)
// shows the same without any hook: the last packs are still going up when the signal comes.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { workdirPerFile } from '../support/workdir.js';
import { currentNative, ENGINE_BIN, runEngine, TEST_PASSWORD } from '../support/cli.js';

const native = currentNative();

interface Running {
  readonly child: ChildProcess;
  /** Resolves once stderr holds the text. */
  waitFor(text: string): Promise<void>;
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; ms: number }>;
}

function start(args: string[], env: Record<string, string> = {}): Running {
  const child = spawn(ENGINE_BIN, args, { env: { ...process.env, ENGINE_PASSWORD: TEST_PASSWORD, ENGINE_NATIVE: native, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  const waiters: { text: string; resolve: () => void }[] = [];
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    for (const w of waiters.splice(0)) {
      if (stderr.includes(w.text)) w.resolve();
      else waiters.push(w);
    }
  });
  child.stdout!.resume();
  let signalledAt = 0;
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; ms: number }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, stderr, ms: signalledAt ? Date.now() - signalledAt : -1 }));
  });
  const kill = child.kill.bind(child);
  child.kill = (sig?: NodeJS.Signals | number) => {
    signalledAt = Date.now();
    return kill(sig);
  };
  return {
    child,
    exit,
    waitFor: (text) =>
      new Promise<void>((resolve, reject) => {
        if (stderr.includes(text)) return resolve();
        waiters.push({ text, resolve });
        void exit.then((e) => reject(new Error(`engine exited (${e.code}) before printing "${text}":\n${e.stderr}`)));
      }),
  };
}

async function snapshotCount(repo: string): Promise<number> {
  const r = await runEngine(['snapshots', '--repo', repo, '--json'], { native });
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as unknown[]).length;
}

describe(`backup interrupted after the last file is read (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-abort-');
  let src: string;

  beforeAll(async () => {
    src = join(work, 'src');
    await mkdir(join(src, 'small'), { recursive: true });
    for (let i = 0; i < 50; i++) await writeFile(join(src, 'small', `f${i}.txt`), `file ${i}\n`.repeat(20 * (i + 1)));
    await writeFile(join(src, 'big.bin'), randomBytes(3 * 1024 * 1024));
  });

  const cases: [NodeJS.Signals, string][] = [
    ['SIGTERM', 'after-read'],
    ['SIGINT', 'flush'],
    ['SIGTERM', 'flush'],
    ['SIGINT', 'snapshot'],
    ['SIGTERM', 'snapshot'],
  ];
  for (const [sig, stage] of cases) {
    it(`${sig} while the backup is held at "${stage}": exit 130, no snapshot, and the next backup completes`, async () => {
      const repo = join(work, `repo-${sig}-${stage}`);
      expect((await runEngine(['init', '--repo', repo, '--kdf-memory', '8M'], { native })).code).toBe(0);
      const run = start(['backup', '--repo', repo, src], { ENGINE_TEST_HOOKS: `backup-pause=${stage}:3000` });
      await run.waitFor(`test hook: paused at ${stage}`);
      run.child.kill(sig);
      const e = await run.exit;
      expect(e.code, e.stderr).toBe(130);
      expect(await snapshotCount(repo)).toBe(0);
      // Nothing is left that stops the next run: it completes, and check passes.
      const next = await runEngine(['backup', '--repo', repo, src], { native });
      expect(next.code, next.stderr).toBe(0);
      expect(await snapshotCount(repo)).toBe(1);
      const c = await runEngine(['check', '--repo', repo], { native });
      expect(c.code, c.stdout + c.stderr).toBe(0);
    }, 60_000);
  }

  it('SIGTERM while the last packs go up a slow line (--limit-upload): exit 130 at once, no snapshot', async () => {
    const repo = join(work, 'repo-slow');
    expect((await runEngine(['init', '--repo', repo, '--kdf-memory', '8M'], { native })).code).toBe(0);
    // 3 MiB at 128 KiB/s: about 24 s of uploading, all of it after the files are read (one pack).
    const run = start(['backup', '--repo', repo, '--limit-upload', '128', src]);
    await new Promise((r) => setTimeout(r, 4000));
    run.child.kill('SIGTERM');
    const e = await run.exit;
    expect(e.code, e.stderr).toBe(130);
    expect(e.ms, 'stopped within seconds of the signal, not after the upload (about 24 s)').toBeLessThan(10_000);
    expect(await snapshotCount(repo)).toBe(0);
  }, 60_000);
});
