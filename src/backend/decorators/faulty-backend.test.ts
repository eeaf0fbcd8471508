// FaultyBackend over a real LocalBackend: determinism, failAll/failAfter, each kind of fault,
// the spec parser, and RetryBackend coping with what it injects.
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { workdirPerTest } from '../../../test/support/workdir.js';
import { ErrorCode } from '../../errors/engine-error.js';
import { LocalBackend } from '../local/local-backend.js';
import { FaultyBackend, type FaultOptions, mulberry32, parseFaultSpec } from './faulty-backend.js';
import { RetryBackend } from './retry-backend.js';

let dir: string;
let local: LocalBackend;

const work = workdirPerTest('faulty-backend-');
beforeEach(async () => {
  dir = work.path;
  local = new LocalBackend(join(dir, 'repo'));
  await local.createRoot();
});


const bytes = (n: number, seed = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed * 13) & 0xff);

/** Runs a fixed sequence of calls and returns what became of each one. */
async function script(b: FaultyBackend): Promise<string[]> {
  const out: string[] = [];
  const record = async (label: string, p: Promise<unknown>): Promise<void> => {
    try {
      const v = await p;
      out.push(`${label}:ok${v instanceof Uint8Array ? `:${v.length}` : ''}`);
    } catch (e) {
      const code = (e as { code?: string }).code;
      // Injected faults by their message; the store's own errors (not found) by their code.
      out.push(`${label}:${code}${code === ErrorCode.BACKEND_TRANSIENT ? `:${(e as Error).message.replace(/^.*: /, '')}` : ''}`);
    }
  };
  for (let i = 0; i < 40; i++) {
    await record(`save${i}`, b.save(`data/${i % 4}/o${i}`, bytes(64, i)));
    await record(`load${i}`, b.load(`data/${i % 4}/o${i}`, { offset: 0, length: 32 }));
    await record(`stat${i}`, b.stat(`data/${i % 4}/o${i}`));
  }
  return out;
}

const ALL: FaultOptions = { rate: 0.3, kinds: ['error', 'reset', 'truncate', 'slow'], seed: 7, slowMs: 1 };

