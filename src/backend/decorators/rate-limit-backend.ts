// Bandwidth limit (--limit-upload / --limit-download): a backup over a shared line should not
// take all of it. One token bucket per direction, refilled at the limit in bytes per second and
// holding at most one second's worth (the burst), so an idle period buys at most one second of
// full speed.
// - Uploads pay before they go: a save waits until the bucket holds its size (or, for an object
//   larger than the burst, a full bucket), takes data.length tokens and only then calls the inner
//   save. The balance may go below zero for objects larger than the burst; later callers wait.
// - Downloads pay after they arrive, since the size of a whole load is not known in advance: a
//   load waits until the balance is zero or more, runs, and is then charged what it received
//   (the balance may go negative; the next download waits until it is back to zero).
// - Waiters are served first come, first served, so one large object cannot be overtaken forever
//   by small ones, nor the other way round.
// - A save or load whose signal fires while waiting leaves the queue and rejects with E_ABORTED.
// Listings, stats and removes carry no payload and are not limited. An absent limit means no
// bucket at all for that direction. The clock measures the refill; the waits themselves are timers.
import { AbortedError, UsageError } from '../../errors/engine-error.js';
import { type Clock, systemClock } from '../../util/clock.js';
import type { Backend, ByteRange, ObjectOptions } from '../types.js';
import { ForwardingBackend } from './forwarding-backend.js';

export interface RateLimits {
  uploadBytesPerSec?: number;
  downloadBytesPerSec?: number;
}

interface Waiter {
  /** The balance that must be reached before this waiter may go. */
  need: number;
  /** Tokens taken when it goes. */
  take: number;
  resolve: () => void;
  reject: (e: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** A token bucket with a FIFO queue of waiters. */
export class TokenBucket {
  readonly bytesPerSec: number;
  private readonly capacity: number;
  private readonly clock: Clock;
  private balance: number;
  private last: number;
  private readonly queue: Waiter[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(bytesPerSec: number, clock: Clock = systemClock) {
    this.bytesPerSec = bytesPerSec;
    this.capacity = bytesPerSec;
    this.clock = clock;
    this.balance = this.capacity;
    this.last = clock.monotonicMs();
  }

  /** The tokens in the bucket now (negative while a charge is being paid off). */
  get available(): number {
    this.refill();
    return this.balance;
  }

  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Waits its turn, then until the balance is at least `need` (capped at the burst, so any
   * request can be served), then takes `take` tokens.
   */
  acquire(need: number, take: number, signal?: AbortSignal, what = 'waiting for bandwidth'): Promise<void> {
    if (signal?.aborted) return Promise.reject(new AbortedError(`${what}: interrupted`));
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = { need: Math.min(need, this.capacity), take, resolve, reject, signal, onAbort: undefined };
      if (signal) {
        w.onAbort = () => {
          const i = this.queue.indexOf(w);
          if (i >= 0) this.queue.splice(i, 1);
          reject(new AbortedError(`${what}: interrupted`));
          // The head may have changed: let the next one go if it can.
          this.pump();
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.queue.push(w);
      this.pump();
    });
  }

  /** Takes tokens for bytes already moved; the balance may go negative. */
  charge(bytes: number): void {
    this.refill();
    this.balance -= bytes;
  }

  private refill(): void {
    const now = this.clock.monotonicMs();
    const elapsed = now - this.last;
    this.last = now;
    if (elapsed > 0) this.balance = Math.min(this.capacity, this.balance + (elapsed * this.bytesPerSec) / 1000);
  }

  /** Lets waiters go in order while the balance allows, then sets a timer for the next one. */
  private pump(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    this.refill();
    for (;;) {
      const head = this.queue[0];
      if (!head) return;
      if (this.balance < head.need) {
        const ms = Math.max(1, Math.ceil(((head.need - this.balance) * 1000) / this.bytesPerSec));
        this.timer = setTimeout(() => {
          this.timer = undefined;
          this.pump();
        }, ms);
        return;
      }
      this.queue.shift();
      this.balance -= head.take;
      if (head.onAbort) head.signal?.removeEventListener('abort', head.onAbort);
      head.resolve();
    }
  }
}

export class RateLimitBackend extends ForwardingBackend {
  private readonly up: TokenBucket | undefined;
  private readonly down: TokenBucket | undefined;

  constructor(inner: Backend, limits: RateLimits, clock: Clock = systemClock) {
    for (const [what, v] of [['upload', limits.uploadBytesPerSec], ['download', limits.downloadBytesPerSec]] as const) {
      if (v !== undefined && !(v > 0 && Number.isFinite(v))) throw new UsageError(`${what} limit: expected bytes per second above zero, not ${v}`);
    }
    super(inner);
    this.up = limits.uploadBytesPerSec !== undefined ? new TokenBucket(limits.uploadBytesPerSec, clock) : undefined;
    this.down = limits.downloadBytesPerSec !== undefined ? new TokenBucket(limits.downloadBytesPerSec, clock) : undefined;
  }

  override async save(name: string, data: Uint8Array, opts?: ObjectOptions): Promise<void> {
    if (this.up) await this.up.acquire(data.length, data.length, opts?.signal, `saving "${name}" to ${this.location} (waiting for upload bandwidth)`);
    await this.inner.save(name, data, opts);
  }

  override async load(name: string, range?: ByteRange, opts?: ObjectOptions): Promise<Uint8Array> {
    if (!this.down) return this.inner.load(name, range, opts);
    await this.down.acquire(0, 0, opts?.signal, `reading "${name}" from ${this.location} (waiting for download bandwidth)`);
    const data = await this.inner.load(name, range, opts);
    this.down.charge(data.length);
    return data;
  }
}

/** `backend` with its uploads and downloads held to `limits` (bytes per second). */
export function withRateLimit(backend: Backend, limits: RateLimits, clock: Clock = systemClock): RateLimitBackend {
  return new RateLimitBackend(backend, limits, clock);
}
