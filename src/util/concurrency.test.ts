// ByteBudget (the byte-weighted semaphore bounding each pipeline stage) and Concurrency.
import { describe, expect, it } from 'vitest';
import { ErrorCode, isEngineError } from '../errors/engine-error.js';
import { ByteBudget, Concurrency, mapLimit, TaskSlots } from './concurrency.js';

/** Lets every pending promise continuation run. */
async function settle(): Promise<void> {
  await new Promise<void>((r) => setImmediate(r));
}

/** Tracks whether a promise has settled, without awaiting it. */
function track<T>(p: Promise<T>): { done: () => boolean; failed: () => unknown; promise: Promise<T> } {
  let done = false;
  let failed: unknown;
  const promise = p.then(
    (v) => {
      done = true;
      return v;
    },
    (e: unknown) => {
      done = true;
      failed = e;
      throw e;
    },
  );
  promise.catch(() => undefined);
  return { done: () => done, failed: () => failed, promise };
}

describe('ByteBudget', () => {
  it('admits at once what fits and counts bytes in use and the high-water mark', async () => {
    const b = new ByteBudget('t', 100);
    await b.acquire(30);
    await b.acquire(70);
    expect(b.inUse).toBe(100);
    expect(b.highWater).toBe(100);
    b.release(50);
    expect(b.inUse).toBe(50);
    expect(b.highWater).toBe(100);
    b.release(50);
    expect(b.inUse).toBe(0);
  });

  it('makes a request that does not fit wait until enough is released', async () => {
    const b = new ByteBudget('t', 100);
    await b.acquire(80);
    const w = track(b.acquire(30));
    await settle();
    expect(w.done()).toBe(false);
    expect(b.inUse).toBe(80);
    b.release(5); // 75 + 30 > 100: still waiting
    await settle();
    expect(w.done()).toBe(false);
    b.release(5); // 70 + 30 = 100: fits exactly
    await w.promise;
    expect(b.inUse).toBe(100);
    expect(b.highWater).toBe(100);
  });

  it('admits an item larger than the capacity only into an empty budget, and nothing beside it', async () => {
    const b = new ByteBudget('t', 100);
    await b.acquire(250); // empty: admitted at once
    expect(b.inUse).toBe(250);
    const small = track(b.acquire(1));
    await settle();
    expect(small.done()).toBe(false);
    b.release(250);
    await small.promise;
    expect(b.inUse).toBe(1);

    // Not empty: the oversized item waits until everything is released.
    const big = track(b.acquire(500));
    await settle();
    expect(big.done()).toBe(false);
    b.release(1);
    await big.promise;
    expect(b.inUse).toBe(500);
    expect(b.highWater).toBe(500);
    b.release(500);
    expect(b.inUse).toBe(0);
  });

  it('serves waiters in FIFO order: a large waiter at the head is not overtaken by small ones', async () => {
    const b = new ByteBudget('t', 100);
    await b.acquire(90);
    const order: string[] = [];
    const large = track(b.acquire(60).then(() => order.push('large')));
    const small = track(b.acquire(5).then(() => order.push('small')));
    await settle();
    // 5 would fit beside the 90, but the large waiter is first in line.
    expect(small.done()).toBe(false);
    // A new request that would fit also queues behind them.
    const later = track(b.acquire(1).then(() => order.push('later')));
    await settle();
    expect(later.done()).toBe(false);
    b.release(50); // 40 held: large (60) fits, then small (5 → 105) does not
    await large.promise;
    await settle();
    expect(order).toEqual(['large']);
    expect(b.inUse).toBe(100);
    b.release(40); // 60 held: small and later both fit, in order
    await Promise.all([small.promise, later.promise]);
    expect(order).toEqual(['large', 'small', 'later']);
    expect(b.inUse).toBe(66);
    expect(b.highWater).toBe(100);
  });

  it('one release admits every waiter at the head that now fits', async () => {
    const b = new ByteBudget('t', 10);
    await b.acquire(10);
    const ws = [3, 3, 3, 3].map((n) => track(b.acquire(n)));
    await settle();
    expect(ws.some((w) => w.done())).toBe(false);
    b.release(10);
    await settle();
    expect(ws.map((w) => w.done())).toEqual([true, true, true, false]);
    expect(b.inUse).toBe(9);
    b.release(3);
    await ws[3]!.promise;
    expect(b.inUse).toBe(9);
  });

  it('abort while waiting rejects with E_ABORTED and removes the waiter', async () => {
    const b = new ByteBudget('t', 10);
    await b.acquire(8);
    const ac = new AbortController();
    const w = track(b.acquire(5, ac.signal));
    await settle();
    expect(w.done()).toBe(false);
    ac.abort();
    await expect(w.promise).rejects.toSatisfy((e: unknown) => isEngineError(e, ErrorCode.ABORTED));
    // The aborted request holds nothing and is never admitted later.
    expect(b.inUse).toBe(8);
    b.release(8);
    await settle();
    expect(b.inUse).toBe(0);
    expect(b.highWater).toBe(8);
    // And it does not block the queue: a later request is admitted at once.
    await b.acquire(10);
    expect(b.inUse).toBe(10);
  });

  it('aborting one waiter leaves the others in the queue, in order', async () => {
    const b = new ByteBudget('t', 10);
    await b.acquire(10);
    const ac = new AbortController();
    const first = track(b.acquire(4));
    const aborted = track(b.acquire(4, ac.signal));
    const third = track(b.acquire(4));
    ac.abort();
    await expect(aborted.promise).rejects.toSatisfy((e: unknown) => isEngineError(e, ErrorCode.ABORTED));
    b.release(10);
    await Promise.all([first.promise, third.promise]);
    expect(b.inUse).toBe(8);
  });

  it('an already aborted signal rejects without taking bytes', async () => {
    const b = new ByteBudget('t', 10);
    await expect(b.acquire(1, AbortSignal.abort())).rejects.toBeDefined();
    expect(b.inUse).toBe(0);
    expect(b.highWater).toBe(0);
  });

  it('an abort after admission changes nothing', async () => {
    const b = new ByteBudget('t', 10);
    await b.acquire(10);
    const ac = new AbortController();
    const w = track(b.acquire(3, ac.signal));
    b.release(10);
    await w.promise;
    ac.abort();
    await settle();
    expect(w.failed()).toBeUndefined();
    expect(b.inUse).toBe(3);
  });

  it('releasing more than is held clamps at zero', async () => {
    const b = new ByteBudget('t', 10);
    await b.acquire(4);
    b.release(9);
    expect(b.inUse).toBe(0);
  });
});

