// The shapes of an `engine bench` report (schema engine-bench/1), shared by the bench runners, the
// recommendations, the printers and --compare. Plain data: a report is written and read as JSON.
import type { ImplKind, PrimitiveName } from '../../native-bindings/types.js';

export const BENCH_SCHEMA = 'engine-bench/1';
export const COMPARE_SCHEMA = 'engine-bench-compare/1';

/** Report sections. Only 'primitives' exists so far; the whole-pipeline section comes later. */
export const BENCH_SECTIONS = ['primitives'] as const;
export type BenchSection = (typeof BENCH_SECTIONS)[number];

/** What a row measures: 'MB/s' (10^6 bytes per second, higher is better) or 'ms' per operation (lower is better). */
export type BenchUnit = 'MB/s' | 'ms';

export type BenchPrimitive = PrimitiveName | 'fastcdc';

/** One measured (primitive, operation, variant, implementation). */
export interface BenchRow {
  readonly primitive: BenchPrimitive;
  /** keyed-hash, seal, open, compress, decompress, chunk, derive */
  readonly operation: string;
  /** Input and parameters, e.g. "1 MiB", "level 3, compressible". */
  readonly variant: string;
  readonly impl: string;
  readonly kind: ImplKind;
  /** The implementation the engine uses on this machine (under the current ENGINE_NATIVE policy). */
  readonly chosen: boolean;
  readonly unit: BenchUnit;
  /** Median of the per-iteration figures. */
  readonly median: number;
  /** 25th and 75th percentiles of the per-iteration figures. */
  readonly p25: number;
  readonly p75: number;
  /** Median absolute deviation over the median (0.02 = 2%). */
  readonly rmad: number;
  readonly samples: number;
  /** Input bytes per operation (MB/s rows). */
  readonly bytes?: number;
  /** Compressed size over input size (compress rows). */
  readonly ratio?: number;
}

export interface RejectedImpl {
  readonly primitive: PrimitiveName;
  readonly impl: string;
  readonly kind: ImplKind;
  readonly reason: string;
}

export interface ChosenImpl {
  readonly impl: string;
  readonly kind: ImplKind;
}

export interface Fingerprint {
  readonly cpu: {
    readonly model: string;
    /** Instruction-set features that matter to the primitives (x86: aes, pclmulqdq, avx2, avx512f, sha_ni; ARM: asimd, aes, pmull, sha2); null when unknown. */
    readonly features: Readonly<Record<string, boolean>> | null;
    readonly featureSource: string;
  };
  readonly logicalCores: number;
  readonly ramBytes: number;
  readonly arch: string;
  readonly os: { readonly platform: string; readonly release: string; readonly version: string };
  readonly node: string;
  readonly engine: string | null;
  /** Versions of the packages implementing primitives (null: not installed), plus openssl (node:crypto). */
  readonly packages: Readonly<Record<string, string | null>>;
  /** 'auto', or 'fallback' under ENGINE_NATIVE=off. */
  readonly policy: string;
  readonly chosen: Readonly<Record<PrimitiveName, ChosenImpl>>;
}

export type CipherName = 'xchacha20-poly1305' | 'aes-256-gcm';

export interface CipherRecommendation {
  readonly cipher: CipherName;
  /** Figure compared per cipher (MB/s; null when not measured). */
  readonly scores: Readonly<Record<CipherName, number | null>>;
  readonly rule: string;
  readonly reason: string;
}

export interface LevelRecommendation {
  readonly level: number;
  readonly thresholdMBps: number;
  /** Compress MB/s of the chosen zstd on compressible input, per level measured. */
  readonly levels: readonly { readonly level: number; readonly mbps: number; readonly ratio: number | null }[];
  readonly rule: string;
  readonly reason: string;
}

export interface Recommendations {
  readonly cipher: CipherRecommendation;
  readonly compressionLevel: LevelRecommendation | null;
}

export interface BenchReport {
  readonly schema: typeof BENCH_SCHEMA;
  readonly createdAt: string;
  readonly mode: 'quick' | 'full';
  readonly sections: readonly BenchSection[];
  readonly fingerprint: Fingerprint;
  readonly primitives: readonly BenchRow[];
  readonly rejected: readonly RejectedImpl[];
  readonly recommendations: Recommendations;
}

/** The key rows of two reports are matched on. */
export function rowKey(r: Pick<BenchRow, 'primitive' | 'operation' | 'variant' | 'impl'>): string {
  return `${r.primitive}|${r.operation}|${r.variant}|${r.impl}`;
}
