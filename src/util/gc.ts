// Prompt collection of dead buffers. The pipeline's big buffers live outside the V8 heap, and V8
// lets tens of MiB of dead external memory pile up per thread before it collects on its own:
// with three threads, more than a small --mem-budget can spare. So:
// the main thread runs a full GC each time a few tens of MiB of buffers were dropped (sealed
// blobs, packs); its heap is small, so this costs a few milliseconds. Explicit GCs in the workers
// were tried and made the peak worse (measured: docs/MEMORY.md); their allocations keep their
// own collector busy enough.
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';

type GcFn = (opts?: { type?: 'minor' | 'major' }) => void;

let gcFn: GcFn | null | undefined;
let dropped = 0;
let everyBytes = 32 * 1024 * 1024;

/**
 * How far V8 lets a heap grow past what its last full collection kept before it collects again:
 * 1.25x. V8's own factor goes up to 4x on a machine with plenty of memory, and promoted garbage of
 * the main thread (objects that outlive two scavenges of its small young generation: promises of
 * reads and tasks in flight) piled up from 12 to 50 MiB of heap between two collections in a
 * 2 GiB backup at --mem-budget 136M (VmHWM 178-203 MiB; with this factor 150-161 MiB, same CPU).
 * V8 still grows a heap by at least 16 MiB (its minimum step), so a small heap keeps its room.
 * The flag is read at each collection and is process-wide (workers too).
 */
export const HEAP_GROWING_PERCENT = 25;

/**
 * Enables explicit collection on the main thread; worker threads started afterwards see a global
 * `gc` too (the flag is process-wide). Also bounds V8's heap growth (HEAP_GROWING_PERCENT).
 */
export function enableExplicitGc(thresholdBytes: number): void {
  v8.setFlagsFromString('--expose-gc');
  v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  gcFn = (runInNewContext('gc') as GcFn | undefined) ?? null;
  everyBytes = thresholdBytes;
}

function gc(): GcFn | null {
  if (gcFn === undefined) gcFn = (globalThis as { gc?: GcFn }).gc ?? null;
  return gcFn;
}

/** Main thread: records that `bytes` of buffers became garbage; collects when enough piled up. */
export function noteDropped(bytes: number): void {
  dropped += bytes;
  if (dropped >= everyBytes) {
    dropped = 0;
    gc()?.();
  }
}

/** Workers: a scavenge after each task frees the task's temporaries, which are all dead by then. */
export function collectYoung(): void {
  gc()?.({ type: 'minor' });
}

/** Main thread: collects now (after a phase that left much garbage, such as building the index cache). */
export function collectNow(): void {
  dropped = 0;
  gc()?.();
}
