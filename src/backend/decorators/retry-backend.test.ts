// RetryBackend over a real LocalBackend; a small decorator defined here fails the first k calls.
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { workdirPerTest } from '../../../test/support/workdir.js';
import { AbortedError, EngineError, ErrorCode, IntegrityError, UsageError } from '../../errors/engine-error.js';
import { LocalBackend } from '../local/local-backend.js';
import type { Backend, ByteRange, ObjectInfo, ObjectOptions } from '../types.js';
import { DEFAULT_RETRY_POLICY, RETRY_EXHAUSTED_HINT, RetryBackend, type RetryEvent, type RetryPolicy } from './retry-backend.js';

type Op = 'save' | 'load' | 'stat' | 'list' | 'remove' | 'rootExists' | 'createRoot';

function transient(what: string): EngineError {
  return new EngineError(ErrorCode.BACKEND_TRANSIENT, `${what}: injected 503`);
}

/** Fails the first `failures[op]` calls of an operation with `makeError`; counts calls and keeps the errors thrown. */
class Flaky implements Backend {
  readonly location: string;
  readonly parallelism = 3;
  readonly calls: Record<Op, number> = { save: 0, load: 0, stat: 0, list: 0, remove: 0, rootExists: 0, createRoot: 0 };
  readonly thrown: unknown[] = [];
  readonly failures: Partial<Record<Op, number>> = {};
  makeError: (what: string) => unknown = transient;
  /** For list: the pass fails after yielding this many names (counted per pass). */
  listFailAfter = 0;
  /** For ranged load: answers this many calls with one byte too few. */
  shortLoads = 0;
  private readonly inner: Backend;

  constructor(inner: Backend) {
    this.inner = inner;
    this.location = `flaky:${inner.location}`;
  }

  private gate(op: Op, what: string): void {
    this.calls[op]++;
    const left = this.failures[op] ?? 0;
    if (left > 0) {
      this.failures[op] = left - 1;
      const e = this.makeError(what);
      this.thrown.push(e);
      throw e;
    }
  }

