// A fixed set of segment buffers, allocated once and reused for the whole run. Every segment the
// pipeline reads lives in one of them, so reading 2 GiB allocates nothing: before, each segment
// was a fresh ArrayBuffer, and V8 started a mark-compact of the main thread for every ~25 MB of
// them (docs/BENCHMARKS.md). The buffers are SharedArrayBuffers: workers read them in place, and
// as the pool keeps them for the whole run, no thread's late collection can pile them up (the
// reason one-off SharedArrayBuffers were dropped earlier, docs/MEMORY.md). The pool is the bound
// of the read stage: a reader waits for a free buffer (backpressure).
import { AbortedError } from '../errors/engine-error.js';

export class SegmentPool {
  readonly capacityBytes: number;
  readonly count: number;
  private readonly free: Uint8Array[] = [];
  private readonly waiters: ((b: Uint8Array) => void)[] = [];
  private created = 0;
  private inUse = 0;
  private peak = 0;

  constructor(count: number, capacityBytes: number) {
    this.count = Math.max(1, count);
    this.capacityBytes = capacityBytes;
  }

  /** Buffers are created on first need, so a small backup never allocates the whole pool. */
  async acquire(signal?: AbortSignal): Promise<Uint8Array> {
    if (signal?.aborted) throw new AbortedError();
    let b = this.free.pop();
    if (!b && this.created < this.count) {
      this.created++;
      b = new Uint8Array(new SharedArrayBuffer(this.capacityBytes));
    }
    if (!b) {
      b = await new Promise<Uint8Array>((resolve, reject) => {
        const onAbort = (): void => {
          const i = this.waiters.indexOf(give);
          if (i >= 0) this.waiters.splice(i, 1);
          reject(new AbortedError());
        };
        const give = (buf: Uint8Array): void => {
          signal?.removeEventListener('abort', onAbort);
          resolve(buf);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        this.waiters.push(give);
      });
    }
    this.inUse++;
    if (this.inUse > this.peak) this.peak = this.inUse;
    return b;
  }

  release(b: Uint8Array): void {
    this.inUse--;
    const next = this.waiters.shift();
    // Handed straight to a waiter (which counts itself in), never through the free list, so a
    // newcomer cannot take it in between.
    if (next) next(b);
    else this.free.push(b);
  }

  /** Bytes of segments held at once, at most. */
  get highWaterBytes(): number {
    return this.peak * this.capacityBytes;
  }
}
