// An interrupted backup resumes without storing again what was already stored: index objects are
// written while the backup runs, so the next run knows the packs an earlier, killed run completed.
import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { workdirPerFile } from '../support/workdir.js';
import { makeMixedCorpus } from '../../src/benchmark/corpus.js';
import { ENGINE_BIN, TEST_PASSWORD, currentNative, runEngine } from '../support/cli.js';
import { compareTrees } from '../support/tree.js';

const native = currentNative();
const MiB = 1024 * 1024;

async function count(dir: string): Promise<number> {
  try {
    return (await readdir(dir)).length;
  } catch {
    return 0;
  }
}

/**
 * Starts a backup of `src` into `repo` and sends `signal` once `folder` of the repository holds at
 * least `atLeast` entries; resolves with whether the signal was sent and the exit code.
 */
async function interruptBackup(repo: string, src: string, folder: string, atLeast: number, signal: NodeJS.Signals): Promise<{ sent: boolean; code: number | null }> {
  const child = spawn(ENGINE_BIN, ['backup', '--repo', repo, '--mem-budget', '256M', src], {
    env: { ...process.env, ENGINE_PASSWORD: TEST_PASSWORD, ENGINE_NATIVE: native },
    stdio: 'ignore',
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  let sent = false;
  for (let i = 0; i < 600 && !sent && child.exitCode === null; i++) {
    if ((await count(join(repo, folder))) >= atLeast) {
      child.kill(signal);
      sent = true;
    } else {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return { sent, code: await exited };
}

describe(`interrupted backup (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-resume-');
  let src: string;
  let repo: string;

  beforeAll(async () => {
    src = join(work, 'src');
    repo = join(work, 'repo');
    await makeMixedCorpus(src, { seed: 9, totalBytes: 160 * MiB });
    // Small packs, so index objects (one per 16 packs) are written early in the run.
    expect((await runEngine(['init', '--repo', repo, '--pack-size', '1M'], { native })).code).toBe(0);
  });

  it('a backup killed after its first index objects is resumed: the next run stores only the rest', async () => {
    const { sent } = await interruptBackup(repo, src, 'index', 2, 'SIGKILL');
    expect(sent, 'the backup finished before two index objects were written').toBe(true);
    expect(await count(join(repo, 'snapshots'))).toBe(0);

    const resumed = await runEngine(['backup', '--repo', repo, '--json', src], { native });
    expect(resumed.code, resumed.stderr).toBe(0);
    const fresh = join(work, 'fresh-repo');
    expect((await runEngine(['init', '--repo', fresh, '--pack-size', '1M'], { native })).code).toBe(0);
    const full = await runEngine(['backup', '--repo', fresh, '--json', src], { native });
    expect(full.code, full.stderr).toBe(0);
    // The resumed run stored strictly less than a backup from scratch: what the killed run
    // indexed (at least 32 packs of about 1 MiB) was not stored again.
    expect(Number(resumed.json?.data_added_packed)).toBeLessThan(Number(full.json?.data_added_packed) - 16 * MiB);

    const target = join(work, 'out');
    const r = await runEngine(['restore', 'latest', '--repo', repo, '--target', target], { native });
    expect(r.code, r.stderr).toBe(0);
    expect(await compareTrees(src, join(target, src))).toEqual([]);
  });

  it('Ctrl-C (SIGINT) exits 130, indexes the packs already stored, and the next run reuses them', async () => {
    const repo2 = join(work, 'repo-int');
    expect((await runEngine(['init', '--repo', repo2, '--pack-size', '1M'], { native })).code).toBe(0);
    const { sent, code } = await interruptBackup(repo2, src, 'data', 8, 'SIGINT');
    expect(sent, 'the backup finished before it could be interrupted').toBe(true);
    expect(code).toBe(130);
    expect(await count(join(repo2, 'snapshots'))).toBe(0);
    expect(await count(join(repo2, 'index'))).toBeGreaterThanOrEqual(1);
    const next = await runEngine(['backup', '--repo', repo2, '--json', src], { native });
    expect(next.code, next.stderr).toBe(0);
    const fresh = join(work, 'fresh-int');
    expect((await runEngine(['init', '--repo', fresh, '--pack-size', '1M'], { native })).code).toBe(0);
    const full = await runEngine(['backup', '--repo', fresh, '--json', src], { native });
    expect(Number(next.json?.data_added_packed)).toBeLessThan(Number(full.json?.data_added_packed));
  });
});
