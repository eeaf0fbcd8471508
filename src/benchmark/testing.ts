// Hand-made reports for tests of the pure modules (recommend, compare, validate).
import type { ImplKind, PrimitiveName } from '../../native-bindings/types.js';
import { BENCH_SCHEMA, type BenchReport, type BenchRow, type ChosenImpl, type Fingerprint } from './types.js';

export function row(primitive: BenchRow['primitive'], operation: string, impl: string, median: number, extra: Partial<BenchRow> = {}): BenchRow {
  return {
    primitive,
    operation,
    variant: '1 MiB',
    impl,
    kind: 'native' as ImplKind,
    chosen: true,
    unit: 'MB/s',
    median,
    p25: median * 0.95,
    p75: median * 1.05,
    rmad: 0.02,
    samples: 10,
    bytes: 1 << 20,
    ...extra,
  };
}

export const CHOSEN: Record<PrimitiveName, ChosenImpl> = {
  blake3: { impl: 'b3', kind: 'native' },
  xchacha20poly1305: { impl: 'xc', kind: 'native' },
  aes256gcm: { impl: 'aes', kind: 'js' },
  argon2id: { impl: 'a2', kind: 'native' },
  zstd: { impl: 'zs', kind: 'native' },
};

export function fingerprint(model: string, chosen: Record<PrimitiveName, ChosenImpl> = CHOSEN): Fingerprint {
  return {
    cpu: { model, features: { aes: true }, featureSource: 'test' },
    logicalCores: 4,
    ramBytes: 8 * 2 ** 30,
    arch: 'x64',
    os: { platform: 'linux', release: '6.1', version: '#1' },
    node: 'v20.0.0',
    engine: '0.1.0',
    packages: {},
    policy: 'auto',
    chosen,
  };
}

/** A machine with the given cipher speeds (chosen implementations) and zstd level speeds on compressible input. */
export function machineRows(c: { xcSeal: number; xcOpen: number; aesSeal: number; aesOpen: number; levels?: Record<number, number>; hash?: number; chunk?: number }): BenchRow[] {
  const rows = [
    row('blake3', 'keyed-hash', 'b3', c.hash ?? 3000),
    row('xchacha20poly1305', 'seal', 'xc', c.xcSeal),
    row('xchacha20poly1305', 'open', 'xc', c.xcOpen),
    // a faster, unused implementation: recommendations must not read it
    row('xchacha20poly1305', 'seal', 'other', 99_999, { chosen: false }),
    row('aes256gcm', 'seal', 'aes', c.aesSeal),
    row('aes256gcm', 'open', 'aes', c.aesOpen),
    row('fastcdc', 'chunk', 'engine (TypeScript)', c.chunk ?? 1000, { variant: '8 MiB, 1 MiB average', kind: 'js' }),
    row('argon2id', 'derive', 'a2', 150, { unit: 'ms', variant: 't=3 m=64 MiB p=1' }),
  ];
  for (const [level, mbps] of Object.entries(c.levels ?? {})) {
    rows.push(row('zstd', 'compress', 'zs', mbps, { variant: `level ${level}, compressible`, ratio: 0.3 }));
    rows.push(row('zstd', 'compress', 'zs', mbps * 5, { variant: `level ${level}, incompressible`, ratio: 1 }));
  }
  return rows;
}

export function report(model: string, rows: BenchRow[], chosen: Record<PrimitiveName, ChosenImpl> = CHOSEN): BenchReport {
  return {
    schema: BENCH_SCHEMA,
    createdAt: '2025-01-01T00:00:00.000Z',
    mode: 'quick',
    sections: ['primitives'],
    fingerprint: fingerprint(model, chosen),
    primitives: rows,
    rejected: [],
    recommendations: { cipher: { cipher: 'xchacha20-poly1305', scores: { 'xchacha20-poly1305': null, 'aes-256-gcm': null }, rule: '', reason: '' }, compressionLevel: null },
  };
}
