// The pool's tasks over one thread's primitives: what a worker thread runs (workers/index.ts), and
// what the main thread runs itself when a plan has no worker (src/worker-pool/inline-tasks.ts).
// Primitives are loaded once per thread, exactly the implementations the main thread chose (never
// a silent substitute); how results travel back (transfer, or nothing to move) is the caller's.
import { loadChosenPrimitives } from '../native-bindings/index.js';
import type { Primitives } from '../native-bindings/types.js';
import { FastCdc } from '../src/chunker/fastcdc.js';
import { EnvelopeWorkspace, type Suite } from '../src/crypto/envelope.js';
import { toWire } from '../src/errors/wire.js';
import { chunkHash, seal, sealInto, unseal, unsealInto, verifyPack } from './handlers.js';
import type { ChunkHashInput, ChunkHashOutput, SealInput, SealOutput, TaskFailure, UnsealInput, UnsealOutput, VerifyPackOutput, WorkerInit } from './protocol.js';
import { TaskName } from './protocol.js';

interface Context {
  readonly p: Primitives;
  readonly cdc: FastCdc;
  /** This thread's envelope scratch, reused by every task. */
  readonly ws: EnvelopeWorkspace;
}

/** Runs a task so that its error is returned as a value (its code intact), never thrown. */
export async function settled<T>(task: () => Promise<T>): Promise<T | TaskFailure> {
  try {
    return await task();
  } catch (err) {
    return { taskError: toWire(err) };
  }
}

export class ThreadTasks {
  private readonly init: WorkerInit;
  private ready: Promise<Context> | null = null;

  constructor(init: WorkerInit) {
    this.init = init;
  }

  /** Whether the primitives were asked for (by `context` or a task). */
  get started(): boolean {
    return this.ready !== null;
  }

  context(): Promise<Context> {
    this.ready ??= loadChosenPrimitives(this.init.chosen).then((p) => ({ p, cdc: new FastCdc(this.init.chunker, this.init.gear), ws: new EnvelopeWorkspace(p, this.init.keys) }));
    return this.ready;
  }

  async chunkHash(input: ChunkHashInput): Promise<ChunkHashOutput> {
    const { p, cdc } = await this.context();
    return chunkHash(p, cdc, this.init.keys.blobId, input);
  }

  /** Into `input.out` when given (null comes back), else into a buffer of its own. */
  async seal(input: SealInput): Promise<SealOutput> {
    const { p, ws } = await this.context();
    const { keys, suite, zstdLevel, verifyAfterSeal } = this.init;
    if (!input.out) return seal(p, keys, suite as Suite, zstdLevel, verifyAfterSeal, input, ws);
    sealInto(p, keys, suite as Suite, zstdLevel, verifyAfterSeal, input, input.out, ws);
    return null;
  }

  /** Into `input.out` when given (null comes back), else into a buffer of its own. */
  async unseal(input: UnsealInput): Promise<UnsealOutput> {
    const { p, ws } = await this.context();
    if (!input.out) return unseal(p, this.init.keys, input, ws);
    unsealInto(p, this.init.keys, input, input.out, ws);
    return null;
  }

  async verifyPack(input: UnsealInput): Promise<VerifyPackOutput> {
    const { p, ws } = await this.context();
    return verifyPack(p, this.init.keys, input, ws);
  }

  /** The task of that name (TaskName), for a caller that dispatches by name. */
  run(name: string, input: unknown): Promise<unknown> {
    switch (name) {
      case TaskName.chunkHash:
        return this.chunkHash(input as ChunkHashInput);
      case TaskName.seal:
        return this.seal(input as SealInput);
      case TaskName.unseal:
        return this.unseal(input as UnsealInput);
      case TaskName.verifyPack:
        return this.verifyPack(input as UnsealInput);
      default:
        return Promise.reject(new Error(`unknown task ${name}`));
    }
  }
}
