import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { baselineFrom, bestOf, CPU_EFFICIENCY, evaluateGate, medianOf, GATE_SCHEMA, parseBaseline, peerCpuName, peerRatiosOf, peerThroughputName, ratiosOf, type GateBaseline, type MeasuredRatio, type PeerPair } from './gate.js';
import { report, row } from '../../test/support/bench-reports.js';

const execFileP = promisify(execFile);

/** A report with native and fallback rows for two primitives, and a pipeline section. */
function sample(scale = 1): ReturnType<typeof report> {
  const rows = [
    row('blake3', 'keyed-hash', 'b3', 9000),
    row('blake3', 'keyed-hash', 'b3-wasm', 1000 * scale, { kind: 'wasm', chosen: false }),
    row('argon2id', 'derive', 'a2', 80, { unit: 'ms', variant: 't=3' }),
    row('argon2id', 'derive', 'a2-wasm', 240 / scale, { kind: 'wasm', chosen: false, unit: 'ms', variant: 't=3' }),
  ];
  return {
    ...report('test cpu', rows),
    pipeline: {
      backup: { efficiency: 0.85 * scale, stageEfficiency: 0.5 * scale, peakRssOverBudget: 0.8 },
      restore: { efficiency: 0.9 * scale, stageEfficiency: 0.9 * scale, peakRssOverBudget: 0.7 },
      restoreOverBackup: 1.4 * scale,
    },
  } as ReturnType<typeof report>;
}

/** The baseline with every ratio made 1.5x better than it is: what a regression looks like. */
function raisedByHalf(b: GateBaseline): GateBaseline {
  const ratios = Object.fromEntries(Object.entries(b.ratios).map(([k, r]) => [k, { ...r, value: r.better === 'higher' ? r.value * 1.5 : r.value / 1.5 }]));
  return { ...b, ratios };
}

