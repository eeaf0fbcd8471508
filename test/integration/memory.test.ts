// The memory ceiling: a backup and a restore under --mem-budget keep the process's peak resident
// set (VmHWM, worker threads included) under the budget. The full 2 GiB figure is in bench/.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { workdirPerFile } from '../support/workdir.js';
import { makeMixedCorpus } from '../../src/benchmark/corpus.js';
import { currentNative, runEngine } from '../support/cli.js';
import { compareTrees } from '../support/tree.js';

const native = currentNative();
const MiB = 1024 * 1024;

describe(`memory budget (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-mem-');
  let src: string;
  let repo: string;

  beforeAll(async () => {
    src = join(work, 'src');
    repo = join(work, 'repo');
    await makeMixedCorpus(src, { seed: 3, totalBytes: 256 * MiB });
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
  });

  // 224M: above every Node major's and both primitives' backup minimum (206 MiB: Node 24 with the
  // fallbacks, docs/MEMORY.md "Per Node major").
  it('backup and restore of a 256 MiB tree stay under --mem-budget 224M', async () => {
    const b = await runEngine(['backup', '--repo', repo, '--json', '--mem-budget', '224M', src], { native });
    expect(b.code, b.stderr).toBe(0);
    expect(b.json?.budget_bytes).toBe(224 * MiB);
    expect(Number(b.json?.peak_rss_bytes)).toBeGreaterThan(0);
    expect(Number(b.json?.peak_rss_bytes)).toBeLessThan(224 * MiB);
    const r = await runEngine(['restore', 'latest', '--repo', repo, '--json', '--mem-budget', '224M', '--target', join(work, 'out')], { native });
    expect(r.code, r.stderr).toBe(0);
    expect(Number(r.json?.peak_rss_bytes)).toBeLessThan(224 * MiB);
    // Small budgets mean small segments: large files cross many segment boundaries here.
    expect(await compareTrees(src, join(work, 'out', src))).toEqual([]);
  });

  it("a backup and a restore at the planner's minimum for each stay under it; one MiB less is refused", async () => {
    // Asked from 1M up: each refusal names the minimum of the step that refused (the key's floor,
    // then the plan's, then the plan's with the index's share), and the first budget not refused runs.
    const atMinimum = async (args: string[]): Promise<{ minimum: number; run: Awaited<ReturnType<typeof runEngine>> }> => {
      let budget = 1;
      for (;;) {
        const run = await runEngine([...args, '--json', '--mem-budget', `${budget}M`], { native });
        const named = /--mem-budget (\d+)M or more/.exec(run.stderr);
        if (run.code !== 2 || !named) return { minimum: budget, run };
        expect(Number(named[1])).toBeGreaterThan(budget);
        budget = Number(named[1]);
      }
    };
    const restore = await atMinimum(['restore', 'latest', '--repo', repo, '--target', join(work, 'out-min')]);
    expect(restore.run.code, restore.run.stderr).toBe(0);
    expect(Number(restore.run.json?.peak_rss_bytes)).toBeLessThan(restore.minimum * MiB);
    // At its minimum no worker thread fits: the tasks ran on the main thread (inline-tasks.ts).
    expect(restore.run.json?.worker_threads).toBe(0);
    expect(await compareTrees(src, join(work, 'out-min', src))).toEqual([]);
    const fresh = join(work, 'repo-min');
    expect((await runEngine(['init', '--repo', fresh], { native })).code).toBe(0);
    const backup = await atMinimum(['backup', '--repo', fresh, src]);
    // Both may be the key's floor (the Argon2id phase); a backup never needs less.
    expect(backup.minimum).toBeGreaterThanOrEqual(restore.minimum);
    expect(backup.run.code, backup.run.stderr).toBe(0);
    expect(backup.run.json?.worker_threads).toBe(0);
    expect(Number(backup.run.json?.peak_rss_bytes)).toBeLessThan(backup.minimum * MiB);
    // What the main thread sealed restores as the source.
    const back = await runEngine(['restore', 'latest', '--repo', fresh, '--target', join(work, 'out-back')], { native });
    expect(back.code, back.stderr).toBe(0);
    expect(await compareTrees(src, join(work, 'out-back', src))).toEqual([]);
    const below = await runEngine(['backup', '--repo', fresh, '--json', '--mem-budget', `${backup.minimum - 1}M`, src], { native });
    expect(below.code).toBe(2);
  }, 120_000);
});
