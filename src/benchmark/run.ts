// Runs the sections of `engine bench` and assembles the report (schema engine-bench/1).
import { loadPrimitives } from '../../native-bindings/index.js';
import type { NativePolicy, PrimitiveName } from '../../native-bindings/types.js';
import { DEFAULT_KDF } from '../repository/key-store.js';
import { collectFingerprint } from './fingerprint.js';
import { FULL_BUDGET, FULL_KDF_BUDGET, FULL_LEVELS, QUICK_BUDGET, QUICK_KDF_BUDGET, QUICK_LEVELS, runPrimitiveBench, type PrimitiveBenchOptions } from './primitives.js';
import { FULL_BUDGET_BYTES, FULL_CORPUS_BYTES, PIPELINE_REPEAT, QUICK_BUDGET_BYTES, QUICK_CORPUS_BYTES, runPipelineBench, type PipelineBenchOptions } from './pipeline.js';
import { recommend } from './recommend.js';
import { BENCH_SCHEMA, type BenchReport, type BenchSection, type PipelineReport } from './types.js';

export interface BenchRunOptions {
  readonly quick: boolean;
  readonly policy: NativePolicy;
  readonly sections: readonly BenchSection[];
  readonly onTask?: (label: string) => void;
  /** Overrides of the preset (tests use a tiny budget). */
  readonly tune?: Partial<Pick<PrimitiveBenchOptions, 'budget' | 'kdfBudget' | 'levels' | 'kdf'>>;
  /** Overrides of the pipeline preset (tests use a tiny corpus). */
  readonly pipelineTune?: Partial<Pick<PipelineBenchOptions, 'corpusBytes' | 'budgetBytes' | 'seed' | 'workDir'>>;
}

export async function runBench(opts: BenchRunOptions): Promise<BenchReport> {
  const { report: selection } = await loadPrimitives(opts.policy);
  const fingerprint = collectFingerprint(opts.policy, selection);
  const chosen = Object.fromEntries(Object.entries(fingerprint.chosen).map(([p, c]) => [p, c.impl])) as Record<PrimitiveName, string>;
  let primitives: BenchReport['primitives'] = [];
  let rejected: BenchReport['rejected'] = [];
  if (opts.sections.includes('primitives')) {
    const result = await runPrimitiveBench({
      policy: opts.policy,
      budget: opts.quick ? QUICK_BUDGET : FULL_BUDGET,
      kdfBudget: opts.quick ? QUICK_KDF_BUDGET : FULL_KDF_BUDGET,
      levels: opts.quick ? QUICK_LEVELS : FULL_LEVELS,
      kdf: DEFAULT_KDF,
      chosen,
      ...(opts.onTask ? { onTask: opts.onTask } : {}),
      ...opts.tune,
    });
    primitives = result.rows;
    rejected = result.rejected;
  }
  let pipeline: PipelineReport | undefined;
  // Three tries per step, the best counting: one try's figures moved by 2x on this 2-core VM.
  if (opts.sections.includes('pipeline')) {
    pipeline = await runPipelineBench({
      policy: opts.policy,
      corpusBytes: opts.quick ? QUICK_CORPUS_BYTES : FULL_CORPUS_BYTES,
      budgetBytes: opts.quick ? QUICK_BUDGET_BYTES : FULL_BUDGET_BYTES,
      repeat: PIPELINE_REPEAT,
      ...(opts.onTask ? { onTask: opts.onTask } : {}),
      ...opts.pipelineTune,
    });
  }
  return {
    schema: BENCH_SCHEMA,
    createdAt: new Date().toISOString(),
    mode: opts.quick ? 'quick' : 'full',
    sections: [...opts.sections],
    fingerprint,
    primitives,
    rejected,
    recommendations: recommend({ rows: primitives, chosen: fingerprint.chosen }),
    ...(pipeline ? { pipeline } : {}),
  };
}
