// Retries what a store failed to do for a passing reason. Remote stores drop connections, answer
// 500/503 or time out now and then; a backup of many thousand objects meets such a fault nearly
// always, and failing the whole run for one of them would be absurd. So every call that ends in
// E_BACKEND_TRANSIENT is repeated, after a pause that grows exponentially with full jitter
// (pause = random() * min(maxDelayMs, baseDelayMs * 2^(attempt-1))), up to maxAttempts attempts.
// Nothing else is retried: a missing object, a refused credential, damaged data or an interrupt
// give the same answer the second time, and retrying them would only hide the cause.
//
// - A ranged load that returns another length than asked is a broken transfer: retried too.
// - `opts.signal` stops a pause at once and the call rejects with E_ABORTED.
// - `list` resumes after a fault: the listing starts again and the names up to the last one
//   already yielded are skipped (listings are ascending), so no name is yielded twice. Only
//   attempts that brought no new name count against the budget, so a long listing over a
//   flaky link completes as long as each attempt gets further.
// - When the attempts run out, the error names the operation, the object, the store, how many
//   attempts over how long, and the last error (kept as `cause`).
// Saves may be repeated after a fault that struck when the store had already kept the object;
// that is harmless, because a save replaces the object whole (the Backend contract).
import { AbortedError, EngineError, ErrorCode, UsageError } from '../../errors/engine-error.js';
import { systemClock } from '../../util/clock.js';
import { throwIfAborted } from '../errors.js';
import type { Backend, ByteRange, ObjectInfo, ObjectOptions } from '../types.js';
import { ForwardingBackend } from './forwarding-backend.js';

export type RetryOp = 'save' | 'load' | 'stat' | 'list' | 'remove' | 'rootExists' | 'createRoot';

export interface RetryEvent {
  /** The Backend method: save, load, stat, list, remove, rootExists, createRoot. */
  op: string;
  /** The object name (the prefix for list, "" for rootExists and createRoot). */
  name: string;
  /** The attempt that just failed, from 1. */
  attempt: number;
  /** The pause before the next attempt. */
  delayMs: number;
  error: unknown;
}

export type RetryPolicy = {
  /** Attempts in all, the first one included (1 = never retry). */
  maxAttempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** A number in [0, 1) for the jitter; Math.random by default. */
  random?: () => number;
  /** Waits ms milliseconds; rejects (or returns early) when the signal fires. A timer by default. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Told of every failed attempt that will be retried, before the pause. */
  onRetry?: (e: RetryEvent) => void;
};

export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxAttempts: 8, baseDelayMs: 250, maxDelayMs: 15_000 };

export const RETRY_EXHAUSTED_HINT =
  'the storage did not answer correctly; check the network and the endpoint, then run the command again: what was stored is kept and reused';

export function isTransient(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === ErrorCode.BACKEND_TRANSIENT;
}

/** The pause before attempt `attempt + 1`: full jitter over an exponentially growing cap. */
export function backoffDelay(policy: RetryPolicy, attempt: number): number {
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return (policy.random ?? Math.random)() * cap;
}

