// The pool's tasks on the calling thread, for plans whose budget holds no worker thread
// (docs/MEMORY.md "The floor"). A worker thread costs its isolate, its own primitives and their
// WebAssembly heaps: 32-36 MiB native and 48-60 MiB with the fallbacks beyond its buffers, which a
// 128 MiB budget cannot spare next to Node's own ~64 MiB and the Argon2id key. Here the same pure
// handlers (workers/handlers.ts) run on this thread with this thread's primitives, one task at a
// time: the work is the same and the bytes written are identical, only on one core.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { loadChosenPrimitives } from '../../native-bindings/index.js';
import type { Primitives } from '../../native-bindings/types.js';
import { FastCdc } from '../chunker/fastcdc.js';
import { EnvelopeWorkspace, type Suite } from '../crypto/envelope.js';
import { toWire } from '../errors/wire.js';
import { collectYoung } from '../util/gc.js';
import { chunkHash, seal, sealInto, unseal, unsealInto, verifyPack } from '../../workers/handlers.js';
import type { ChunkHashInput, SealInput, TaskFailure, UnsealInput, WorkerInit } from '../../workers/protocol.js';
import { TaskName } from '../../workers/protocol.js';

interface Context {
  readonly p: Primitives;
  readonly cdc: FastCdc;
  /** Scratch reused by every task, as each worker keeps its own. */
  readonly ws: EnvelopeWorkspace;
}

export class InlineTasks {
  private readonly init: WorkerInit;
  private ready: Promise<Context> | null = null;
  /** Tasks wait their turn here: one runs at a time, as on a pool of one thread. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(init: WorkerInit) {
    this.init = init;
  }

  get started(): boolean {
    return this.ready !== null;
  }

  /** Loads the primitives now (they are this thread's own, already loaded by the session: cheap). */
  start(): void {
    this.ready ??= loadChosenPrimitives(this.init.chosen).then((p) => ({ p, cdc: new FastCdc(this.init.chunker, this.init.gear), ws: new EnvelopeWorkspace(p, this.init.keys) }));
  }

  /**
   * Runs one task after the tasks queued before it, as a worker would: a failure comes back as a
   * TaskFailure value (its code intact), never thrown, so the pool treats both paths alike.
   */
  run(name: string, input: unknown): Promise<unknown> {
    const turn = this.queue.then(() => this.runNow(name, input));
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  private async runNow(name: string, input: unknown): Promise<unknown> {
    // A task takes a few milliseconds of this thread: reads and uploads in flight get their
    // callbacks between two tasks, so the pipeline's I/O keeps moving.
    await nextTurn();
    this.start();
    try {
      const { p, cdc, ws } = await this.ready!;
      const { keys, suite, zstdLevel, verifyAfterSeal } = this.init;
      let out: unknown;
      switch (name) {
        case TaskName.chunkHash:
          out = chunkHash(p, cdc, keys.blobId, input as ChunkHashInput);
          break;
        case TaskName.seal: {
          const s = input as SealInput;
          if (s.out) {
            sealInto(p, keys, suite as Suite, zstdLevel, verifyAfterSeal, s, s.out, ws);
            out = null;
          } else out = seal(p, keys, suite as Suite, zstdLevel, verifyAfterSeal, s, ws);
          break;
        }
        case TaskName.unseal: {
          const u = input as UnsealInput;
          if (u.out) {
            unsealInto(p, keys, u, u.out, ws);
            out = null;
          } else out = unseal(p, keys, u, ws);
          break;
        }
        case TaskName.verifyPack:
          out = verifyPack(p, keys, input as UnsealInput, ws);
          break;
        default:
          throw new Error(`unknown task ${name}`);
      }
      // As a worker does after each task: the task's temporaries go before they are promoted.
      collectYoung();
      return out;
    } catch (err) {
      return { taskError: toWire(err) } satisfies TaskFailure;
    }
  }
}