describe('FaultyBackend', () => {
  it('passes location and parallelism through', () => {
    const f = new FaultyBackend(local, ALL);
    expect(f.location).toBe(local.location);
    expect(f.parallelism).toBe(local.parallelism);
  });

  it('mulberry32 is deterministic per seed and spread over [0, 1)', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(xs);
    expect(Math.min(...xs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...xs)).toBeLessThan(1);
    expect(xs.filter((x) => x < 0.5).length).toBeGreaterThan(400);
    expect(xs.filter((x) => x < 0.5).length).toBeLessThan(600);
    const c = mulberry32(43);
    expect(Array.from({ length: 10 }, () => c())).not.toEqual(xs.slice(0, 10));
  });

  it('injects the same faults for the same seed and calls, and other faults for another seed', async () => {
    const one = await script(new FaultyBackend(new LocalBackend(join(dir, 'a')), ALL));
    const two = await script(new FaultyBackend(new LocalBackend(join(dir, 'b')), ALL));
    const other = await script(new FaultyBackend(new LocalBackend(join(dir, 'c')), { ...ALL, seed: 8 }));
    expect(two).toEqual(one);
    expect(other).not.toEqual(one);
    // All four kinds show up at rate 0.3 over 120 calls (slow ones succeed).
    const failed = one.filter((s) => !s.includes(':ok'));
    expect(failed.some((s) => s.endsWith('injected HTTP 500'))).toBe(true);
    expect(failed.some((s) => s.endsWith('injected connection reset'))).toBe(true);
    expect(one.some((s) => /^load\d+:ok:16$/.test(s))).toBe(true); // truncated: half of 32
  });

  it('counts calls and injected faults, near the rate', async () => {
    const f = new FaultyBackend(local, { rate: 0.25, kinds: ['error'], seed: 3 });
    let failed = 0;
    for (let i = 0; i < 400; i++) {
      try {
        await f.stat('nothing');
      } catch (e) {
        if ((e as { code?: string }).code === ErrorCode.BACKEND_TRANSIENT) failed++;
      }
    }
    expect(f.calls).toBe(400);
    expect(f.injected).toBe(failed);
    expect(failed).toBeGreaterThan(60);
    expect(failed).toBeLessThan(140);
  });

  it('failAfter(n) lets the next n calls pass and fails every later one', async () => {
    const f = new FaultyBackend(local, { rate: 0, kinds: ['error'], seed: 1 });
    await f.save('a', bytes(4));
    f.failAfter(3);
    await f.save('b', bytes(4));
    await f.load('b');
    await f.stat('a');
    for (let i = 0; i < 5; i++) {
      await expect(f.stat('a')).rejects.toMatchObject({ code: ErrorCode.BACKEND_TRANSIENT, message: expect.stringContaining('failAfter') });
    }
    await expect(f.save('c', bytes(1))).rejects.toMatchObject({ code: ErrorCode.BACKEND_TRANSIENT });
    await expect(local.stat('c')).rejects.toMatchObject({ code: ErrorCode.BACKEND_NOT_FOUND });
    expect(f.calls).toBe(10);
    expect(f.injected).toBe(6);
  });

  it('takes failAfter from its options too', async () => {
    const f = new FaultyBackend(local, { rate: 0, kinds: ['error'], seed: 1, failAfter: 1 });
    await f.save('a', bytes(4));
    await expect(f.load('a')).rejects.toMatchObject({ code: ErrorCode.BACKEND_TRANSIENT });
  });

  it('failAll fails every call while on', async () => {
    const f = new FaultyBackend(local, { rate: 0, kinds: ['error'], seed: 1 });
    await f.save('a', bytes(4));
    f.failAll(true);
    await expect(f.load('a')).rejects.toMatchObject({ code: ErrorCode.BACKEND_TRANSIENT });
    await expect(f.remove('a')).rejects.toMatchObject({ code: ErrorCode.BACKEND_TRANSIENT });
    expect((await local.stat('a')).size).toBe(4);
    f.failAll(false);
    expect(await f.load('a')).toEqual(bytes(4));
  });

  it("'reset' on save sometimes stores the object although the call fails", async () => {
    const f = new FaultyBackend(local, { rate: 1, kinds: ['reset'], seed: 11 });
    let stored = 0;
    for (let i = 0; i < 40; i++) {
      await expect(f.save(`data/x/${i}`, bytes(8, i))).rejects.toMatchObject({
        code: ErrorCode.BACKEND_TRANSIENT,
        message: expect.stringContaining('injected connection reset'),
      });
      const there = await local.load(`data/x/${i}`).then(
        (d) => {
          expect(d).toEqual(bytes(8, i));
          return true;
        },
        () => false,
      );
      if (there) stored++;
    }
    expect(stored).toBeGreaterThan(5);
    expect(stored).toBeLessThan(35);
  });

  it("'truncate' halves ranged loads, and acts as 'error' for whole loads and other operations", async () => {
    await local.save('p', bytes(100));
    const f = new FaultyBackend(local, { rate: 1, kinds: ['truncate'], seed: 1 });
    expect(await f.load('p', { offset: 10, length: 40 })).toEqual(bytes(100).subarray(10, 30));
    await expect(f.load('p')).rejects.toMatchObject({ code: ErrorCode.BACKEND_TRANSIENT, message: expect.stringContaining('injected HTTP 500') });
    await expect(f.stat('p')).rejects.toMatchObject({ code: ErrorCode.BACKEND_TRANSIENT });
  });

  it("'slow' delays the call and then makes it", async () => {
    await local.save('p', bytes(10));
    const f = new FaultyBackend(local, { rate: 1, kinds: ['slow'], seed: 1, slowMs: 150 });
    const t0 = performance.now();
    expect(await f.load('p')).toEqual(bytes(10));
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
    expect(f.injected).toBe(1);
  });

  it('strikes only the operations in ops', async () => {
    const f = new FaultyBackend(local, { rate: 1, kinds: ['error'], seed: 1, ops: ['load'] });
    await f.save('a', bytes(3));
    expect((await f.stat('a')).size).toBe(3);
    await expect(f.load('a')).rejects.toMatchObject({ code: ErrorCode.BACKEND_TRANSIENT });
    expect(f.injected).toBe(1);
    expect(f.calls).toBe(3);
  });

  it('fails struck listings part-way', async () => {
    for (let i = 0; i < 30; i++) await local.save(`index/${String(i).padStart(2, '0')}`, bytes(1));
    const f = new FaultyBackend(local, { rate: 1, kinds: ['error'], seed: 5 });
    const seen: string[] = [];
    await expect(
      (async () => {
        for await (const o of f.list('index/')) seen.push(o.name);
      })(),
    ).rejects.toMatchObject({ code: ErrorCode.BACKEND_TRANSIENT });
    expect(seen.length).toBeLessThan(16);
  });

  describe('under RetryBackend', () => {
    const fast = { maxAttempts: 30, baseDelayMs: 0, maxDelayMs: 0 };

    it('catches truncated ranged loads and returns the right bytes', async () => {
      await local.save('data/aa/pack', bytes(4096));
      const f = new FaultyBackend(local, { rate: 0.5, kinds: ['truncate'], seed: 9 });
      const r = new RetryBackend(f, fast);
      for (let i = 0; i < 30; i++) {
        const range = { offset: i * 100, length: 50 + i };
        expect(await r.load('data/aa/pack', range)).toEqual(bytes(4096).subarray(range.offset, range.offset + range.length));
      }
      expect(f.injected).toBeGreaterThan(5);
      expect(f.calls).toBe(30 + f.injected);
    });

    it('completes a workload of saves, loads and listings under every kind of fault', async () => {
      const f = new FaultyBackend(local, { rate: 0.3, kinds: ['error', 'reset', 'truncate', 'slow'], seed: 21, slowMs: 1 });
      const r = new RetryBackend(f, fast);
      const names = Array.from({ length: 60 }, (_, i) => `data/${(i % 3).toString().padStart(2, '0')}/obj${String(i).padStart(3, '0')}`);
      for (const [i, n] of names.entries()) await r.save(n, bytes(200, i));
      for (const [i, n] of names.entries()) {
        expect(await r.load(n)).toEqual(bytes(200, i));
        expect(await r.load(n, { offset: 50, length: 100 })).toEqual(bytes(200, i).subarray(50, 150));
      }
      for (let k = 0; k < 5; k++) {
        const listed: string[] = [];
        for await (const o of r.list('data/')) listed.push(o.name);
        expect(listed).toEqual([...names].sort());
      }
      expect(f.injected).toBeGreaterThan(20);
    });
  });
});