describe('the performance gate', () => {
  it('takes fallback/native ratios (MB/s and ms, both higher-is-better) and the pipeline ratios', () => {
    const r = ratiosOf(sample());
    expect(r['fallback/native blake3 keyed-hash (1 MiB) b3-wasm']).toEqual({ value: 1000 / 9000, better: 'higher' });
    expect(r['fallback/native argon2id derive (t=3) a2-wasm']).toEqual({ value: 80 / 240, better: 'higher' });
    expect(r['pipeline backup efficiency (throughput / ceiling: slowest stage or cpu)']?.value).toBe(0.85);
    expect(r['pipeline backup throughput / slowest stage alone']?.value).toBe(0.5);
    expect(r['pipeline restore peak RSS / budget']).toEqual({ value: 0.7, better: 'lower' });
    expect(Object.keys(r)).toHaveLength(9);
  });

  it('passes against a baseline of the same run, and within tolerance', () => {
    const base = baselineFrom(ratiosOf(sample()), 'test');
    expect(evaluateGate(base, ratiosOf(sample())).ok).toBe(true);
    // 15% worse is within the default 20% tolerance of higher-is-better ratios.
    expect(evaluateGate(base, ratiosOf(sample(0.85))).ok).toBe(true);
  });

  it('fails when the baseline is raised by half, naming every regressed ratio', () => {
    const base = raisedByHalf(baselineFrom(ratiosOf(sample()), 'test'));
    const result = evaluateGate(base, ratiosOf(sample()));
    expect(result.ok).toBe(false);
    const failed = result.rows.filter((r) => !r.ok).map((r) => r.name);
    expect(failed).toHaveLength(9);
    expect(result.rows.every((r) => r.ok || r.note.includes('REGRESSION'))).toBe(true);
  });

  it('fails when a baseline ratio is no longer measured, and only reports new ones', () => {
    const base = baselineFrom(ratiosOf(sample()), 'test');
    const measured = ratiosOf(sample());
    delete measured['pipeline restore / backup throughput'];
    measured['something new'] = { value: 1, better: 'higher' };
    const result = evaluateGate(base, measured);
    expect(result.ok).toBe(false);
    expect(result.rows.find((r) => r.name === 'pipeline restore / backup throughput')?.note).toContain('not measured');
    expect(result.rows.find((r) => r.name === 'something new')?.ok).toBe(true);
  });

  it('on a machine with other CPU features, fallback/native ratios are advisory; pipeline ratios still gate', () => {
    const base = raisedByHalf(baselineFrom(ratiosOf(sample()), 'test', 'aes avx2'));
    const result = evaluateGate(base, ratiosOf(sample()), { otherCpu: true });
    expect(result.ok).toBe(false);
    const failed = result.rows.filter((r) => !r.ok).map((r) => r.name);
    expect(failed.every((n) => n.startsWith('pipeline'))).toBe(true);
    expect(failed).toHaveLength(7);
    expect(result.rows.filter((r) => r.name.startsWith('fallback/native')).every((r) => r.note.includes('advisory'))).toBe(true);
  });

  it('judges each ratio on its best run: a dip in one run passes, a regression in every run fails', () => {
    const base = baselineFrom(ratiosOf(sample()), 'test');
    const dipped = ratiosOf(sample(0.5));
    const slower = { ...ratiosOf(sample()), 'pipeline backup peak RSS / budget': { value: 2, better: 'lower' as const } };
    expect(evaluateGate(base, dipped).ok).toBe(false);
    // One run loaded (every ratio halved), the next clean: the best of the two passes.
    expect(evaluateGate(base, bestOf([dipped, ratiosOf(sample())])).ok).toBe(true);
    // Lower-is-better ratios take the lowest run.
    expect(bestOf([slower, ratiosOf(sample())])['pipeline backup peak RSS / budget']?.value).toBe(0.8);
    // Worse in every run stays a regression.
    const result = evaluateGate(base, bestOf([dipped, ratiosOf(sample(0.6)), ratiosOf(sample(0.5))]));
    expect(result.ok).toBe(false);
    expect(result.rows.filter((r) => !r.ok)).toHaveLength(7);
  });

  it('writes a baseline from the median of its runs', () => {
    const m = medianOf([ratiosOf(sample(0.5)), ratiosOf(sample(2)), ratiosOf(sample())]);
    expect(m['pipeline backup efficiency (throughput / ceiling: slowest stage or cpu)']?.value).toBe(0.85);
    expect(medianOf([ratiosOf(sample(0.5)), ratiosOf(sample())])['pipeline restore / backup throughput']?.value).toBeCloseTo(1.05);
    expect(m['pipeline restore peak RSS / budget']).toEqual({ value: 0.7, better: 'lower' });
  });

  it('takes the CPU efficiency of each direction: stages alone over the run, the lower of the two backends', () => {
    const stage = (cpuSeconds: number): { mbps: number; seconds: number; cpuSeconds: number; bytes: number; threads: number } => ({ mbps: 100, seconds: 1, cpuSeconds, bytes: 1, threads: 1 });
    const withRuns = {
      ...sample(),
      pipeline: {
        ...sample().pipeline,
        stages: {
          backup: { read: stage(0.1), chunkHash: stage(0.5), seal: stage(0.3), store: { memory: stage(0.1), local: stage(0.3) } },
          restore: { load: { memory: stage(0.1), local: stage(0.2) }, unseal: stage(0.3), write: stage(0.1) },
        },
        runs: [
          { direction: 'backup', backend: 'memory', cpuSeconds: 2 },
          { direction: 'backup', backend: 'local', cpuSeconds: 2 },
          { direction: 'restore', backend: 'memory', cpuSeconds: 0.5 },
          { direction: 'restore', backend: 'local', cpuSeconds: 1.2 },
        ],
      },
    } as unknown as ReturnType<typeof report>;
    const r = ratiosOf(withRuns);
    expect(r[CPU_EFFICIENCY.backup]?.value).toBeCloseTo(1.0 / 2); // memory: 1.0 of 2, local: 1.2 of 2
    expect(r[CPU_EFFICIENCY.restore]?.value).toBeCloseTo(0.6 / 1.2);
    expect(r[CPU_EFFICIENCY.backup]?.better).toBe('higher');
  });

  it('takes the peer ratios as the median over interleaved rounds of restic time over engine time', () => {
    const pair = (e: number, p: number): PeerPair => ({ engine: { wallSeconds: e, cpuSeconds: 2 * e }, peer: { wallSeconds: p, cpuSeconds: p } });
    // One round hit by load on engine's side (ratio 0.5) is dropped by the median.
    const r = peerRatiosOf('restic', { 'first backup': [pair(2, 2), pair(4, 2), pair(2, 2.2)], restore: [pair(1, 2)] });
    expect(r[peerThroughputName('restic', 'first backup')]).toEqual({ value: 1, better: 'higher', needs: 'restic' });
    expect(r[peerCpuName('restic', 'first backup')]?.value).toBeCloseTo(0.5);
    expect(r[peerThroughputName('restic', 'restore')]?.value).toBe(2);
    expect(r[peerThroughputName('restic', 'no-change backup')]).toBeUndefined();
  });

  it('skips a ratio that needs an absent program, fails it when the program is there but the ratio is not measured', () => {
    const name = peerThroughputName('restic', 'restore');
    const base: GateBaseline = { ...baselineFrom(ratiosOf(sample()), 'test'), ratios: { ...baselineFrom(ratiosOf(sample()), 'test').ratios, [name]: { value: 0.8, better: 'higher', tolerance: 0.2, needs: 'restic' } } };
    const absent = evaluateGate(base, ratiosOf(sample()), { absent: { restic: 'restic is not installed' } });
    expect(absent.ok).toBe(true);
    expect(absent.rows.find((r) => r.name === name)?.note).toBe('skipped: restic is not installed');
    expect(evaluateGate(base, ratiosOf(sample())).ok).toBe(false);
    expect(evaluateGate(base, { ...ratiosOf(sample()), [name]: { value: 0.7, better: 'higher' } }).ok).toBe(true);
    expect(evaluateGate(base, { ...ratiosOf(sample()), [name]: { value: 0.5, better: 'higher' } }).ok).toBe(false);
  });

  it('shows an advisory ratio beyond tolerance without failing', () => {
    const plain = baselineFrom(ratiosOf(sample()), 'test');
    const name = 'pipeline backup efficiency (throughput / ceiling: slowest stage or cpu)';
    const base: GateBaseline = { ...plain, ratios: { ...plain.ratios, [name]: { ...plain.ratios[name]!, advisory: 'wall time against every core' } } };
    const measured = { ...ratiosOf(sample()), [name]: { value: 0.1, better: 'higher' as const } };
    const result = evaluateGate(base, measured);
    expect(result.ok).toBe(true);
    expect(result.rows.find((r) => r.name === name)?.note).toContain('beyond tolerance, advisory: wall time against every core');
  });

  it('writes a baseline that keeps the tolerances and advisory notes of the previous one, and the program a ratio needs', () => {
    const measured = { ...ratiosOf(sample()), ...peerRatiosOf('restic', { restore: [{ engine: { wallSeconds: 1, cpuSeconds: 1 }, peer: { wallSeconds: 1, cpuSeconds: 1 } }] }) };
    const name = 'pipeline restore / backup throughput';
    const plain = baselineFrom(ratiosOf(sample()), 'test');
    const previous: GateBaseline = { ...plain, ratios: { ...plain.ratios, [name]: { ...plain.ratios[name]!, tolerance: 0.1, advisory: 'filesystem' } } };
    const next = baselineFrom(measured, 'test', undefined, previous);
    expect(next.ratios[name]).toMatchObject({ tolerance: 0.1, advisory: 'filesystem' });
    expect(next.ratios[peerThroughputName('restic', 'restore')]).toMatchObject({ needs: 'restic', tolerance: 0.2 });
    expect(parseBaseline(JSON.stringify(next), 'b.json').ratios[peerThroughputName('restic', 'restore')]?.needs).toBe('restic');
  });

  it('refuses a malformed baseline with a message naming the file', () => {
    expect(() => parseBaseline('{}', 'b.json')).toThrow(/b.json is not a gate baseline/);
    expect(() => parseBaseline(JSON.stringify({ schema: GATE_SCHEMA, ratios: { x: { value: 1, better: 'up', tolerance: 0.1 } } }), 'b.json')).toThrow(/ratio "x"/);
    expect(() => parseBaseline(JSON.stringify({ schema: GATE_SCHEMA, ratios: { x: { value: 1, better: 'up', tolerance: 0.1, needs: 3 } } }), 'b.json')).toThrow(/ratio "x"/);
    expect(() => parseBaseline(JSON.stringify({ schema: GATE_SCHEMA, ratios: { x: { value: 1, better: 'higher', tolerance: 0.1, needs: 3 } } }), 'b.json')).toThrow(/"needs" must be a string/);
  });

  describe('npm run bench:gate (dist/bench/gate.js)', () => {
    const gate = fileURLToPath(new URL('../../dist/bench/gate.js', import.meta.url));
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'engine-gate-'));
      await writeFile(join(dir, 'report.json'), JSON.stringify(sample()));
      const base = baselineFrom(ratiosOf(sample()), 'test');
      await writeFile(join(dir, 'same.json'), JSON.stringify(base));
      await writeFile(join(dir, 'raised.json'), JSON.stringify(raisedByHalf(base)));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('exits 0 against its own baseline and 1 with a readable table on an injected regression', async () => {
      const ok = await execFileP(process.execPath, [gate, '--report', join(dir, 'report.json'), '--baseline', join(dir, 'same.json')]);
      expect(ok.stdout).toContain('gate passed');
      const bad = await execFileP(process.execPath, [gate, '--report', join(dir, 'report.json'), '--baseline', join(dir, 'raised.json')]).then(
        () => null,
        (e: { code: number; stdout: string }) => e,
      );
      expect(bad?.code).toBe(1);
      expect(bad?.stdout).toContain('gate FAILED: 9 of 9');
      expect(bad?.stdout).toContain('REGRESSION');
    });
  });
});

