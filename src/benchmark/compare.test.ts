import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareReports, formatCompare } from './compare.js';
import { parseBenchReport, ReportFormatError } from './validate.js';
import { machineRows, report, row } from './testing.js';
import { benchCommand } from '../cli/commands/bench.js';
import { exitCodeFor } from '../cli/exit-codes.js';
import type { Output } from '../cli/output.js';
import type { BenchReport, PipelineBackend, PipelineDirection } from './types.js';
import type { ComparedPipeline } from './compare.js';

const MiB = 2 ** 20;
type Run = ComparedPipeline['runs'][number];
type Ceiling = ComparedPipeline['stages']['backup']['read'];

function ceiling(mbps: number, cpuSeconds = 1): Ceiling {
  return { mbps, cpuSeconds };
}

function run(direction: PipelineDirection, backend: PipelineBackend, mbps: number, peakRssBytes: number, efficiency: number, limitingStage: Run['limitingStage']): Run {
  return { direction, backend, mbps, peakRssBytes, efficiency, limitingStage, stageEfficiency: Math.min(1, efficiency + 0.1), cpuCeilingMbps: mbps * 2 };
}

/** The fields of a pipeline section --compare reads: the runs given (backup/restore x memory/local MB/s), stage ceilings scaled by `stage`. */
function pipelineReport(o: { backupMemory: number; backupLocal: number; restoreMemory: number; restoreLocal: number; stage: number; corpusBytes?: number; budgetBytes?: number }): ComparedPipeline {
  const k = o.stage;
  return {
    corpusBytes: o.corpusBytes ?? 100 * MiB,
    budgetBytes: o.budgetBytes ?? 256 * MiB,
    cores: 4,
    runs: [
      run('backup', 'memory', o.backupMemory, 300 * MiB, 0.8, 'seal'),
      run('backup', 'local', o.backupLocal, 200 * MiB, 0.7, 'store'),
      run('restore', 'memory', o.restoreMemory, 250 * MiB, 0.9, 'cpu'),
      run('restore', 'local', o.restoreLocal, 150 * MiB, 0.6, 'write'),
    ],
    stages: {
      backup: { read: ceiling(10 * k), chunkHash: ceiling(2 * k), seal: ceiling(3 * k), store: { memory: ceiling(20 * k), local: ceiling(4 * k, 0.5) } },
      restore: { load: { memory: ceiling(30 * k), local: ceiling(5 * k) }, unseal: ceiling(3 * k), write: ceiling(6 * k) },
    },
    restoreOverBackup: o.restoreLocal / o.backupLocal,
  };
}

/** A report with a pipeline section, read back as --compare reads a saved file. */
const withPipeline = (r: BenchReport, pipeline: ComparedPipeline): BenchReport => parseBenchReport(JSON.stringify({ ...r, sections: ['primitives', 'pipeline'], pipeline }));

// A server with AES instructions, and a small ARM board without them (AES open slow).
const server = report('server', [...machineRows({ xcSeal: 1200, xcOpen: 1300, aesSeal: 4000, aesOpen: 4200 }), row('blake3', 'keyed-hash', 'server-only', 5000, { chosen: false })]);
const pi = report('pi', machineRows({ xcSeal: 170, xcOpen: 180, aesSeal: 27, aesOpen: 30 }));

describe('compareReports', () => {
  it('matches rows by primitive, operation, variant and implementation, with the ratio b/a', () => {
    const c = compareReports(server, pi, { a: 'server.json', b: 'pi.json' });
    const seal = c.rows.find((r) => r.primitive === 'xchacha20poly1305' && r.operation === 'seal' && r.impl === 'xc');
    expect(seal).toMatchObject({ a: 1200, b: 170 });
    expect(seal?.ratio).toBeCloseTo(170 / 1200, 6);
    const only = c.rows.find((r) => r.impl === 'server-only');
    expect(only).toMatchObject({ a: 5000, b: null, ratio: null });
    expect(c.rows).toHaveLength(server.primitives.length);
  });

  it('recommends the cipher from seal on the writer and open on the restorer', () => {
    // Server writes, Pi restores: AES would open at 30 MB/s on the Pi, XChaCha at 180.
    const toPi = compareReports(server, pi, { a: 'server', b: 'pi' });
    expect(toPi.cipher.cipher).toBe('xchacha20-poly1305');
    expect(toPi.cipher.scores).toEqual({ 'xchacha20-poly1305': 180, 'aes-256-gcm': 30 });
    // Two servers: AES wins.
    const other = report('server2', machineRows({ xcSeal: 1000, xcOpen: 1100, aesSeal: 3000, aesOpen: 3500 }));
    const c = compareReports(server, other, { a: 'a', b: 'b' });
    expect(c.cipher.cipher).toBe('aes-256-gcm');
    expect(c.cipher.scores['aes-256-gcm']).toBe(3500);
    const text = formatCompare(c).join('\n');
    expect(text).toMatch(/written on A and restored on B: aes-256-gcm/);
    expect(text).toMatch(/2\.50x|0\.83x/);
  });
});