describe('parseFaultSpec', () => {
  it('reads the documented form', () => {
    expect(parseFaultSpec('rate=0.1,kinds=error+reset+truncate+slow,seed=7,failAfter=40')).toEqual({
      rate: 0.1,
      kinds: ['error', 'reset', 'truncate', 'slow'],
      seed: 7,
      failAfter: 40,
    });
    expect(parseFaultSpec(' rate=1 , kinds=slow, slowMs=5, ops=save+list ')).toEqual({ rate: 1, kinds: ['slow'], seed: 0, slowMs: 5, ops: ['save', 'list'] });
  });

  it.each([
    ['', /rate is missing/],
    ['kinds=error', /rate is missing/],
    ['rate=0.1', /kinds is missing/],
    ['rate=abc,kinds=error', /rate=abc is not a number/],
    ['rate=1.5,kinds=error', /between 0 and 1/],
    ['rate=0.1,kinds=error+boom', /unknown kind "boom"/],
    ['rate=0.1,kinds=error,seed=1.5', /seed=1.5 is not a whole number/],
    ['rate=0.1,kinds=error,failAfter=-1', /failAfter=-1 must be 0 or more/],
    ['rate=0.1,kinds=error,ops=save+copy', /unknown operation "copy"/],
    ['rate=0.1,kinds=error,colour=red', /unknown key "colour"/],
    ['rate=0.1,rate=0.2,kinds=error', /"rate" is given twice/],
    ['rate=0.1,kinds', /"kinds" is not key=value/],
    ['rate=,kinds=error', /"rate" has no value/],
  ])('rejects %j', (spec, why) => {
    expect(() => parseFaultSpec(spec)).toThrow(why);
    try {
      parseFaultSpec(spec);
    } catch (e) {
      expect((e as { code?: string }).code).toBe(ErrorCode.USAGE);
      expect((e as Error).message).toContain(`fault specification "${spec}"`);
    }
  });
});
