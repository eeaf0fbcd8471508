// Typed wrapper over the piscina pool. Worker files are loaded by path, so the pool always runs
// the compiled workers from dist/ (vitest's TypeScript transform does not reach worker threads).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { ErrorCode, InternalError, isEngineError } from '../errors/engine-error.js';
import { fromWire, type WireError } from '../errors/wire.js';
import type { ChunkHashInput, ChunkHashOutput, SealInput, UnsealInput, WorkerInit } from '../../workers/protocol.js';
import { isTaskFailure, TaskName } from '../../workers/protocol.js';
import { BusyMeter } from '../util/busy-meter.js';
import { InlineTasks } from './inline-tasks.js';

function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  // dist/src/worker-pool/pool.js → dist/workers/index.js; src/worker-pool/pool.ts → dist/workers/index.js
  const compiled = here.endsWith('.ts') ? fileURLToPath(new URL('../../dist/workers/index.js', import.meta.url)) : fileURLToPath(new URL('../../workers/index.js', import.meta.url));
  if (!existsSync(compiled)) throw new InternalError(`worker script ${compiled} is missing`, { hint: 'run `npm run build`' });
  return compiled;
}

/** Only a buffer that a view covers whole may be transferred (pooled Buffers share one ArrayBuffer). */
function owned(bytes: Uint8Array): ArrayBuffer {
  if (bytes.byteOffset !== 0 || bytes.byteLength !== bytes.buffer.byteLength || !(bytes.buffer instanceof ArrayBuffer)) {
    throw new InternalError('a buffer handed to a worker must own its whole ArrayBuffer');
  }
  return bytes.buffer;
}

function transferFor(bytes: Uint8Array): ArrayBuffer[] | undefined {
  return bytes.buffer instanceof SharedArrayBuffer ? undefined : [owned(bytes)];
}

/** The typed error a task returned; a bug (or a non-engine error) says which task it came from. */
function taskError(name: string, w: WireError): Error {
  const err = fromWire(w);
  if (err.code !== ErrorCode.INTERNAL) return err;
  return new InternalError(`worker task ${name} failed: ${err.message}`, { cause: err });
}

export class WorkerPool {
  private readonly init: WorkerInit;
  private piscina: Piscina | null = null;
  /** With no threads (a plan whose budget holds no worker), the tasks run on this thread. */
  private readonly inline: InlineTasks | null;
  /** Worker threads; 0 runs every task on the calling thread (src/worker-pool/inline-tasks.ts). */
  readonly threads: number;
  private tasks = 0;
  /** Thread time spent on tasks, per task name (for `engine bench`). */
  readonly busy: BusyMeter;

  constructor(init: WorkerInit, threads: number) {
    if (!Number.isInteger(threads) || threads < 0) throw new InternalError(`a pool needs a whole number of threads, not ${threads}`);
    this.init = init;
    this.threads = threads;
    this.inline = threads === 0 ? new InlineTasks(init) : null;
    if (!this.inline) workerFile(); // a missing build is reported now, not at the first task
    this.busy = new BusyMeter(Math.max(1, threads));
  }

  /**
   * Starts the threads (each loads its primitives as it starts). Idempotent; the first task starts
   * them too. A backup calls it when it first has a file to read, so that a backup with nothing
   * new (the nightly common case) never pays for threads it does not use: about 0.4 CPU s of its
   * 2 here (docs/BENCHMARKS.md).
   */
  start(): void {
    if (this.inline) return this.inline.start();
    this.piscina ??= new Piscina({
      filename: workerFile(),
      workerData: this.init,
      minThreads: this.threads,
      maxThreads: this.threads,
      // Tasks are bounded upstream in bytes; this only guards against a runaway producer.
      maxQueue: 1024,
      idleTimeout: 60_000,
      // 'disabled' keeps idle workers from parking in Atomics.wait, which would stall async loads.
      atomics: 'disabled',
    });
  }

  /** Whether the threads were started (for tests: a backup with nothing to read never starts them). */
  get started(): boolean {
    return this.inline ? this.inline.started : this.piscina !== null;
  }

  private get pool(): Piscina {
    this.start();
    return this.piscina!;
  }

  get completed(): number {
    return this.tasks;
  }

