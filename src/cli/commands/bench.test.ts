// `engine bench --compare`: the command reads two saved reports, prints their comparison and
// names a bad file with a usage error (the comparison itself: src/benchmark/compare.test.ts).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PI_REPORT as pi, pipelineReport, SERVER_REPORT as server, withPipeline } from '../../../test/support/bench-reports.js';
import { exitCodeFor } from '../exit-codes.js';
import type { Output } from '../output.js';
import { benchCommand } from './bench.js';

describe('engine bench --compare', () => {
  let dir = '';
  const lines: string[] = [];
  const out: Output = { json: false, verbose: false, veryVerbose: false, result: (t) => lines.push(t), data: (v) => lines.push(JSON.stringify(v)), info: () => {}, warn: () => {}, problem: () => {} };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'engine-bench-'));
    await writeFile(join(dir, 'a.json'), JSON.stringify(server));
    await writeFile(join(dir, 'b.json'), JSON.stringify(pi));
    await writeFile(join(dir, 'bad.json'), JSON.stringify({ schema: 'engine-bench/1' }));
    await writeFile(join(dir, 'pa.json'), JSON.stringify(withPipeline(server, pipelineReport({ backupMemory: 400, backupLocal: 200, restoreMemory: 500, restoreLocal: 300, stage: 100 }))));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('prints the comparison, and gives a usage error (exit 2) naming a bad file', async () => {
    expect(await benchCommand({ compare: [join(dir, 'a.json'), join(dir, 'b.json')] }, out)).toBe(0);
    expect(lines.join('\n')).toMatch(/restored on B: xchacha20-poly1305/);
    const bad = join(dir, 'bad.json');
    const err: unknown = await benchCommand({ compare: [join(dir, 'a.json'), bad] }, out).catch((e: unknown) => e);
    expect(exitCodeFor(err)).toBe(2);
    expect((err as Error).message).toContain(bad);
    expect((err as Error).message).toMatch(/fingerprint is missing/);
    const missing: unknown = await benchCommand({ compare: [join(dir, 'nope.json'), bad] }, out).catch((e: unknown) => e);
    expect(exitCodeFor(missing)).toBe(2);
    expect((missing as Error).message).toMatch(/cannot read .*nope\.json/);
    expect(exitCodeFor(await benchCommand({ compare: [bad] }, out).catch((e: unknown) => e))).toBe(2);
  });

  it('includes the pipeline part in the --json output', async () => {
    const data: unknown[] = [];
    const json: Output = { ...out, json: true, data: (v) => data.push(JSON.parse(JSON.stringify(v))) };
    expect(await benchCommand({ compare: [join(dir, 'pa.json'), join(dir, 'b.json')] }, json)).toBe(0);
    const result = data[0] as { pipeline?: { measuredA: boolean; measuredB: boolean; runs: { direction: string; backend: string; mbpsA: number | null; mbpsB: number | null }[] } };
    expect(result.pipeline).toMatchObject({ measuredA: true, measuredB: false });
    expect(result.pipeline?.runs.find((r) => r.direction === 'backup' && r.backend === 'local')).toEqual(expect.objectContaining({ mbpsA: 200, mbpsB: null }));
  });
});
