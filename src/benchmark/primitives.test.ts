import { describe, expect, it } from 'vitest';
import { ADAPTERS, DISABLED_REASON } from '../../native-bindings/index.js';
import { tryCandidate } from '../../native-bindings/select.js';
import type { Adapter } from '../../native-bindings/adapter.js';
import type { NativePolicy, PrimitiveName } from '../../native-bindings/types.js';
import { runBench } from './run.js';
import { formatReport } from './report.js';
import { parseBenchReport } from './validate.js';
import { BENCH_SCHEMA } from './types.js';

const policy: NativePolicy = process.env.ENGINE_NATIVE === 'off' ? 'fallback' : 'auto';

async function loadable(adapter: Adapter<unknown>): Promise<{ loads: string[]; fails: string[] }> {
  const loads: string[] = [];
  const fails: string[] = [];
  for (const c of adapter.candidates) ('reason' in (await tryCandidate(adapter, c)) ? fails : loads).push(c.impl);
  return { loads, fails };
}

describe('primitives bench (tiny budget, real primitives)', () => {
  it('measures every implementation that loads, native and fallback, with positive figures', async () => {
    const report = await runBench({
      quick: true,
      policy,
      sections: ['primitives'],
      tune: {
        budget: { timeMs: 1, minIterations: 2, warmupMs: 0, warmupIterations: 0 },
        kdfBudget: { timeMs: 0, minIterations: 1, warmupMs: 0, warmupIterations: 0 },
        levels: [3],
        kdf: { t: 1, mKiB: 1024, p: 1 },
      },
    });
    expect(report.schema).toBe(BENCH_SCHEMA);
    expect(report.mode).toBe('quick');

    for (const name of Object.keys(ADAPTERS) as PrimitiveName[]) {
      const adapter = ADAPTERS[name] as Adapter<unknown>;
      const { loads, fails } = await loadable(adapter);
      // ENGINE_NATIVE=off skips addons and Node built-ins alike (native-bindings/README.md).
      const skipped = (kind: string | undefined): boolean => kind === 'native' || kind === 'builtin';
      const nativeOnly = adapter.candidates.every((c) => skipped(c.kind));
      const kindOf = (impl: string): string | undefined => adapter.candidates.find((c) => c.impl === impl)?.kind;
      const expected = loads.filter((impl) => policy === 'auto' || nativeOnly || !skipped(kindOf(impl)));
      const measured = new Set(report.primitives.filter((r) => r.primitive === name).map((r) => r.impl));
      expect([...measured].sort(), name).toEqual([...expected].sort());
      // Every candidate not measured is named with a reason.
      const rejected = report.rejected.filter((r) => r.primitive === name);
      expect(rejected.map((r) => r.impl).sort(), name).toEqual(adapter.candidates.map((c) => c.impl).filter((i) => !measured.has(i)).sort());
      for (const impl of fails) expect(rejected.find((r) => r.impl === impl)?.reason, impl).toBeTruthy();
      if (policy === 'fallback') {
        for (const c of adapter.candidates) if (skipped(c.kind) && !nativeOnly) expect(rejected.find((r) => r.impl === c.impl)?.reason).toBe(DISABLED_REASON);
      }
      // A native row and a fallback row wherever a native candidate loads (and the policy allows it).
      const rows = report.primitives.filter((r) => r.primitive === name);
      if (expected.some((impl) => kindOf(impl) === 'native')) {
        expect(rows.some((r) => r.kind === 'native'), `${name} native row`).toBe(true);
        expect(rows.some((r) => r.kind !== 'native'), `${name} fallback row`).toBe(true);
      }
      expect(rows.some((r) => r.impl === report.fingerprint.chosen[name].impl && r.chosen), `${name} chosen row`).toBe(true);
    }
    // This project's install has the native modules: the native run must measure them.
    if (policy === 'auto') {
      for (const name of ['blake3', 'xchacha20poly1305', 'argon2id', 'zstd'] as const) {
        expect(report.primitives.some((r) => r.primitive === name && r.kind === 'native'), name).toBe(true);
      }
    }

    for (const r of report.primitives) {
      expect(r.median, `${r.primitive} ${r.impl}`).toBeGreaterThan(0);
      expect(Number.isFinite(r.median)).toBe(true);
      expect(r.p25).toBeLessThanOrEqual(r.median);
      expect(r.p75).toBeGreaterThanOrEqual(r.median);
      expect(r.samples).toBeGreaterThanOrEqual(1);
      expect(r.unit).toBe(r.primitive === 'argon2id' ? 'ms' : 'MB/s');
    }
    const ops = new Set(report.primitives.map((r) => `${r.primitive} ${r.operation}`));
    for (const op of ['blake3 keyed-hash', 'xchacha20poly1305 seal', 'xchacha20poly1305 open', 'aes256gcm seal', 'aes256gcm open', 'zstd compress', 'zstd decompress', 'fastcdc chunk', 'argon2id derive']) {
      expect(ops.has(op), op).toBe(true);
    }
    const compressible = report.primitives.find((r) => r.operation === 'compress' && r.variant === 'level 3, compressible');
    const random = report.primitives.find((r) => r.operation === 'compress' && r.variant === 'level 3, incompressible');
    expect(compressible?.ratio).toBeLessThan(0.6);
    expect(random?.ratio).toBeGreaterThan(0.99);

    expect(report.recommendations.compressionLevel?.level).toBe(3);
    expect(['xchacha20-poly1305', 'aes-256-gcm']).toContain(report.recommendations.cipher.cipher);
    // What --json writes reads back for --compare, and the table names every implementation.
    expect(parseBenchReport(JSON.stringify(report)).primitives).toHaveLength(report.primitives.length);
    const text = formatReport(report).join('\n');
    for (const r of report.primitives) expect(text).toContain(r.impl);
  });
});