/**
 * Every gated ratio as measured on this 2-core machine (AMD EPYC, node 20), 2026-12-07, while
 * other helpers' builds and tests shared it (load average 3-5), runs taken alternately with and
 * without a `node -e "for(;;){}"` process hogging a core. Quick-bench ratios: five runs of
 * `bin/engine bench --quick --json` (the CPU efficiency computed from their reports). Peer ratios:
 * four comparisons (bench/harness/peer-gate.ts, restic 0.18.0, 128 MiB tree, cold cache) of the
 * code at commit dafbfd4 with other work in progress: two `npm run bench:gate` runs (one beside the
 * hog) and two runs of the comparison alone (one beside the hog). Runs taken while other work kept
 * the machine busier still (load average 6-7) are not here: that is what BUSY_SHARE in
 * bench/gate.ts is for.
 */
const MEASURED: Readonly<Record<string, readonly number[]>> = {
  "fallback/native blake3 keyed-hash (1 MiB) blake3-wasm": [0.1387, 0.1254, 0.1222, 0.1252, 0.124],
  "fallback/native blake3 keyed-hash (1 MiB) hash-wasm": [0.1432, 0.1311, 0.1289, 0.1292, 0.1293],
  "fallback/native xchacha20poly1305 seal (1 MiB) node:crypto+hchacha20": [0.5641, 0.5655, 0.556, 0.6024, 0.5828],
  "fallback/native xchacha20poly1305 seal (1 MiB) @noble/ciphers": [0.1066, 0.1091, 0.1127, 0.1122, 0.1102],
  "fallback/native xchacha20poly1305 open (1 MiB) node:crypto+hchacha20": [0.8499, 0.8446, 1.0256, 0.8425, 0.8502],
  "fallback/native xchacha20poly1305 open (1 MiB) @noble/ciphers": [0.1087, 0.1118, 0.1343, 0.1105, 0.1102],
  "fallback/native zstd compress (level 3, compressible) @bokuweb/zstd-wasm": [0.4383, 0.4295, 0.3647, 0.4431, 0.4398],
  "fallback/native zstd compress (level 3, incompressible) @bokuweb/zstd-wasm": [0.3293, 0.3239, 0.333, 0.3248, 0.3203],
  "fallback/native zstd decompress (level 3 frame, compressible) @bokuweb/zstd-wasm": [0.5838, 0.5808, 0.6042, 0.6027, 0.5894],
  "fallback/native zstd decompress (level 3 frame, incompressible) @bokuweb/zstd-wasm": [0.5767, 0.5834, 0.6013, 0.6159, 0.5672],
  "fallback/native argon2id derive (t=3 m=64 MiB p=1) hash-wasm": [0.2908, 0.2919, 0.2778, 0.2942, 0.296],
  "pipeline backup CPU efficiency (CPU s of its stages alone / CPU s of the run)": [0.6226, 0.5876, 0.6573, 0.6251, 0.5622],
  "pipeline backup peak RSS / budget": [0.7351, 0.7537, 0.6695, 0.7288, 0.7657],
  "pipeline restore peak RSS / budget": [0.6251, 0.6313, 0.5925, 0.6165, 0.6103],
  "peers first backup: engine/restic throughput (restic wall / engine wall)": [0.945, 0.816, 0.9468, 0.8887],
  "peers first backup: engine/restic CPU efficiency (restic CPU s / engine CPU s)": [0.758, 0.674, 0.7429, 0.7104],
  "peers no-change backup: engine/restic throughput (restic wall / engine wall)": [0.786, 0.686, 0.7828, 0.6396],
  "peers restore: engine/restic throughput (restic wall / engine wall)": [0.744, 0.748, 0.7882, 0.7638],
  "peers restore: engine/restic CPU efficiency (restic CPU s / engine CPU s)": [0.54, 0.509, 0.5174, 0.5727],
  "peers check read-data: engine/restic throughput (restic wall / engine wall)": [0.873, 0.827, 0.833, 0.8086],
  "peers check read-data: engine/restic CPU efficiency (restic CPU s / engine CPU s)": [0.616, 0.52, 0.5982, 0.5169],
};

