// A byte-weighted semaphore: the bound of one pipeline stage. A stage acquires bytes before it
// produces them and the stage that consumes them releases them, so a slow consumer stops its
// producer (backpressure) and nothing is buffered without bound, whatever the disk or network speed.
//
// Deadlock rules:
//  1. A stage acquires its output lease before it releases its input lease; the last stage (the
//     store) only releases, so leases never wait in a cycle.
//  2. An item larger than the whole capacity is admitted when nothing else is held: a single
//     oversized chunk slows the pipeline down but never stops it.
import { AbortedError } from '../errors/engine-error.js';

interface Waiter {
  readonly bytes: number;
  readonly resolve: () => void;
}

export class ByteBudget {
  readonly name: string;
  readonly capacity: number;
  private used = 0;
  private peak = 0;
  private readonly waiters: Waiter[] = [];

  constructor(name: string, capacity: number) {
    this.name = name;
    this.capacity = capacity;
  }

  get inUse(): number {
    return this.used;
  }

  /** Acquirers waiting for bytes. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Highest number of bytes held at once: checked against the capacity in tests and benchmarks. */
  get highWater(): number {
    return this.peak;
  }

  private fits(bytes: number): boolean {
    return this.used + bytes <= this.capacity || this.used === 0;
  }

  /** Takes the bytes if they fit now, without waiting. */
  tryAcquire(bytes: number): boolean {
    if (this.waiters.length > 0 || !this.fits(bytes)) return false;
    this.take(bytes);
    return true;
  }

  async acquire(bytes: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw new AbortedError();
    if (this.waiters.length === 0 && this.fits(bytes)) {
      this.take(bytes);
      return;
    }
    await new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        bytes,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = (): void => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new AbortedError());
        // The waiter that left may have been the one holding the others back.
        this.admit();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  private take(bytes: number): void {
    this.used += bytes;
    if (this.used > this.peak) this.peak = this.used;
  }

  release(bytes: number): void {
    this.used -= bytes;
    if (this.used < 0) this.used = 0;
    this.admit();
  }

  private admit(): void {
    // FIFO: a large waiter at the head is not overtaken by small ones, so it cannot starve.
    while (this.waiters.length > 0 && this.fits(this.waiters[0]!.bytes)) {
      const w = this.waiters.shift()!;
      this.take(w.bytes);
      w.resolve();
    }
  }
}

/** Runs tasks with at most `limit` in flight. */
export class Concurrency {
  private active = 0;
  private readonly queue: (() => void)[] = [];
  readonly limit: number;
  constructor(limit: number) {
    this.limit = Math.max(1, limit);
  }
  async run<T>(fn: () => Promise<T>): Promise<T> {
    // A finishing task hands its slot straight to the next waiter (without freeing it in
    // between), so a newcomer cannot slip into the gap before the waiter resumes.
    if (this.active >= this.limit) await new Promise<void>((r) => this.queue.push(r));
    else this.active++;
    try {
      return await fn();
    } finally {
      const next = this.queue.shift();
      if (next) next();
      else this.active--;
    }
  }

  /** Tasks running now (for tests and progress). */
  get running(): number {
    return this.active;
  }
}

/**
 * Tasks started one by one from a loop (items too many to list first: a stream), at most `limit`
 * in flight: `start` waits for a free slot. The first failure is thrown by the next `start` or by
 * `drain`, once the tasks in flight have settled (none is left running).
 */
export class TaskSlots {
  private readonly limit: number;
  private readonly running = new Set<Promise<void>>();
  private failure: { err: unknown } | null = null;

  constructor(limit: number) {
    this.limit = Math.max(1, limit);
  }

  async start(fn: () => Promise<void>, signal?: AbortSignal): Promise<void> {
    while (this.running.size >= this.limit) await Promise.race(this.running);
    if (this.failure) await this.rethrow();
    signal?.throwIfAborted();
    const p: Promise<void> = fn().then(
      () => void this.running.delete(p),
      (err: unknown) => {
        this.running.delete(p);
        this.failure ??= { err };
      },
    );
    this.running.add(p);
  }

  /** Waits for every task started; throws the first failure. */
  async drain(): Promise<void> {
    await Promise.all(this.running);
    if (this.failure) await this.rethrow();
  }

  private async rethrow(): Promise<never> {
    await Promise.all(this.running);
    throw this.failure!.err;
  }
}

/**
 * Maps items with at most `limit` calls in flight; results keep the items' order. The first
 * failure rejects, after the calls already started have settled (none is left running).
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const lane = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const lanes = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, lane);
  const settled = await Promise.allSettled(lanes);
  const rejected = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (rejected) throw rejected.reason;
  return out;
}