describe('Concurrency', () => {
  it('runs at most `limit` tasks at once, starts them in order and returns their results', async () => {
    for (const limit of [1, 2, 3, 7]) {
      const c = new Concurrency(limit);
      let active = 0;
      let peak = 0;
      const started: number[] = [];
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          c.run(async () => {
            started.push(i);
            active++;
            peak = Math.max(peak, active);
            await new Promise((r) => setTimeout(r, (i * 7) % 4));
            active--;
            return i * 2;
          }),
        ),
      );
      expect(results).toEqual(Array.from({ length: 20 }, (_, i) => i * 2));
      expect(peak).toBe(limit);
      expect(started).toEqual(Array.from({ length: 20 }, (_, i) => i));
    }
  });

  it('a failing task frees its slot and its error reaches the caller', async () => {
    const c = new Concurrency(1);
    await expect(c.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(c.run(async () => 'ok')).resolves.toBe('ok');
    const results = await Promise.allSettled([c.run(() => Promise.reject(new Error('x'))), c.run(async () => 1), c.run(async () => 2)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'fulfilled']);
  });

  it('a limit below 1 means 1', async () => {
    const c = new Concurrency(0);
    expect(c.limit).toBe(1);
    let active = 0;
    let peak = 0;
    await Promise.all(
      [1, 2, 3].map(() =>
        c.run(async () => {
          peak = Math.max(peak, ++active);
          await new Promise((r) => setTimeout(r, 1));
          active--;
        }),
      ),
    );
    expect(peak).toBe(1);
  });
});

