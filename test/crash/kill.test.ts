// Crash safety (DESIGN.md "Reliability"): the CLI killed with SIGKILL at 50 random moments during
// backup, during prune and during restore. After every kill `engine check` passes (packs no index
// names are allowed: warnings) and the next run of the same command completes; a backup resumed
// after a kill stores nothing twice; a restore resumed after a kill gives an identical tree.
//
// Kill safety rests on write ordering and atomic object writes, not on which primitives run, so
// this file runs in the native project only (test/vitest.config.ts); the fallback primitives are
// covered by every other test. The moments come from a seeded generator: a failure names its seed
// and iteration, and ENGINE_CRASH_SEED replays it.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { workdirPerFile } from '../support/workdir.js';
import { LocalBackend } from '../../src/backend/local/local-backend.js';
import { ENGINE_BIN, TEST_PASSWORD, runEngine } from '../support/cli.js';
import { auditRepository } from '../support/repo-audit.js';
import { compareTrees, makeTree } from '../support/tree.js';

const KILLS = 50;
const SEED = Number(process.env.ENGINE_CRASH_SEED ?? 20_261_122);

/** xorshift32: reproducible moments. */
function moments(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

/**
 * Runs the CLI and SIGKILLs it at `fraction` of the expected run time; resolves with whether the
 * kill landed before it ended. A run that ends first shortens the expectation, so the moments
 * keep falling inside runs whatever the load of the machine.
 */
async function runAndKill(args: string[], fraction: number, expected: { ms: number }): Promise<boolean> {
  const t0 = performance.now();
  const killed = await new Promise<boolean>((resolve, reject) => {
    const child = spawn(ENGINE_BIN, args, { env: { ...process.env, ENGINE_PASSWORD: TEST_PASSWORD, ENGINE_NATIVE: 'auto' }, stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), Math.round(expected.ms * fraction));
    child.on('error', reject);
    child.on('close', (_code, signal) => {
      clearTimeout(timer);
      resolve(signal === 'SIGKILL');
    });
  });
  if (!killed) expected.ms = Math.min(expected.ms, performance.now() - t0);
  return killed;
}

async function timed(args: string[]): Promise<number> {
  const t0 = performance.now();
  const r = await runEngine(args, { native: 'auto' });
  expect(r.code, r.stderr).toBe(0);
  return performance.now() - t0;
}

async function expectCheckPasses(repo: string, what: string): Promise<void> {
  const c = await runEngine(['check', '--repo', repo], { native: 'auto' });
  expect(c.code, `${what}: ${c.stdout}${c.stderr}`).toBe(0);
}

describe('SIGKILL at random moments', () => {
  const work = workdirPerFile('engine-crash-');
  let src: string;

  beforeAll(async () => {
    src = join(work, 'src');
    await makeTree(src, { seed: 71, smallFiles: 300, scale: 1 });
  });

  it(`backup: ${KILLS} kills; check passes after each, the next backup completes and stores nothing twice`, async () => {
    const repo = join(work, 'repo-backup');
    expect((await runEngine(['init', '--repo', repo, '--pack-size', '1M'], { native: 'auto' })).code).toBe(0);
    const fresh = join(src, 'fresh');
    await mkdir(fresh);
    expect((await runEngine(['backup', '--repo', repo, src], { native: 'auto' })).code).toBe(0);
    // The moments spread over an incremental backup like the ones killed: a few MiB of new data.
    await writeFile(join(fresh, 'probe'), randomBytes(3 * 1024 * 1024));
    const full = { ms: await timed(['backup', '--repo', repo, src]) };
    await rm(join(fresh, 'probe'));
    const next = moments(SEED);
    let landed = 0;
    for (let i = 0; i < KILLS; i++) {
      const what = `backup kill ${i} (seed ${SEED})`;
      // New data each time, so every backup has packs to write when the kill comes.
      await writeFile(join(fresh, `f-${i}`), randomBytes(3 * 1024 * 1024));
      if (i >= 2) await rm(join(fresh, `f-${i - 2}`));
      const killed = await runAndKill(['backup', '--repo', repo, src], 0.05 + 0.9 * next(), full);
      if (killed) landed++;
      await expectCheckPasses(repo, what);
      const again = await runEngine(['backup', '--repo', repo, '--json', src], { native: 'auto' });
      expect(again.code, `${what}: ${again.stderr}`).toBe(0);
      const audit = await auditRepository(new LocalBackend(repo));
      expect(audit.problems, what).toEqual([]);
      expect(audit.duplicateBlobs, `${what}: data stored twice`).toBe(0);
    }
    expect(landed, 'kills that landed while the backup ran').toBeGreaterThanOrEqual(KILLS * 0.6);
    const c = await runEngine(['check', '--repo', repo, '--read-data'], { native: 'auto' });
    expect(c.code, c.stdout).toBe(0);
    const target = join(work, 'restore-backup');
    expect((await runEngine(['restore', 'latest', '--repo', repo, '--target', target], { native: 'auto' })).code).toBe(0);
    expect(await compareTrees(src, join(target, src))).toEqual([]);
  }, 900_000);

  it(`prune: ${KILLS} kills; check passes after each, and the next prune completes`, async () => {
    const base = join(work, 'repo-prune-base');
    expect((await runEngine(['init', '--repo', base, '--pack-size', '1M'], { native: 'auto' })).code).toBe(0);
    const data = join(work, 'prune-src');
    await mkdir(data);
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      for (let f = 0; f < 4; f++) await writeFile(join(data, `g${i}-${f}`), randomBytes(700 * 1024));
      if (i >= 2) for (let f = 0; f < 4; f++) await rm(join(data, `g${i - 2}-${f}`));
      const b = await runEngine(['backup', '--repo', base, '--json', data], { native: 'auto' });
      expect(b.code).toBe(0);
      ids.push(String(b.json?.snapshot_id));
    }
    const keep = ids[ids.length - 1]!;
    expect((await runEngine(['forget', '--repo', base, ...ids.slice(0, 3)], { native: 'auto' })).code).toBe(0);
    const expected = join(work, 'prune-expected');
    await cp(data, expected, { recursive: true, preserveTimestamps: true });
    const probe = join(work, 'repo-prune-probe');
    await cp(base, probe, { recursive: true });
    const full = { ms: await timed(['prune', '--repo', probe, '--max-unused', '0%']) };
    const next = moments(SEED + 1);
    let landed = 0;
    for (let i = 0; i < KILLS; i++) {
      const what = `prune kill ${i} (seed ${SEED + 1})`;
      const repo = join(work, `repo-prune-${i}`);
      await cp(base, repo, { recursive: true });
      const killed = await runAndKill(['prune', '--repo', repo, '--max-unused', '0%'], 0.05 + 0.9 * next(), full);
      if (killed) landed++;
      await expectCheckPasses(repo, what);
      const again = await runEngine(['prune', '--repo', repo, '--max-unused', '0%', '--json'], { native: 'auto' });
      expect(again.code, `${what}: ${again.stderr}`).toBe(0);
      if (i % 10 === 9) {
        const c = await runEngine(['check', '--repo', repo, '--read-data'], { native: 'auto' });
        expect(c.code, `${what}: ${c.stdout}`).toBe(0);
        const target = join(work, `restore-prune-${i}`);
        expect((await runEngine(['restore', keep, '--repo', repo, '--target', target], { native: 'auto' })).code).toBe(0);
        expect((await compareTrees(expected, join(target, data))).filter((d) => !d.includes('mtime'))).toEqual([]);
      }
      await rm(repo, { recursive: true, force: true });
    }
    expect(landed, 'kills that landed while prune ran').toBeGreaterThanOrEqual(KILLS * 0.6);
  }, 900_000);

  it(`restore: ${KILLS} kills; check passes after each, and the next restore completes identical`, async () => {
    const repo = join(work, 'repo-restore');
    expect((await runEngine(['init', '--repo', repo], { native: 'auto' })).code).toBe(0);
    expect((await runEngine(['backup', '--repo', repo, src], { native: 'auto' })).code).toBe(0);
    const full = { ms: await timed(['restore', 'latest', '--repo', repo, '--target', join(work, 'restore-probe')]) };
    const next = moments(SEED + 2);
    let landed = 0;
    for (let i = 0; i < KILLS; i++) {
      const what = `restore kill ${i} (seed ${SEED + 2})`;
      const target = join(work, `restore-${i}`);
      const killed = await runAndKill(['restore', 'latest', '--repo', repo, '--target', target], 0.05 + 0.9 * next(), full);
      if (killed) landed++;
      await expectCheckPasses(repo, what);
      // Into the same target, over whatever the killed run left.
      const again = await runEngine(['restore', 'latest', '--repo', repo, '--target', target], { native: 'auto' });
      expect(again.code, `${what}: ${again.stderr}`).toBe(0);
      expect(await compareTrees(src, join(target, src)), what).toEqual([]);
      await rm(target, { recursive: true, force: true });
    }
    expect(landed, 'kills that landed while the restore ran').toBeGreaterThanOrEqual(KILLS * 0.6);
  }, 900_000);
});
