import { describe, expect, it } from 'vitest';
import { compareReports, formatCompare } from './compare.js';
import { parseBenchReport, ReportFormatError } from './validate.js';
import { machineRows, PI_REPORT as pi, pipelineReport, report, SERVER_REPORT as server, withPipeline } from '../../test/support/bench-reports.js';

const MiB = 2 ** 20;

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
