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

  it('backup and restore of a 256 MiB tree stay under --mem-budget 200M', async () => {
    const b = await runEngine(['backup', '--repo', repo, '--json', '--mem-budget', '200M', src], { native });
    expect(b.code, b.stderr).toBe(0);
    expect(b.json?.budgetBytes).toBe(200 * MiB);
    expect(Number(b.json?.peakRssBytes)).toBeGreaterThan(0);
    expect(Number(b.json?.peakRssBytes)).toBeLessThan(200 * MiB);
    const r = await runEngine(['restore', 'latest', '--repo', repo, '--json', '--mem-budget', '200M', '--target', join(work, 'out')], { native });
    expect(r.code, r.stderr).toBe(0);
    expect(Number(r.json?.peakRssBytes)).toBeLessThan(200 * MiB);
    // Small budgets mean small segments: large files cross many segment boundaries here.
    expect(await compareTrees(src, join(work, 'out', 'src'))).toEqual([]);
  });
});
