// Property tests of ByteBudget and Concurrency under random producers, consumers, sizes, delays
// and aborts: everything completes (no deadlock) and the bounds hold throughout.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode, isEngineError } from '../errors/engine-error.js';
import { ByteBudget, Concurrency } from './concurrency.js';

/** A delay of `d` steps: 0 = none, small values = that many microtask turns, larger = a macrotask. */
async function delay(d: number): Promise<void> {
  if (d === 0) return;
  if (d < 6) {
    for (let i = 0; i < d; i++) await Promise.resolve();
    return;
  }
  await new Promise<void>((r) => setImmediate(r));
}

/** Rejects when `p` has not settled after `ms`: a deadlock fails the property instead of hanging the suite. */
async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no progress after ${ms} ms (deadlock)`)), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Bytes held by items whose acquire has resolved and which are not yet released. */
class Ledger {
  private readonly held = new Map<number, number>();
  private next = 0;
  private readonly capacityForCheck: number;
  private readonly budget: ByteBudget;
  constructor(capacity: number, budget: ByteBudget) {
    this.capacityForCheck = capacity;
    this.budget = budget;
  }
  add(bytes: number): number {
    const id = this.next++;
    this.held.set(id, bytes);
    this.check();
    return id;
  }
  remove(id: number): number {
    const bytes = this.held.get(id)!;
    this.held.delete(id);
    return bytes;
  }
  /**
   * Two or more items held at once never exceed the capacity, and what the budget counts covers
   * them all. Zero-byte items hold nothing: an oversized item may join them in an "empty" budget.
   */
  check(): void {
    let sum = 0;
    let count = 0;
    for (const b of this.held.values()) {
      sum += b;
      if (b > 0) count++;
    }
    if (count >= 2) expect(sum).toBeLessThanOrEqual(this.capacityForCheck);
    expect(this.budget.inUse).toBeGreaterThanOrEqual(sum);
  }
}

describe('ByteBudget under random load', () => {
  const itemArb = fc.record({ size: fc.integer({ min: 0, max: 150 }), hold: fc.integer({ min: 0, max: 8 }), gap: fc.integer({ min: 0, max: 8 }) });

  it('producers and consumers always complete and the bound holds (oversized items alone)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 100 }),
        fc.array(fc.array(itemArb, { maxLength: 12 }), { minLength: 1, maxLength: 6 }),
        async (capacity, producers) => {
          const budget = new ByteBudget('prop', capacity);
          const ledger = new Ledger(capacity, budget);
          const consumers: Promise<void>[] = [];
          const run = async (items: { size: number; hold: number; gap: number }[]): Promise<void> => {
            for (const it of items) {
              await delay(it.gap);
              await budget.acquire(it.size);
              const id = ledger.add(it.size);
              // The consumer releases after a while, independently of the producer.
              consumers.push(
                (async () => {
                  await delay(it.hold);
                  ledger.check();
                  budget.release(ledger.remove(id));
                })(),
              );
            }
          };
          await within(Promise.all(producers.map(run)), 5000, 'producers');
          await within(Promise.all(consumers), 5000, 'consumers');
          const largest = Math.max(0, ...producers.flat().map((i) => i.size));
          expect(budget.inUse).toBe(0);
          expect(budget.highWater).toBeLessThanOrEqual(Math.max(capacity, largest));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('a two-stage pipeline (acquire the output lease before releasing the input) never deadlocks', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 1, max: 60 }),
        fc.array(fc.array(fc.record({ inSize: fc.integer({ min: 0, max: 80 }), outSize: fc.integer({ min: 0, max: 80 }), work: fc.integer({ min: 0, max: 7 }), store: fc.integer({ min: 0, max: 7 }) }), { maxLength: 10 }), { minLength: 1, maxLength: 5 }),
        async (capA, capB, files) => {
          const a = new ByteBudget('read', capA);
          const b = new ByteBudget('sealed', capB);
          const stored: Promise<void>[] = [];
          const file = async (items: { inSize: number; outSize: number; work: number; store: number }[]): Promise<void> => {
            for (const it of items) {
              await a.acquire(it.inSize); // read
              await delay(it.work); // chunk, hash, seal
              await b.acquire(it.outSize); // output lease first ...
              a.release(it.inSize); // ... then the input lease
              stored.push(
                (async () => {
                  await delay(it.store);
                  b.release(it.outSize);
                })(),
              );
            }
          };
          await within(Promise.all(files.map(file)), 5000, 'pipeline');
          await within(Promise.all(stored), 5000, 'store');
          const all = files.flat();
          expect(a.inUse).toBe(0);
          expect(b.inUse).toBe(0);
          expect(a.highWater).toBeLessThanOrEqual(Math.max(capA, ...all.map((i) => i.inSize)));
          expect(b.highWater).toBeLessThanOrEqual(Math.max(capB, ...all.map((i) => i.outSize)));
        },
      ),
      { numRuns: 100 },
    );
  });

  it('aborted requests reject with E_ABORTED, hold nothing, and the rest still complete', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.record({ size: fc.integer({ min: 0, max: 70 }), hold: fc.integer({ min: 0, max: 8 }), abortAfter: fc.option(fc.integer({ min: 0, max: 8 })) }), { minLength: 1, maxLength: 30 }),
        async (capacity, reqs) => {
          const budget = new ByteBudget('abort', capacity);
          const ledger = new Ledger(capacity, budget);
          let admitted = 0;
          let aborted = 0;
          const all = reqs.map(async (r) => {
            const ac = new AbortController();
            if (r.abortAfter !== null) void delay(r.abortAfter).then(() => ac.abort());
            try {
              await budget.acquire(r.size, ac.signal);
            } catch (err) {
              // Only a request that had to wait can be aborted, and then only with E_ABORTED.
              expect(isEngineError(err, ErrorCode.ABORTED)).toBe(true);
              expect(r.abortAfter).not.toBeNull();
              aborted++;
              return;
            }
            admitted++;
            const id = ledger.add(r.size);
            await delay(r.hold);
            budget.release(ledger.remove(id));
          });
          await within(Promise.all(all), 5000, 'requests');
          expect(admitted + aborted).toBe(reqs.length);
          expect(budget.inUse).toBe(0);
          expect(budget.highWater).toBeLessThanOrEqual(Math.max(capacity, ...reqs.map((r) => r.size)));
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('Concurrency under random load', () => {
  it('never runs more than its limit and completes every task', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 6 }), fc.array(fc.record({ d: fc.integer({ min: 0, max: 8 }), fail: fc.boolean() }), { maxLength: 40 }), async (limit, tasks) => {
        const c = new Concurrency(limit);
        let active = 0;
        let peak = 0;
        const settled = await within(
          Promise.allSettled(
            tasks.map((t, i) =>
              c.run(async () => {
                active++;
                peak = Math.max(peak, active);
                try {
                  await delay(t.d);
                  if (t.fail) throw new Error(`task ${i}`);
                  return i;
                } finally {
                  active--;
                }
              }),
            ),
          ),
          5000,
          'tasks',
        );
        expect(peak).toBeLessThanOrEqual(limit);
        if (tasks.length > 0) expect(peak).toBeGreaterThanOrEqual(1);
        settled.forEach((s, i) => {
          if (tasks[i]!.fail) expect(s.status).toBe('rejected');
          else expect(s).toEqual({ status: 'fulfilled', value: i });
        });
        expect(active).toBe(0);
      }),
      { numRuns: 150 },
    );
  });
});
