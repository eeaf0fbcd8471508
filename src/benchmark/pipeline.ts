// The 'pipeline' section of `engine bench`: a corpus generated from a fixed seed, backed up whole
// and restored whole, into a memory backend and into a local repository, with the real classes
// under a fixed memory budget; then each stage alone on the same corpus (its ceiling). Every step
// runs in a fresh process (pipeline-step.ts), so that the peak RSS (VmHWM, which only grows) of
// each is its own. Efficiency = end-to-end MB/s over the ceiling of the slowest stage.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeMixedCorpus } from '../../bench/corpus.js';
import type { Argon2Params, NativePolicy } from '../../native-bindings/types.js';
import type { RunStepResult, StagesStepResult, StepResult, StepSpec } from './pipeline-step.js';
import {
  BACKUP_STAGES,
  RESTORE_STAGES,
  type PipelineBackend,
  type PipelineDirection,
  type PipelineReport,
  type PipelineRun,
  type PipelineStage,
  type PipelineStages,
  type PipelineSummary,
  type StageCeiling,
} from './types.js';

const MiB = 1024 * 1024;
export const PIPELINE_SEED = 20_240_601;
export const QUICK_CORPUS_BYTES = 128 * MiB;
export const FULL_CORPUS_BYTES = 512 * MiB;
export const QUICK_BUDGET_BYTES = 256 * MiB;
export const FULL_BUDGET_BYTES = 512 * MiB;
/** Argon2id of the benchmark repositories: only opening them costs it, and it is not measured. */
export const BENCH_KDF: Argon2Params = { t: 1, mKiB: 8 * 1024, p: 1 };

export interface PipelineBenchOptions {
  readonly policy: NativePolicy;
  readonly corpusBytes: number;
  readonly budgetBytes: number;
  readonly seed?: number;
  readonly onTask?: (label: string) => void;
}

function stepEntry(): string {
  const here = fileURLToPath(import.meta.url);
  // Run from src/ (vitest) or from dist/src/: the step is always the compiled one.
  const entry = here.endsWith('.ts') ? fileURLToPath(new URL('../../dist/src/benchmark/pipeline-step.js', import.meta.url)) : fileURLToPath(new URL('./pipeline-step.js', import.meta.url));
  if (!existsSync(entry)) throw new Error(`${entry} is missing: run \`npm run build\``);
  return entry;
}

/** Runs one step in a fresh node with the launcher's settings (bin/engine). */
function runStep(spec: StepSpec): Promise<StepResult> {
  const env = {
    ...process.env,
    MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2',
    MALLOC_MMAP_THRESHOLD_: process.env.MALLOC_MMAP_THRESHOLD_ ?? '131072',
    MALLOC_TRIM_THRESHOLD_: process.env.MALLOC_TRIM_THRESHOLD_ ?? '131072',
    ENGINE_LAUNCHER: '1',
  };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--max-semi-space-size=2', '--single-threaded-gc', stepEntry(), JSON.stringify(spec)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || last === '') {
        reject(new Error(`bench step ${spec.step} (${spec.backend}) failed with exit ${code}: ${err.trim() || out.trim()}`));
        return;
      }
      try {
        resolve(JSON.parse(last) as StepResult);
      } catch {
        reject(new Error(`bench step ${spec.step} (${spec.backend}) printed no result: ${last}`));
      }
    });
  });
}

async function runOf(spec: StepSpec): Promise<RunStepResult> {
  const r = await runStep(spec);
  if (r.kind !== 'run') throw new Error(`bench step ${spec.step}: unexpected result`);
  return r;
}