  async rootExists(): Promise<boolean> {
    this.gate('rootExists', 'rootExists');
    return this.inner.rootExists();
  }
  async createRoot(): Promise<void> {
    this.gate('createRoot', 'createRoot');
    return this.inner.createRoot();
  }
  async save(name: string, data: Uint8Array, opts?: ObjectOptions): Promise<void> {
    this.gate('save', `save ${name}`);
    return this.inner.save(name, data, opts);
  }
  async load(name: string, range?: ByteRange, opts?: ObjectOptions): Promise<Uint8Array> {
    this.gate('load', `load ${name}`);
    const data = await this.inner.load(name, range, opts);
    if (range && this.shortLoads > 0) {
      this.shortLoads--;
      return data.subarray(0, data.length - 1);
    }
    return data;
  }
  async stat(name: string): Promise<ObjectInfo> {
    this.gate('stat', `stat ${name}`);
    return this.inner.stat(name);
  }
  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    this.calls.list++;
    const left = this.failures.list ?? 0;
    let n = 0;
    for await (const info of this.inner.list(prefix)) {
      if (left > 0 && n === this.listFailAfter) {
        this.failures.list = left - 1;
        const e = this.makeError(`list ${prefix}`);
        this.thrown.push(e);
        throw e;
      }
      n++;
      yield info;
    }
  }
  async remove(name: string): Promise<void> {
    this.gate('remove', `remove ${name}`);
    return this.inner.remove(name);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

let dir: string;
let local: LocalBackend;
let flaky: Flaky;
let delays: number[];
let events: RetryEvent[];

/** A policy that records its pauses instead of waiting. */
function policy(over: Partial<RetryPolicy> = {}): RetryPolicy {
  return {
    maxAttempts: 5,
    baseDelayMs: 100,
    maxDelayMs: 1000,
    random: () => 1,
    sleep: async (ms) => {
      delays.push(ms);
    },
    onRetry: (e) => events.push(e),
    ...over,
  };
}

async function caught(p: Promise<unknown>): Promise<EngineError> {
  try {
    await p;
  } catch (e) {
    return e as EngineError;
  }
  throw new Error('expected a rejection');
}

const bytes = (n: number, seed = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

const work = workdirPerTest('retry-backend-');
beforeEach(async () => {
  dir = work.path;
  local = new LocalBackend(join(dir, 'repo'));
  await local.createRoot();
  flaky = new Flaky(local);
  delays = [];
  events = [];
});


describe('RetryBackend', () => {
  it('passes location and parallelism through, and has the documented default policy', () => {
    const r = new RetryBackend(flaky, DEFAULT_RETRY_POLICY);
    expect(r.location).toBe(flaky.location);
    expect(r.parallelism).toBe(3);
    expect(DEFAULT_RETRY_POLICY).toMatchObject({ maxAttempts: 8, baseDelayMs: 250, maxDelayMs: 15_000 });
  });

  it('succeeds after fewer transient failures than attempts, for every operation', async () => {
    const r = new RetryBackend(flaky, policy());
    flaky.failures.save = 3;
    await r.save('data/ab/one', bytes(100));
    expect(flaky.calls.save).toBe(4);
    expect(await local.load('data/ab/one')).toEqual(bytes(100));
    expect(events.map((e) => [e.op, e.name, e.attempt])).toEqual([
      ['save', 'data/ab/one', 1],
      ['save', 'data/ab/one', 2],
      ['save', 'data/ab/one', 3],
    ]);

    flaky.failures.load = 4; // maxAttempts - 1
    expect(await r.load('data/ab/one', { offset: 10, length: 20 })).toEqual(bytes(100).subarray(10, 30));
    expect(flaky.calls.load).toBe(5);

    flaky.failures.stat = 2;
    expect(await r.stat('data/ab/one')).toEqual({ name: 'data/ab/one', size: 100 });
    expect(flaky.calls.stat).toBe(3);

    flaky.failures.rootExists = 1;
    expect(await r.rootExists()).toBe(true);
    expect(flaky.calls.rootExists).toBe(2);

    flaky.failures.remove = 2;
    await r.remove('data/ab/one');
    expect(flaky.calls.remove).toBe(3);
    await expect(local.stat('data/ab/one')).rejects.toMatchObject({ code: ErrorCode.BACKEND_NOT_FOUND });
  });

  it('retries createRoot on transient errors but not E_REPO_EXISTS', async () => {
    const fresh = new Flaky(new LocalBackend(join(dir, 'fresh')));
    fresh.failures.createRoot = 2;
    await new RetryBackend(fresh, policy()).createRoot();
    expect(fresh.calls.createRoot).toBe(3);

    await local.save('config', bytes(3));
    const e = await caught(new RetryBackend(flaky, policy()).createRoot());
    expect(e.code).toBe(ErrorCode.REPO_EXISTS);
    expect(flaky.calls.createRoot).toBe(1);
  });

  it('gives up after maxAttempts with a message naming the operation, object, location and attempts', async () => {
    const r = new RetryBackend(flaky, policy({ maxAttempts: 4 }));
    flaky.failures.save = 100;
    const e = await caught(r.save('data/ab/cdef', bytes(10)));
    expect(flaky.calls.save).toBe(4);
    expect(e).toBeInstanceOf(EngineError);
    expect(e.code).toBe(ErrorCode.BACKEND_TRANSIENT);
    expect(e.message).toMatch(
      new RegExp(`^cannot save "data/ab/cdef" to flaky:${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/repo after 4 attempts over \\d+\\.\\d s: save data/ab/cdef: injected 503$`),
    );
    expect(e.hint).toBe(RETRY_EXHAUSTED_HINT);
    expect(e.cause).toBe(flaky.thrown[3]);
    expect(e.cause).not.toBe(flaky.thrown[2]);
    expect(events).toHaveLength(3); // no pause after the last attempt

    flaky.failures.load = 100;
    const l = await caught(r.load('index/xyz'));
    expect(l.message).toMatch(/^cannot read "index\/xyz" from flaky:.* after 4 attempts over/);
    expect(flaky.calls.load).toBe(4);
  });

  it('counts the elapsed time of the attempts in the final message', async () => {
    const r = new RetryBackend(flaky, policy({ maxAttempts: 3, sleep: (ms) => new Promise((res) => setTimeout(res, ms)), baseDelayMs: 200 }));
    flaky.failures.stat = 10;
    const e = await caught(r.stat('keys/k'));
    // Pauses of 200 and 400 ms.
    const secs = Number(/over (\d+\.\d) s/.exec(e.message)?.[1]);
    expect(secs).toBeGreaterThanOrEqual(0.5);
    expect(secs).toBeLessThan(3);
  });

  it.each([
    ['not found', () => new EngineError(ErrorCode.BACKEND_NOT_FOUND, 'gone')],
    ['permanent', () => new EngineError(ErrorCode.BACKEND_PERMANENT, 'forbidden')],
    ['integrity', () => new IntegrityError('bad bytes')],
    ['aborted', () => new AbortedError()],
    ['usage', () => new UsageError('bad flag')],
    ['a plain Error', () => new Error('boom')],
  ])('does not retry %s', async (_label, make) => {
    const r = new RetryBackend(flaky, policy());
    flaky.makeError = make;
    flaky.failures.save = 3;
    const e = await caught(r.save('snapshots/s', bytes(4)));
    expect(e).toBe(flaky.thrown[0]);
    expect(flaky.calls.save).toBe(1);
    expect(delays).toEqual([]);
  });

  it('does not retry a load of a missing object (real LocalBackend)', async () => {
    const r = new RetryBackend(flaky, policy());
    const e = await caught(r.load('data/00/missing'));
    expect(e.code).toBe(ErrorCode.BACKEND_NOT_FOUND);
    expect(flaky.calls.load).toBe(1);
  });

  it('retries a ranged load that returns the wrong length', async () => {
    await local.save('data/cd/pack', bytes(1000));
    const r = new RetryBackend(flaky, policy());
    flaky.shortLoads = 2;
    expect(await r.load('data/cd/pack', { offset: 100, length: 300 })).toEqual(bytes(1000).subarray(100, 400));
    expect(flaky.calls.load).toBe(3);
    expect(events.map((e) => String((e.error as Error).message))).toEqual([
      expect.stringContaining('wanted 300 bytes at 100, got 299'),
      expect.stringContaining('wanted 300 bytes at 100, got 299'),
    ]);
  });

  it('grows the pause exponentially up to maxDelayMs, with full jitter', async () => {
    const r = new RetryBackend(flaky, policy({ maxAttempts: 7 }));
    flaky.failures.save = 100;
    await caught(r.save('x', bytes(1)));
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(events.map((e) => e.delayMs)).toEqual(delays);

    delays = [];
    const half = new RetryBackend(flaky, policy({ maxAttempts: 4, random: () => 0.5 }));
    await caught(half.save('x', bytes(1)));
    expect(delays).toEqual([50, 100, 200]);
  });

  it('stops waiting and rejects with E_ABORTED when the signal fires during a pause', async () => {
    // The real timer: a 10 s pause that the signal must cut short.
    const r = new RetryBackend(flaky, { maxAttempts: 5, baseDelayMs: 10_000, maxDelayMs: 10_000, random: () => 1 });
    flaky.failures.save = 100;
    const ac = new AbortController();
    const t0 = performance.now();
    setTimeout(() => ac.abort(), 50);
    const e = await caught(r.save('data/ab/x', bytes(5), { signal: ac.signal }));
    expect(e.code).toBe(ErrorCode.ABORTED);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(flaky.calls.save).toBe(1);
  });

  it('turns a rejection of an injected sleep on abort into E_ABORTED, and does not start when already aborted', async () => {
    const ac = new AbortController();
    const r = new RetryBackend(
      flaky,
      policy({
        sleep: () => {
          ac.abort();
          return Promise.reject(new DOMException('aborted', 'AbortError'));
        },
      }),
    );
    flaky.failures.load = 100;
    await local.save('a', bytes(3));
    expect((await caught(r.load('a', undefined, { signal: ac.signal }))).code).toBe(ErrorCode.ABORTED);
    expect(flaky.calls.load).toBe(1);
    expect((await caught(r.load('a', undefined, { signal: ac.signal }))).code).toBe(ErrorCode.ABORTED);
    expect(flaky.calls.load).toBe(1);
  });

  describe('list', () => {
    const names = Array.from({ length: 50 }, (_, i) => `snapshots/${i.toString(16).padStart(4, '0')}`);

    beforeEach(async () => {
      for (const n of names) await local.save(n, bytes(1));
    });

    async function collect(r: Backend, prefix = 'snapshots/'): Promise<string[]> {
      const out: string[] = [];
      for await (const o of r.list(prefix)) out.push(o.name);
      return out;
    }

    it('resumes after a failure mid-listing without yielding a name twice', async () => {
      const r = new RetryBackend(flaky, policy());
      flaky.failures.list = 1;
      flaky.listFailAfter = 20;
      const seen = await collect(r);
      expect(seen).toEqual(names);
      expect(new Set(seen).size).toBe(50);
      expect(flaky.calls.list).toBe(2);
      expect(events).toHaveLength(1);
      expect(events[0]).toMatchObject({ op: 'list', name: 'snapshots/', attempt: 1 });
    });

    it('counts only attempts without progress against the budget', async () => {
      // Every pass fails after its 10th name: the first pass brings 10 new names, the second
      // none (the same 10 again), so with 2 attempts the listing gives up after the second pass.
      const r = new RetryBackend(flaky, policy({ maxAttempts: 2 }));
      flaky.failures.list = 4;
      flaky.listFailAfter = 10;
      const e = await caught(collect(r));
      expect(e.code).toBe(ErrorCode.BACKEND_TRANSIENT);
      expect(e.message).toMatch(/^cannot list "snapshots\/" in flaky:.* after 2 attempts over/);

      // A store that fails once per 10 new names (a fault per page) is survived with 2 attempts.
      class PerPage extends Flaky {
        override async *list(prefix: string): AsyncIterable<ObjectInfo> {
          this.calls.list++;
          let fresh = 0;
          for await (const info of local.list(prefix)) {
            if (!this.delivered.has(info.name)) {
              if (fresh === 10) throw transient('page');
              fresh++;
              this.delivered.add(info.name);
            }
            yield info;
          }
        }
        readonly delivered = new Set<string>();
      }
      const pages = new PerPage(local);
      const seen = await collect(new RetryBackend(pages, policy({ maxAttempts: 2 })));
      expect(seen).toEqual(names);
      expect(pages.calls.list).toBe(5);
    });

    it('gives up on a listing that keeps failing at the same place', async () => {
      const r = new RetryBackend(flaky, policy({ maxAttempts: 3 }));
      flaky.failures.list = 100;
      flaky.listFailAfter = 20;
      const seen: string[] = [];
      const e = await caught(
        (async () => {
          for await (const o of r.list('snapshots/')) seen.push(o.name);
        })(),
      );
      expect(e.code).toBe(ErrorCode.BACKEND_TRANSIENT);
      // The first pass made progress (20 names), so it starts the budget: 3 attempts, 3 passes.
      expect(flaky.calls.list).toBe(3);
      expect(seen).toEqual(names.slice(0, 20));
    });

    it('does not retry a listing that fails permanently', async () => {
      const r = new RetryBackend(flaky, policy());
      flaky.makeError = () => new EngineError(ErrorCode.BACKEND_PERMANENT, 'denied');
      flaky.failures.list = 1;
      flaky.listFailAfter = 5;
      const e = await caught(collect(r));
      expect(e.code).toBe(ErrorCode.BACKEND_PERMANENT);
      expect(flaky.calls.list).toBe(1);
    });

    it('closes the inner listing when the consumer stops early', async () => {
      let closed = false;
      const inner: Backend = Object.assign(Object.create(flaky) as Backend, {
        list: async function* (prefix: string) {
          try {
            yield* local.list(prefix);
          } finally {
            closed = true;
          }
        },
      });
      const r = new RetryBackend(inner, policy());
      for await (const o of r.list('snapshots/')) {
        if (o.name === names[3]) break;
      }
      expect(closed).toBe(true);
    });
  });
});