function median(v: readonly number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

describe('the committed baseline (bench/baseline.json) against spreads measured on a loaded 2-core machine', () => {
  const file = fileURLToPath(new URL('../../bench/baseline.json', import.meta.url));
  const baseline = parseBaseline(readFileSync(file, 'utf8'), file);
  const gated = Object.entries(baseline.ratios).filter(([, r]) => r.advisory === undefined);
  /** Every gated ratio at the median of its measured runs, one of them replaced. */
  const typical = (name?: string, value?: number): Record<string, MeasuredRatio> => {
    const out: Record<string, MeasuredRatio> = {};
    for (const [n, r] of gated) out[n] = { value: n === name ? value! : median(MEASURED[n] ?? []), better: r.better };
    return out;
  };

  it('has a measured spread for every gated ratio, and gates the peer ratios only where restic is installed', () => {
    expect(gated.map(([n]) => n).filter((n) => MEASURED[n] === undefined)).toEqual([]);
    expect(gated.filter(([n]) => n.startsWith('peers ')).every(([, r]) => r.needs === 'restic')).toBe(true);
    expect(gated.filter(([n]) => n.startsWith('peers ')).length).toBe(7);
  });

  it('passes every measured run of every ratio on its own, without measuring again', () => {
    for (const [name] of gated) {
      for (const value of MEASURED[name]!) {
        const result = evaluateGate(baseline, typical(name, value));
        expect({ name, value, failed: result.rows.filter((r) => !r.ok).map((r) => r.name) }).toEqual({ name, value, failed: [] });
      }
    }
  });

  it('fails a 30% regression of each gated ratio, even when all three runs are as lucky as the luckiest run measured', () => {
    for (const [name, base] of gated) {
      const values = MEASURED[name]!;
      // The most favourable deviation from the median any measured run showed, applied to a
      // value 30% worse than the baseline's.
      const luck = base.better === 'higher' ? Math.max(...values) / median(values) : Math.min(...values) / median(values);
      const regressed = (base.better === 'higher' ? base.value * 0.7 : base.value * 1.3) * luck;
      const runs = [typical(name, regressed), typical(name, regressed), typical(name, regressed)];
      const result = evaluateGate(baseline, bestOf(runs));
      expect({ name, failed: result.rows.filter((r) => !r.ok).map((r) => r.name) }).toEqual({ name, failed: [name] });
    }
  });

  it('on a machine without restic, skips the peer ratios and fails nothing else', () => {
    const withoutPeers = Object.fromEntries(Object.entries(typical()).filter(([n]) => !n.startsWith('peers ')));
    const result = evaluateGate(baseline, withoutPeers, { absent: { restic: 'restic is not installed (not on PATH)' } });
    expect(result.ok).toBe(true);
    expect(result.rows.filter((r) => r.note.startsWith('skipped')).length).toBe(8);
    expect(evaluateGate(baseline, withoutPeers).ok).toBe(false);
  });

  it('shows the ratios of a section that ran on a busy machine without judging them', () => {
    const regressed = Object.fromEntries(Object.entries(typical()).map(([n, m]) => [n, { ...m, value: m.better === 'higher' ? m.value / 2 : m.value * 2 }]));
    const busy = { owns: (n: string) => n.startsWith('peers '), why: 'not judged: other work kept 1.6 of 2 cores busy' };
    const result = evaluateGate(baseline, regressed, { unjudged: [busy] });
    expect(result.rows.filter((r) => !r.ok).every((r) => !r.name.startsWith('peers '))).toBe(true);
    expect(result.rows.find((r) => r.name.startsWith('peers '))?.note).toContain('advisory: not judged');
    expect(result.ok).toBe(false);
  });
});
