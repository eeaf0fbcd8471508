// Piscina worker entry: named exports are the task handlers. Primitives are loaded once per thread,
// exactly the implementations the main thread chose (never a silent substitute).
import Piscina from 'piscina';
import { workerData } from 'node:worker_threads';
import { loadChosenPrimitives } from '../native-bindings/index.js';
import type { Primitives } from '../native-bindings/types.js';
import { FastCdc } from '../src/chunker/fastcdc.js';
import { EnvelopeWorkspace, type Suite } from '../src/crypto/envelope.js';
import { toWire } from '../src/errors/wire.js';
import type { ChunkHashInput, ChunkHashOutput, SealInput, SealOutput, TaskFailure, UnsealInput, UnsealOutput, VerifyPackOutput, WorkerInit } from './protocol.js';
import { PROTOCOL_VERSION } from './protocol.js';
import { collectYoung } from '../src/util/gc.js';
import { chunkHash as chunkHashPure, seal as sealPure, sealInto as sealIntoPure, unseal as unsealPure, unsealInto as unsealIntoPure, verifyPack as verifyPackPure } from './handlers.js';

const init = workerData as WorkerInit;
if (init.protocol !== PROTOCOL_VERSION) throw new Error(`worker protocol ${init.protocol} != ${PROTOCOL_VERSION}`);

interface Context {
  readonly p: Primitives;
  readonly cdc: FastCdc;
  /** This thread's envelope scratch, reused by every task. */
  readonly ws: EnvelopeWorkspace;
}
let ready: Promise<Context> | null = null;
function context(): Promise<Context> {
  ready ??= loadChosenPrimitives(init.chosen).then((p) => ({ p, cdc: new FastCdc(init.chunker, init.gear), ws: new EnvelopeWorkspace(p, init.keys) }));
  return ready;
}
// Loaded as the thread starts, not at its first task: the main thread meanwhile opens the
// repository and walks the source, so the first segment finds the worker ready.
context().catch(() => undefined);

/** Runs a task so that its error is returned as a value (its code intact), never thrown. */
async function settled<T>(task: () => Promise<T>): Promise<T | TaskFailure> {
  try {
    return await task();
  } catch (err) {
    return { taskError: toWire(err) };
  }
}

function moveBuffer(buf: ArrayBuffer): ArrayBuffer {
  return Piscina.move(buf) as unknown as ArrayBuffer;
}

export function chunkHash(input: ChunkHashInput): Promise<ChunkHashOutput | TaskFailure> {
  return settled(() => chunkHashTask(input));
}

export function seal(input: SealInput): Promise<SealOutput | TaskFailure> {
  return settled(() => sealTask(input));
}

export function unseal(input: UnsealInput): Promise<UnsealOutput | TaskFailure> {
  return settled(() => unsealTask(input));
}

export function verifyPack(input: UnsealInput): Promise<VerifyPackOutput | TaskFailure> {
  return settled(async () => {
    const { p, ws } = await context();
    const out = verifyPackPure(p, init.keys, input, ws);
    collectYoung();
    return moveBuffer(out);
  });
}

async function chunkHashTask(input: ChunkHashInput): Promise<ChunkHashOutput> {
  const { p, cdc } = await context();
  const out = chunkHashPure(p, cdc, init.keys.blobId, input);
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
}

async function sealTask(input: SealInput): Promise<SealOutput> {
  const { p, ws } = await context();
  if (input.out) {
    sealIntoPure(p, init.keys, init.suite as Suite, init.zstdLevel, init.verifyAfterSeal, input, input.out, ws);
    collectYoung();
    return null;
  }
  const out = sealPure(p, init.keys, init.suite as Suite, init.zstdLevel, init.verifyAfterSeal, input, ws);
  collectYoung();
  return moveBuffer(out);
}

async function unsealTask(input: UnsealInput): Promise<UnsealOutput> {
  const { p, ws } = await context();
  if (input.out) {
    unsealIntoPure(p, init.keys, input, input.out, ws);
    collectYoung();
    return null;
  }
  const out = unsealPure(p, init.keys, input, ws);
  collectYoung();
  return moveBuffer(out);
}