describe('compareReports: pipeline section', () => {
  const pa = pipelineReport({ backupMemory: 400, backupLocal: 200, restoreMemory: 500, restoreLocal: 300, stage: 100 });
  const pb = pipelineReport({ backupMemory: 100, backupLocal: 80, restoreMemory: 150, restoreLocal: 50, stage: 25 });

  it('matches runs by direction and backend, and stage ceilings by stage, with the ratio b/a', () => {
    // B lists its runs in another order: matching must go by direction+backend, not position.
    const bReport = withPipeline(pi, { ...pb, runs: [...pb.runs].reverse() });
    const c = compareReports(withPipeline(server, pa), bReport, { a: 'a', b: 'b' });
    const p = c.pipeline;
    expect(p).toBeDefined();
    expect(p?.runs).toHaveLength(4);
    const backupLocal = p?.runs.find((r) => r.direction === 'backup' && r.backend === 'local');
    expect(backupLocal).toMatchObject({ mbpsA: 200, mbpsB: 80, peakRssA: 200 * MiB, peakRssB: 200 * MiB, efficiencyA: 0.7, efficiencyB: 0.7, limitA: 'store', limitB: 'store', cpuCeilingA: 400, cpuCeilingB: 160 });
    expect(backupLocal?.ratio).toBeCloseTo(0.4, 6);
    const restoreMemory = p?.runs.find((r) => r.direction === 'restore' && r.backend === 'memory');
    expect(restoreMemory).toMatchObject({ mbpsA: 500, mbpsB: 150, limitA: 'cpu', limitB: 'cpu' });
    expect(restoreMemory?.ratio).toBeCloseTo(0.3, 6);
    expect(p?.stages.map((s) => s.stage)).toEqual(['read', 'chunkHash', 'seal', 'store (memory)', 'store (local)', 'load (memory)', 'load (local)', 'unseal', 'write']);
    const storeLocal = p?.stages.find((s) => s.stage === 'store (local)');
    expect(storeLocal).toMatchObject({ direction: 'backup', mbpsA: 400, mbpsB: 100, cpuSecondsA: 0.5, cpuSecondsB: 0.5 });
    expect(storeLocal?.ratio).toBeCloseTo(0.25, 6);
    expect(p?.stages.find((s) => s.stage === 'load (memory)')).toMatchObject({ direction: 'restore', mbpsA: 3000, mbpsB: 750 });
    // A writes (local backup 200 MB/s), B restores (local restore 50 MB/s).
    expect(p?.restoreOnBOverBackupOnA).toEqual({ backupMbpsA: 200, restoreMbpsB: 50, ratio: 0.25 });
    expect(p?.notes).toEqual([]);
    expect(p).toMatchObject({ coresA: 4, coresB: 4, corpusBytesA: 100 * MiB, corpusBytesB: 100 * MiB });

    const lines = formatCompare(c);
    const text = lines.join('\n');
    expect(text).not.toMatch(/not measured in either report/);
    // after the primitives table and the cipher
    expect(lines.findIndex((l) => l.startsWith('pipeline'))).toBeGreaterThan(lines.findIndex((l) => l.startsWith('cipher for a repository')));
    expect(text).toMatch(/^backup\s+local\s+200\s+80\.0\s+0\.40x\s+200 MiB \/ 200 MiB\s+0\.70 \/ 0\.70\s+store \/ store\s+400 \/ 160\s+0\.80 \/ 0\.80$/m);
    expect(text).toMatch(/^backup\s+store \(local\)\s+400\s+100\s+0\.25x\s+0\.500 \/ 0\.500$/m);
    expect(text).toMatch(/restore on B vs backup on A \(local\): 50\.0 \/ 200 MB\/s = 0\.25x/);
    expect(text).not.toMatch(/^note:/m);
  });

  it('puts nulls and - where only one report has the section', () => {
    const c = compareReports(server, withPipeline(pi, pb), { a: 'a', b: 'b' });
    const p = c.pipeline;
    expect(p).toMatchObject({ measuredA: false, measuredB: true, corpusBytesA: null, coresA: null, restoreOnBOverBackupOnA: null, notes: [] });
    expect(p?.runs).toHaveLength(4);
    for (const r of p?.runs ?? []) {
      expect(r).toMatchObject({ mbpsA: null, ratio: null, peakRssA: null, efficiencyA: null, limitA: null });
      expect(r.mbpsB).not.toBeNull();
    }
    expect(p?.stages.find((s) => s.stage === 'seal')).toMatchObject({ mbpsA: null, mbpsB: 75, ratio: null });
    const text = formatCompare(c).join('\n');
    expect(text).toMatch(/^pipeline \(measured on B only\): A not measured; B corpus 100 MiB/m);
    expect(text).toMatch(/^backup\s+local\s+-\s+80\.0\s+-\s+- \/ 200 MiB\s+- \/ 0\.70\s+- \/ store/m);
    expect(text).toMatch(/restore on B vs backup on A \(local\): - /);

    const reverse = compareReports(withPipeline(server, pa), pi, { a: 'a', b: 'b' }).pipeline;
    expect(reverse?.runs.find((r) => r.direction === 'restore' && r.backend === 'local')).toMatchObject({ mbpsA: 300, mbpsB: null, ratio: null, limitB: null });
    expect(reverse?.restoreOnBOverBackupOnA).toBeNull();
  });

  it('prints - for fields an older report lacks (stage efficiency, cpu ceiling, cores, stage CPU seconds)', () => {
    const old = JSON.parse(JSON.stringify(pb)) as Record<string, unknown> & { runs: Record<string, unknown>[]; stages: { backup: Record<string, Record<string, unknown>> } };
    delete old.cores;
    for (const r of old.runs) {
      delete r.stageEfficiency;
      delete r.cpuCeilingMbps;
    }
    delete old.stages.backup.seal?.cpuSeconds;
    const oldReport = parseBenchReport(JSON.stringify({ ...pi, pipeline: old }));
    const c = compareReports(withPipeline(server, pa), oldReport, { a: 'a', b: 'b' });
    const p = c.pipeline;
    expect(p?.coresB).toBeNull();
    const backupLocal = p?.runs.find((r) => r.direction === 'backup' && r.backend === 'local');
    expect(backupLocal?.stageEfficiencyA).toBeCloseTo(0.8, 6);
    expect(backupLocal).toMatchObject({ stageEfficiencyB: null, cpuCeilingA: 400, cpuCeilingB: null, mbpsB: 80 });
    expect(p?.stages.find((s) => s.stage === 'seal')).toMatchObject({ cpuSecondsA: 1, cpuSecondsB: null, mbpsB: 75 });
    const text = formatCompare(c).join('\n');
    expect(text).toMatch(/B corpus 100 MiB, budget 256 MiB, - cores/);
    expect(text).toMatch(/^backup\s+local\s+200\s+80\.0\s+0\.40x.*store \/ store\s+400 \/ -\s+0\.80 \/ -$/m);
    expect(text).toMatch(/^backup\s+seal\s+300\s+75\.0\s+0\.25x\s+1\.000 \/ -$/m);
  });

  it('says when neither report measured the pipeline', () => {
    const c = compareReports(server, pi, { a: 'a', b: 'b' });
    expect(c.pipeline).toBeUndefined();
    expect('pipeline' in c).toBe(false);
    const lines = formatCompare(c);
    expect(lines.filter((l) => l.startsWith('pipeline'))).toEqual(['pipeline: not measured in either report (run `engine bench` without `--only primitives`)']);
  });

  it('notes differing corpus sizes and budgets', () => {
    const small = pipelineReport({ backupMemory: 100, backupLocal: 80, restoreMemory: 150, restoreLocal: 50, stage: 25, corpusBytes: 64 * MiB, budgetBytes: 128 * MiB });
    const c = compareReports(withPipeline(server, pa), withPipeline(pi, small), { a: 'a', b: 'b' });
    expect(c.pipeline?.notes).toHaveLength(2);
    expect(c.pipeline?.notes[0]).toMatch(/corpus sizes differ \(A 100 MiB, B 64\.0 MiB\)/);
    expect(c.pipeline?.notes[1]).toMatch(/memory budgets differ \(A 256 MiB, B 128 MiB\)/);
    const text = formatCompare(c).join('\n');
    expect(text).toMatch(/^note: corpus sizes differ \(A 100 MiB, B 64\.0 MiB\): the figures compare less directly$/m);
    const sameBudget = compareReports(withPipeline(server, pa), withPipeline(pi, { ...small, budgetBytes: pa.budgetBytes }), { a: 'a', b: 'b' });
    expect(sameBudget.pipeline?.notes).toHaveLength(1);
  });
});

describe('parseBenchReport', () => {
  it('round-trips a report and names what is wrong with a bad one', () => {
    expect(parseBenchReport(JSON.stringify(server)).primitives).toHaveLength(server.primitives.length);
    expect(() => parseBenchReport('{')).toThrow(ReportFormatError);
    expect(() => parseBenchReport(JSON.stringify({ ...server, schema: 'x/1' }))).toThrow(/schema is "x\/1"/);
    const badRow = { ...server, primitives: [{ ...server.primitives[0], median: 'fast' }] };
    expect(() => parseBenchReport(JSON.stringify(badRow))).toThrow(/primitives\[0\]\.median is not a finite number/);
    const { chosen: _c, ...noChosen } = server.fingerprint;
    expect(() => parseBenchReport(JSON.stringify({ ...server, fingerprint: noChosen }))).toThrow(/fingerprint\.chosen is missing/);
  });
});

describe('engine bench --compare', () => {
  let dir = '';
  const lines: string[] = [];
  const out: Output = { json: false, verbose: false, result: (t) => lines.push(t), data: (v) => lines.push(JSON.stringify(v)), info: () => {}, warn: () => {} };
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
