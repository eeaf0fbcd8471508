// Piscina worker entry: named exports are the task handlers (workers/thread-tasks.ts), with their
// results moved back to the main thread by transfer.
import Piscina from 'piscina';
import { workerData } from 'node:worker_threads';
import type { ChunkHashInput, ChunkHashOutput, SealInput, SealOutput, TaskFailure, UnsealInput, UnsealOutput, VerifyPackOutput, WorkerInit } from './protocol.js';
import { PROTOCOL_VERSION } from './protocol.js';
import { collectYoung } from '../src/util/gc.js';
import { settled, ThreadTasks } from './thread-tasks.js';

const init = workerData as WorkerInit;
if (init.protocol !== PROTOCOL_VERSION) throw new Error(`worker protocol ${init.protocol} != ${PROTOCOL_VERSION}`);

const tasks = new ThreadTasks(init);
// Loaded as the thread starts, not at its first task: the main thread meanwhile opens the
// repository and walks the source, so the first segment finds the worker ready.
tasks.context().catch(() => undefined);

function moveBuffer(buf: ArrayBuffer): ArrayBuffer {
  return Piscina.move(buf) as unknown as ArrayBuffer;
}

/** After a task that sealed or opened blobs: its temporaries go before they are promoted. */
function movedAfterCollection(out: ArrayBuffer | null): ArrayBuffer | null {
  collectYoung();
  return out === null ? null : moveBuffer(out);
}

export function chunkHash(input: ChunkHashInput): Promise<ChunkHashOutput | TaskFailure> {
  return settled(async () => {
    const out = await tasks.chunkHash(input);
    // A shared segment needs no return trip; any other goes back to the main thread by transfer,
    // next to the (small, cloned) results.
    if (out.segment.buffer instanceof SharedArrayBuffer) return out;
    return Piscina.move({
      get [Piscina.transferableSymbol]() {
        return [out.segment.buffer];
      },
      get [Piscina.valueSymbol]() {
        return out;
      },
    }) as unknown as ChunkHashOutput;
  });
}

export function seal(input: SealInput): Promise<SealOutput | TaskFailure> {
  return settled(async () => movedAfterCollection(await tasks.seal(input)));
}

export function unseal(input: UnsealInput): Promise<UnsealOutput | TaskFailure> {
  return settled(async () => movedAfterCollection(await tasks.unseal(input)));
}

export function verifyPack(input: UnsealInput): Promise<VerifyPackOutput | TaskFailure> {
  return settled(async () => movedAfterCollection(await tasks.verifyPack(input)) as VerifyPackOutput);
}
