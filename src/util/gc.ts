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
 * Enables explicit collection on the main thread; worker threads started afterwards see a global
 * `gc` too (the flag is process-wide).
 */
export function enableExplicitGc(thresholdBytes: number): void {
  v8.setFlagsFromString('--expose-gc');
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
