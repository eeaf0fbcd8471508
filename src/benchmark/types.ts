// The shapes of an `engine bench` report (schema engine-bench/1), shared by the bench runners, the
// recommendations, the printers and --compare. Plain data: a report is written and read as JSON.
import type { ImplKind, PrimitiveName } from '../../native-bindings/types.js';

export const BENCH_SCHEMA = 'engine-bench/1';
export const COMPARE_SCHEMA = 'engine-bench-compare/1';

/** Report sections: single-thread primitives, and the whole backup and restore pipeline. */
export const BENCH_SECTIONS = ['primitives', 'pipeline'] as const;
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

/** Where a pipeline run stores its repository. */
export type PipelineBackend = 'memory' | 'local';
export type PipelineDirection = 'backup' | 'restore';
export const BACKUP_STAGES = ['read', 'chunkHash', 'seal', 'store'] as const;
export const RESTORE_STAGES = ['load', 'unseal', 'write'] as const;
export type BackupStage = (typeof BACKUP_STAGES)[number];
export type RestoreStage = (typeof RESTORE_STAGES)[number];
export type PipelineStage = BackupStage | RestoreStage;
/**
 * What bounds a run: one stage (measured alone, it can go no faster), or 'cpu': every stage of
 * the run shares the machine's cores, so together they can go no faster than the cores divided by
 * the sum of their CPU seconds (each measured alone).
 */
export type PipelineLimit = PipelineStage | 'cpu';

/** One stage measured alone on the whole corpus: its share of the work (bytes) and how long it took. */
export interface StageCeiling {
  /** Source (corpus) bytes over the stage's time, 10^6 bytes/s: the end-to-end rate this stage alone would allow. */
  readonly mbps: number;
  readonly seconds: number;
  /** CPU time of the process (every thread) while the stage ran alone. */
  readonly cpuSeconds: number;
  /** Bytes the stage handles (read, sealed input, stored, ...). */
  readonly bytes: number;
  /** Threads the stage used (the pool's workers for chunkHash, seal and unseal). */
  readonly threads: number;
}

export interface PipelineStages {
  readonly backup: { readonly read: StageCeiling; readonly chunkHash: StageCeiling; readonly seal: StageCeiling; readonly store: Readonly<Record<PipelineBackend, StageCeiling>> };
  readonly restore: { readonly load: Readonly<Record<PipelineBackend, StageCeiling>>; readonly unseal: StageCeiling; readonly write: StageCeiling };
}

/** One whole backup or restore, each in a fresh process. */
export interface PipelineRun {
  readonly direction: PipelineDirection;
  readonly backend: PipelineBackend;
  /** Wall time of the pipeline (pool ready to snapshot saved / last file restored): the best try. */
  readonly seconds: number;
  /** Starting the pool and loading its primitives, before `seconds` (a fixed cost per command). */
  readonly startSeconds: number;
  /** Tries of this run; the fastest counts, with the highest peak RSS of all. */
  readonly repeat: number;
  /** Corpus bytes over wall time, 10^6 bytes/s. */
  readonly mbps: number;
  /** User + system CPU time of the process (worker threads included) over the same span. */
  readonly cpuSeconds: number;
  /** VmHWM of the process at the end (from its start, the repository opening included). */
  readonly peakRssBytes: number;
  readonly peakRssOverBudget: number;
  /** Bytes the memory backend held at the end (part of the peak RSS of memory runs); 0 for local. */
  readonly backendBytes: number;
  /** Busy share of each stage during the run: busy time / wall (pool stages: / workers × wall). */
  readonly utilisation: Readonly<Partial<Record<PipelineStage, number>>>;
  /** mbps over the lowest ceiling: the slowest stage alone, or the CPU all the stages need together. */
  readonly efficiency: number;
  readonly limitingStage: PipelineLimit;
  /** mbps over the ceiling of the slowest stage alone (ignores that the stages share the cores). */
  readonly stageEfficiency: number;
  /** Corpus MB/s the run's stages allow together on the machine's cores: cores × corpus / Σ stage CPU seconds. */
  readonly cpuCeilingMbps: number;
  readonly workers: number;
  /** Bytes stored (backup) or written (restore). */
  readonly bytes: number;
}

export interface PipelineSummary {
  /** The lower efficiency of the memory and local runs, and what bounds that run. */
  readonly efficiency: number;
  readonly limitingStage: PipelineLimit;
  /** That run's throughput over its slowest stage alone. */
  readonly stageEfficiency: number;
  readonly backend: PipelineBackend;
  /** Peak RSS over the budget of the local run (memory runs also hold the stored repository). */
  readonly peakRssOverBudget: number;
}

export interface PipelineReport {
  readonly corpusBytes: number;
  readonly corpusFiles: number;
  readonly seed: number;
  readonly budgetBytes: number;
  /** Cores the stages share (os.availableParallelism of the measuring process). */
  readonly cores: number;
  /** Tries of each run and of the stages alone; the best counts. */
  readonly repeat: number;
  /** Argon2id parameters of the benchmark repositories (cheaper than the default: only opening costs it). */
  readonly kdf: { readonly t: number; readonly mKiB: number; readonly p: number };
  readonly runs: readonly PipelineRun[];
  readonly stages: PipelineStages;
  readonly backup: PipelineSummary;
  readonly restore: PipelineSummary;
  /** Restore MB/s over backup MB/s (local repository). */
  readonly restoreOverBackup: number;
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
  /** Present when the 'pipeline' section ran. */
  readonly pipeline?: PipelineReport;
}

/** The key rows of two reports are matched on. */
export function rowKey(r: Pick<BenchRow, 'primitive' | 'operation' | 'variant' | 'impl'>): string {
  return `${r.primitive}|${r.operation}|${r.variant}|${r.impl}`;
}