  private async run<T>(name: string, input: unknown, transferList?: ArrayBuffer[]): Promise<T> {
    let out: unknown;
    try {
      // Nothing is transferred inline: the buffers stay where they are.
      const task = this.inline ? this.inline.run(name, input) : this.pool.run(input, transferList ? { name, transferList } : { name });
      out = await this.busy.track(task, name);
    } catch (err) {
      // Only what the handlers could not catch lands here: a worker that failed to start or died.
      if (isEngineError(err)) throw err;
      throw new InternalError(`worker task ${name} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    if (isTaskFailure(out)) throw taskError(name, out.taskError);
    this.tasks++;
    return out as T;
  }

  /**
   * A segment in a SharedArrayBuffer (the segment pool) is read in place by the worker; any other
   * is transferred there and comes back in the result.
   */
  chunkHash(input: ChunkHashInput): Promise<ChunkHashOutput> {
    return this.run(TaskName.chunkHash, input, transferFor(input.segment));
  }

  /** A segment that is not shared is transferred for good: the caller must not touch it afterwards. */
  seal(input: Omit<SealInput, 'out'>): Promise<ArrayBuffer> {
    return this.run(TaskName.seal, input, transferFor(input.segment));
  }

  /**
   * seal() with the result written into `out`, a view of shared memory (the sealed arena) at least
   * the result layout's bound long (workers/handlers.ts sealedLayoutBound): nothing comes back.
   */
  async sealInto(input: Omit<SealInput, 'out'>, out: Uint8Array): Promise<void> {
    if (!(out.buffer instanceof SharedArrayBuffer)) throw new InternalError('a seal output region must be shared memory');
    await this.run<null>(TaskName.seal, { ...input, out }, transferFor(input.segment));
  }

  /** The pack bytes are transferred to the worker: the caller must not touch them afterwards. */
  unseal(input: Omit<UnsealInput, 'out'>): Promise<ArrayBuffer> {
    return this.runOnPack(TaskName.unseal, input);
  }

  /**
   * unseal() with the result written into `out`, a view of shared memory (the shared arena) at
   * least the result layout's size (workers/handlers.ts unsealedLayoutBytes): nothing comes back.
   */
  async unsealInto(input: Omit<UnsealInput, 'out'>, out: Uint8Array): Promise<void> {
    if (!(out.buffer instanceof SharedArrayBuffer)) throw new InternalError('an unseal output region must be shared memory');
    await this.runOnPack(TaskName.unseal, input, out);
  }

  /**
   * Each blob's verdict and the BLAKE3 of the whole pack, no plaintext (workers/handlers.ts
   * verifyPack): what check --read-data needs. The pack bytes are transferred as for unseal.
   */
  verifyPack(input: UnsealInput): Promise<ArrayBuffer> {
    return this.runOnPack(TaskName.verifyPack, input);
  }

  private runOnPack<T = ArrayBuffer>(name: string, input: Omit<UnsealInput, 'out'>, out?: Uint8Array): Promise<T> {
    let bytes = input.packBytes;
    if (this.inline) return this.run(name, { blobs: input.blobs, packBytes: bytes, ...(out ? { out } : {}) });
    // Only a buffer the caller owns whole may be transferred: small Buffers share one pooled
    // ArrayBuffer, and detaching it would corrupt unrelated data.
    if (bytes.byteOffset !== 0 || bytes.byteLength !== bytes.buffer.byteLength || bytes.buffer instanceof SharedArrayBuffer) {
      bytes = new Uint8Array(bytes);
    }
    return this.run(name, { blobs: input.blobs, packBytes: bytes, ...(out ? { out } : {}) }, [bytes.buffer as ArrayBuffer]);
  }

  /**
   * Resolves once every thread has started and loaded its primitives (a tiny task on each): for
   * `engine bench`, which times the pipeline from there, as it times each stage alone.
   */
  async warmUp(): Promise<void> {
    const tiny = (): ChunkHashInput => ({ segment: new Uint8Array(new SharedArrayBuffer(4096)), spans: [{ start: 0, end: 4096, final: true }] });
    await Promise.all(Array.from({ length: 2 * Math.max(1, this.threads) }, () => this.chunkHash(tiny())));
  }

  async close(): Promise<void> {
    await this.piscina?.destroy();
  }
}
