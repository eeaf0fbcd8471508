// Hand-made reports for tests of the pure modules (recommend, compare, validate) and of `engine bench`.
import type { ImplKind, PrimitiveName } from '../../native-bindings/types.js';
import type { ComparedPipeline } from '../../src/benchmark/compare.js';
import { BENCH_SCHEMA, type BenchReport, type BenchRow, type ChosenImpl, type Fingerprint, type PipelineBackend, type PipelineDirection } from '../../src/benchmark/types.js';
import { parseBenchReport } from '../../src/benchmark/validate.js';

const MiB = 2 ** 20;

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

type Run = ComparedPipeline['runs'][number];
type Ceiling = ComparedPipeline['stages']['backup']['read'];

function ceiling(mbps: number, cpuSeconds = 1): Ceiling {
  return { mbps, cpuSeconds };
}

function run(direction: PipelineDirection, backend: PipelineBackend, mbps: number, peakRssBytes: number, efficiency: number, limitingStage: Run['limitingStage']): Run {
  return { direction, backend, mbps, peakRssBytes, efficiency, limitingStage, stageEfficiency: Math.min(1, efficiency + 0.1), cpuCeilingMbps: mbps * 2 };
}

/** The fields of a pipeline section --compare reads: the runs given (backup/restore x memory/local MB/s), stage ceilings scaled by `stage`. */
export function pipelineReport(o: { backupMemory: number; backupLocal: number; restoreMemory: number; restoreLocal: number; stage: number; corpusBytes?: number; budgetBytes?: number }): ComparedPipeline {
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
export const withPipeline = (r: BenchReport, pipeline: ComparedPipeline): BenchReport => parseBenchReport(JSON.stringify({ ...r, sections: ['primitives', 'pipeline'], pipeline }));

// A server with AES instructions, and a small ARM board without them (AES open slow).
export const SERVER_REPORT = report('server', [...machineRows({ xcSeal: 1200, xcOpen: 1300, aesSeal: 4000, aesOpen: 4200 }), row('blake3', 'keyed-hash', 'server-only', 5000, { chosen: false })]);
export const PI_REPORT = report('pi', machineRows({ xcSeal: 170, xcOpen: 180, aesSeal: 27, aesOpen: 30 }));
