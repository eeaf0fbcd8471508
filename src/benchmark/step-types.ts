// What a pipeline step of `engine bench` is asked to do (its spec, the one argument of
// pipeline-step.js) and the one JSON line it answers with.
import type { Argon2Params, NativePolicy } from '../../native-bindings/types.js';
import type { PipelineBackend } from './types.js';

export interface StepSpec {
  readonly step: 'backup' | 'restore' | 'stages';
  readonly backend: PipelineBackend;
  readonly corpus: string;
  /** Local repository folder (backup local: created; restore: read, copied into memory for a memory run). */
  readonly repo: string;
  /** Restore target, or scratch folder of the stages step. */
  readonly target: string;
  readonly budgetBytes: number;
  readonly policy: NativePolicy;
  readonly kdf: Argon2Params;
}

export interface RunStepResult {
  readonly kind: 'run';
  /** From the pool ready to the snapshot saved / the last file restored. */
  readonly seconds: number;
  /** Starting the pool's threads and loading their primitives, before `seconds` starts. */
  readonly startSeconds: number;
  readonly cpuSeconds: number;
  readonly peakRssBytes: number;
  readonly backendBytes: number;
  readonly workers: number;
  readonly bytes: number;
  /** Busy milliseconds per stage during the run (pool stages: thread-milliseconds). */
  readonly busyMs: Readonly<Record<string, number>>;
}

export interface StageTime {
  readonly seconds: number;
  /** CPU time of the whole process (every thread) while the stage ran alone. */
  readonly cpuSeconds: number;
  readonly bytes: number;
  readonly threads: number;
}

export interface StagesStepResult {
  readonly kind: 'stages';
  readonly workers: number;
  /** Cores the process may use (os.availableParallelism): what every stage of a run shares. */
  readonly cores: number;
  readonly stages: Readonly<Record<string, StageTime>>;
}

export type StepResult = RunStepResult | StagesStepResult;