/** A timer that rejects with E_ABORTED as soon as the signal fires. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new AbortedError('waiting before a retry: interrupted'));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new AbortedError('waiting before a retry: interrupted'));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class RetryBackend extends ForwardingBackend {
  private readonly policy: RetryPolicy;

  constructor(inner: Backend, policy: RetryPolicy) {
    if (!Number.isInteger(policy.maxAttempts) || policy.maxAttempts < 1) {
      throw new UsageError(`retry policy: maxAttempts must be a whole number of at least 1, not ${policy.maxAttempts}`);
    }
    if (!(policy.baseDelayMs >= 0) || !(policy.maxDelayMs >= 0)) {
      throw new UsageError(`retry policy: delays must be zero or more (base ${policy.baseDelayMs} ms, max ${policy.maxDelayMs} ms)`);
    }
    super(inner);
    this.policy = policy;
  }

  override rootExists(): Promise<boolean> {
    return this.run('rootExists', '', `cannot check whether ${this.location} exists`, undefined, () => this.inner.rootExists());
  }

  override createRoot(): Promise<void> {
    // E_REPO_EXISTS is not transient, so it is not retried.
    return this.run('createRoot', '', `cannot create ${this.location}`, undefined, () => this.inner.createRoot());
  }

  override save(name: string, data: Uint8Array, opts?: ObjectOptions): Promise<void> {
    return this.run('save', name, `cannot save "${name}" to ${this.location}`, opts?.signal, () => this.inner.save(name, data, opts));
  }

  override load(name: string, range?: ByteRange, opts?: ObjectOptions): Promise<Uint8Array> {
    return this.run('load', name, `cannot read "${name}" from ${this.location}`, opts?.signal, async () => {
      const data = await this.inner.load(name, range, opts);
      if (range && data.length !== range.length) {
        throw new EngineError(
          ErrorCode.BACKEND_TRANSIENT,
          `reading "${name}" from ${this.location}: wanted ${range.length} bytes at ${range.offset}, got ${data.length}`,
        );
      }
      return data;
    });
  }

  override stat(name: string): Promise<ObjectInfo> {
    return this.run('stat', name, `cannot stat "${name}" in ${this.location}`, undefined, () => this.inner.stat(name));
  }

  override remove(name: string): Promise<void> {
    // remove is idempotent by contract, so repeating one that did happen succeeds.
    return this.run('remove', name, `cannot remove "${name}" from ${this.location}`, undefined, () => this.inner.remove(name));
  }

  override async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let last: string | undefined;
    let attempt = 1; // attempts in the current run without progress, this one included
    let since = systemClock.monotonicMs();
    for (;;) {
      const passStart = systemClock.monotonicMs();
      const it = this.inner.list(prefix)[Symbol.asyncIterator]();
      let progressed = false;
      let open = true; // whether `it` may still need closing (the consumer stopped early)
      try {
        for (;;) {
          let r: IteratorResult<ObjectInfo>;
          try {
            r = await it.next();
          } catch (err) {
            open = false;
            if (!isTransient(err)) throw err;
            if (progressed) {
              // This attempt got further: the budget starts again with it.
              attempt = 1;
              since = passStart;
            }
            await this.pause('list', prefix, `cannot list "${prefix}" in ${this.location}`, undefined, attempt, since, err);
            attempt++;
            break;
          }
          if (r.done) {
            open = false;
            return;
          }
          const info = r.value;
          if (last !== undefined && info.name <= last) continue;
          last = info.name;
          progressed = true;
          yield info;
        }
      } finally {
        if (open) await it.return?.()?.catch(() => undefined);
      }
    }
  }

  private async run<T>(op: RetryOp, name: string, what: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    const since = systemClock.monotonicMs();
    for (let attempt = 1; ; attempt++) {
      throwIfAborted(signal, what);
      try {
        return await fn();
      } catch (err) {
        if (!isTransient(err)) throw err;
        await this.pause(op, name, what, signal, attempt, since, err);
      }
    }
  }

  /**
   * After failed attempt `attempt`: throws the final error when the budget is spent, else tells
   * onRetry and waits the backoff pause (rejecting with E_ABORTED when the signal fires).
   */
  private async pause(op: RetryOp, name: string, what: string, signal: AbortSignal | undefined, attempt: number, since: number, err: unknown): Promise<void> {
    throwIfAborted(signal, what);
    if (attempt >= this.policy.maxAttempts) {
      const elapsedMs = systemClock.monotonicMs() - since;
      const attempts = `${attempt} attempt${attempt === 1 ? '' : 's'}`;
      throw new EngineError(ErrorCode.BACKEND_TRANSIENT, `${what} after ${attempts} over ${(elapsedMs / 1000).toFixed(1)} s: ${message(err)}`, {
        hint: RETRY_EXHAUSTED_HINT,
        cause: err,
        details: { op, name, location: this.location, attempts: attempt, elapsedMs: Math.round(elapsedMs) },
      });
    }
    const delayMs = backoffDelay(this.policy, attempt);
    this.policy.onRetry?.({ op, name, attempt, delayMs, error: err });
    try {
      await (this.policy.sleep ?? abortableSleep)(delayMs, signal);
    } catch (sleepErr) {
      // A sleep that rejects for the signal (with whatever error) is an interrupt.
      if (signal?.aborted) throw new AbortedError(`${what}: interrupted`);
      throw sleepErr;
    }
    throwIfAborted(signal, what);
  }
}

/** `backend` with every call that fails for a passing reason retried under `policy`. */
export function withRetry(backend: Backend, policy: RetryPolicy): RetryBackend {
  return new RetryBackend(backend, policy);
}