export async function runPipelineBench(opts: PipelineBenchOptions): Promise<PipelineReport> {
  const seed = opts.seed ?? PIPELINE_SEED;
  const tmp = await mkdtemp(join(tmpdir(), 'engine-bench-'));
  try {
    const corpus = join(tmp, 'corpus');
    opts.onTask?.(`pipeline: generating a ${Math.round(opts.corpusBytes / MiB)} MiB corpus`);
    const stats = await makeMixedCorpus(corpus, { seed, totalBytes: opts.corpusBytes });
    const corpusBytes = stats.bytes;
    const base = { corpus, budgetBytes: opts.budgetBytes, policy: opts.policy, kdf: BENCH_KDF, repo: join(tmp, 'repo') };
    const raw: { direction: PipelineDirection; backend: PipelineBackend; r: RunStepResult }[] = [];
    for (const backend of ['memory', 'local'] as const) {
      opts.onTask?.(`pipeline: backup into ${backend}`);
      raw.push({ direction: 'backup', backend, r: await runOf({ ...base, step: 'backup', backend, target: join(tmp, 'unused') }) });
    }
    for (const backend of ['local', 'memory'] as const) {
      opts.onTask?.(`pipeline: restore from ${backend}`);
      const target = join(tmp, `restore-${backend}`);
      raw.push({ direction: 'restore', backend, r: await runOf({ ...base, step: 'restore', backend, target }) });
      await rm(target, { recursive: true, force: true });
    }
    opts.onTask?.('pipeline: stages alone');
    const st = await runStep({ ...base, step: 'stages', backend: 'local', target: join(tmp, 'stages') });
    if (st.kind !== 'stages') throw new Error('bench step stages: unexpected result');
    const stages = ceilings(st, corpusBytes);
    return assemble({ corpusBytes, corpusFiles: stats.files, seed, budgetBytes: opts.budgetBytes, stages, raw });
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

function ceilings(st: StagesStepResult, corpusBytes: number): PipelineStages {
  const c = (name: string): StageCeiling => {
    const s = st.stages[name];
    if (!s) throw new Error(`bench step stages: no figure for ${name}`);
    const seconds = Math.max(s.seconds, 1e-6);
    return { mbps: corpusBytes / seconds / 1e6, seconds: s.seconds, bytes: s.bytes, threads: s.threads };
  };
  return {
    backup: { read: c('read'), chunkHash: c('chunkHash'), seal: c('seal'), store: { memory: c('store.memory'), local: c('store.local') } },
    restore: { load: { memory: c('load.memory'), local: c('load.local') }, unseal: c('unseal'), write: c('write') },
  };
}

/** The ceilings that bound one run, by stage name. */
export function ceilingsFor(stages: PipelineStages, direction: PipelineDirection, backend: PipelineBackend): Record<string, StageCeiling> {
  if (direction === 'backup') {
    const b = stages.backup;
    return { read: b.read, chunkHash: b.chunkHash, seal: b.seal, store: b.store[backend] };
  }
  const r = stages.restore;
  return { load: r.load[backend], unseal: r.unseal, write: r.write };
}

const POOL_STAGES: readonly string[] = ['chunkHash', 'seal', 'unseal'];

export function assemble(input: {
  corpusBytes: number;
  corpusFiles: number;
  seed: number;
  budgetBytes: number;
  stages: PipelineStages;
  raw: readonly { direction: PipelineDirection; backend: PipelineBackend; r: RunStepResult }[];
}): PipelineReport {
  const { corpusBytes, budgetBytes, stages } = input;
  const runs: PipelineRun[] = input.raw.map(({ direction, backend, r }) => {
    const mbps = corpusBytes / Math.max(r.seconds, 1e-6) / 1e6;
    const bound = ceilingsFor(stages, direction, backend);
    const names = (direction === 'backup' ? BACKUP_STAGES : RESTORE_STAGES) as readonly PipelineStage[];
    let limitingStage = names[0]!;
    for (const n of names) if (bound[n]!.mbps < bound[limitingStage]!.mbps) limitingStage = n;
    const utilisation: Partial<Record<PipelineStage, number>> = {};
    for (const n of names) {
      const busy = r.busyMs[n];
      if (busy !== undefined) utilisation[n] = busy / (1000 * r.seconds * (POOL_STAGES.includes(n) ? r.workers : 1));
    }
    return {
      direction,
      backend,
      seconds: r.seconds,
      mbps,
      cpuSeconds: r.cpuSeconds,
      peakRssBytes: r.peakRssBytes,
      peakRssOverBudget: r.peakRssBytes / budgetBytes,
      backendBytes: r.backendBytes,
      utilisation,
      efficiency: mbps / bound[limitingStage]!.mbps,
      limitingStage,
      workers: r.workers,
      bytes: r.bytes,
    };
  });
  const summary = (direction: PipelineDirection): PipelineSummary => {
    const mine = runs.filter((r) => r.direction === direction);
    const worst = mine.reduce((a, b) => (b.efficiency < a.efficiency ? b : a));
    const local = mine.find((r) => r.backend === 'local') ?? worst;
    return { efficiency: worst.efficiency, limitingStage: worst.limitingStage, backend: worst.backend, peakRssOverBudget: local.peakRssOverBudget };
  };
  const mbpsOf = (direction: PipelineDirection): number => runs.find((r) => r.direction === direction && r.backend === 'local')?.mbps ?? NaN;
  return {
    corpusBytes,
    corpusFiles: input.corpusFiles,
    seed: input.seed,
    budgetBytes,
    kdf: { t: BENCH_KDF.t, mKiB: BENCH_KDF.mKiB, p: BENCH_KDF.p },
    runs,
    stages,
    backup: summary('backup'),
    restore: summary('restore'),
    restoreOverBackup: mbpsOf('restore') / mbpsOf('backup'),
  };
}