describe('regressions', () => {
  it('Concurrency hands a finished slot to the waiter: a newcomer in the gap cannot exceed the limit', async () => {
    const c = new Concurrency(1);
    let peak = 0;
    const track = async (gate: Promise<void>): Promise<void> => {
      peak = Math.max(peak, c.running);
      await gate;
    };
    let releaseA!: () => void;
    const a = c.run(() => track(new Promise<void>((r) => (releaseA = r))));
    const b = c.run(() => track(Promise.resolve()));
    releaseA();
    const late = Promise.resolve().then(() => c.run(() => track(Promise.resolve())));
    await Promise.all([a, b, late]);
    expect(peak).toBe(1);
    expect(c.running).toBe(0);
  });

  it('ByteBudget: an aborted waiter no longer holds back the ones behind it', async () => {
    const budget = new ByteBudget('t', 10);
    await budget.acquire(8);
    const ac = new AbortController();
    const big = budget.acquire(5, ac.signal);
    let smallDone = false;
    const small = budget.acquire(1).then(() => (smallDone = true));
    ac.abort();
    await expect(big).rejects.toMatchObject({ code: 'E_ABORTED' });
    await small;
    expect(smallDone).toBe(true);
    expect(budget.inUse).toBe(9);
  });

  it('ByteBudget: an already aborted signal rejects with E_ABORTED', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(new ByteBudget('t', 10).acquire(1, ac.signal)).rejects.toMatchObject({ code: 'E_ABORTED' });
  });
});

describe('mapLimit', () => {
  it('keeps the order of results and never runs more than the limit at once', async () => {
    let running = 0;
    let peak = 0;
    const out = await mapLimit([5, 1, 4, 2, 3, 0, 6], 3, async (n) => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((r) => setTimeout(r, n * 3));
      running--;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 40, 20, 30, 0, 60]);
    expect(peak).toBe(3);
  });

  it('rejects with the first failure, after the calls in flight settle, and starts no more', async () => {
    const started: number[] = [];
    let inFlight = 0;
    const p = mapLimit([1, 2, 3, 4, 5, 6], 2, async (n) => {
      started.push(n);
      inFlight++;
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      if (n === 2) throw new Error('boom 2');
      return n;
    });
    await expect(p).rejects.toThrow('boom 2');
    expect(inFlight).toBe(0);
    expect(started.length).toBeLessThan(6);
  });

  it('handles an empty list', async () => {
    expect(await mapLimit([], 4, async () => 1)).toEqual([]);
  });
});

describe('TaskSlots', () => {
  it('starts at most `limit` tasks at once, waits for a slot, and drains them all', async () => {
    const slots = new TaskSlots(3);
    let running = 0;
    let most = 0;
    let done = 0;
    for (let i = 0; i < 20; i++) {
      await slots.start(async () => {
        running++;
        most = Math.max(most, running);
        await new Promise((r) => setTimeout(r, 1 + (i % 4)));
        running--;
        done++;
      });
    }
    await slots.drain();
    expect(most).toBe(3);
    expect(done).toBe(20);
  });

  it('a failure is thrown by the next start or by drain, once the tasks in flight have settled', async () => {
    const slots = new TaskSlots(2);
    let settled = 0;
    await slots.start(async () => {
      await new Promise((r) => setTimeout(r, 5));
      throw new Error('boom');
    });
    await slots.start(async () => {
      await new Promise((r) => setTimeout(r, 20));
      settled++;
    });
    await expect(slots.start(async () => undefined)).rejects.toThrow('boom');
    expect(settled).toBe(1);
    const other = new TaskSlots(2);
    await other.start(() => Promise.reject(new Error('late')));
    await expect(other.drain()).rejects.toThrow('late');
  });
});
