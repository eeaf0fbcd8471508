// RateLimitBackend over a real LocalBackend, measured with real time at small rates.
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { workdirPerTest } from '../../../test/support/workdir.js';
import { ErrorCode } from '../../errors/engine-error.js';
import { LocalBackend } from '../local/local-backend.js';
import type { Backend, ObjectOptions } from '../types.js';
import { RateLimitBackend } from './rate-limit-backend.js';

const KiB = 1024;
let dir: string;
let local: LocalBackend;

const work = workdirPerTest('rate-limit-backend-');
beforeEach(async () => {
  dir = work.path;
  local = new LocalBackend(join(dir, 'repo'));
  await local.createRoot();
});


const bytes = (n: number, seed = 1): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i + seed * 17) & 0xff);

/** Byte equality without vitest's element-by-element diffing (slow on 100 KiB arrays, and timed here). */
function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

function seconds(t0: number): number {
  return (performance.now() - t0) / 1000;
}

/** Records when each inner save starts, in milliseconds since `t0`. */
function recordingSaves(inner: Backend, t0: () => number, starts: { name: string; at: number }[]): Backend {
  return Object.assign(Object.create(inner) as Backend, {
    save: (name: string, data: Uint8Array, opts?: ObjectOptions) => {
      starts.push({ name, at: performance.now() - t0() });
      return inner.save(name, data, opts);
    },
  });
}

describe('RateLimitBackend', () => {
  it('passes location and parallelism through', () => {
    const r = new RateLimitBackend(local, { uploadBytesPerSec: 1000 });
    expect(r.location).toBe(local.location);
    expect(r.parallelism).toBe(local.parallelism);
  });

  it('rejects a limit that is not above zero', () => {
    expect(() => new RateLimitBackend(local, { uploadBytesPerSec: 0 })).toThrow(/upload limit/);
    expect(() => new RateLimitBackend(local, { downloadBytesPerSec: -5 })).toThrow(/download limit/);
  });

  it('holds uploads to the limit after a burst of one second', async () => {
    const r = new RateLimitBackend(local, { uploadBytesPerSec: 200 * KiB });
    const objects = Array.from({ length: 6 }, (_, i) => bytes(100 * KiB, i));
    const t0 = performance.now();
    for (const [i, o] of objects.entries()) await r.save(`data/${i}`, o);
    // 600 KiB, 200 KiB of it from the burst: 400 KiB at 200 KiB/s.
    const s = seconds(t0);
    expect(s).toBeGreaterThanOrEqual(1.9);
    expect(s).toBeLessThan(3.5);
    for (const [i, o] of objects.entries()) expect(same(await local.load(`data/${i}`), o)).toBe(true);
  });

  it('charges downloads after they arrive and makes the next one wait until the balance is back to zero', async () => {
    const objects = Array.from({ length: 12 }, (_, i) => bytes(50 * KiB, i));
    for (const [i, o] of objects.entries()) await local.save(`data/${i}`, o);
    const r = new RateLimitBackend(local, { downloadBytesPerSec: 200 * KiB });
    const t0 = performance.now();
    for (const [i, o] of objects.entries()) expect(same(await r.load(`data/${i}`), o)).toBe(true);
    // 600 KiB: 200 KiB of burst, and the last load is charged after it arrived: 350 KiB to wait for.
    const s = seconds(t0);
    expect(s).toBeGreaterThanOrEqual(1.65);
    expect(s).toBeLessThan(3.3);
  });

  it('counts ranged downloads by the bytes received', async () => {
    const whole = bytes(400 * KiB);
    await local.save('pack', whole);
    const r = new RateLimitBackend(local, { downloadBytesPerSec: 100 * KiB });
    const t0 = performance.now();
    // 100 KiB of burst, then 4 × 50 KiB: each but the first waits 0.5 s.
    for (let i = 0; i < 5; i++) {
      expect(same(await r.load('pack', { offset: i * 50 * KiB, length: 50 * KiB }), whole.subarray(i * 50 * KiB, (i + 1) * 50 * KiB))).toBe(true);
    }
    const s = seconds(t0);
    expect(s).toBeGreaterThanOrEqual(0.95);
    expect(s).toBeLessThan(2.5);
  });

  it('does not delay a direction without a limit, nor listings', async () => {
    const downOnly = new RateLimitBackend(local, { downloadBytesPerSec: 100 * KiB });
    let t0 = performance.now();
    for (let i = 0; i < 6; i++) await downOnly.save(`data/${i}`, bytes(100 * KiB, i));
    expect(seconds(t0)).toBeLessThan(1); // 5 s if uploads were held to 100 KiB/s

    const upOnly = new RateLimitBackend(local, { uploadBytesPerSec: 100 * KiB });
    t0 = performance.now();
    for (let i = 0; i < 6; i++) expect((await upOnly.load(`data/${i}`)).length).toBe(100 * KiB);
    let listed = 0;
    for await (const o of upOnly.list('data/')) listed += o.size;
    expect(listed).toBe(600 * KiB);
    expect(seconds(t0)).toBeLessThan(1);
  });

  it('lets an object larger than the burst through and makes later uploads pay for it', async () => {
    const r = new RateLimitBackend(local, { uploadBytesPerSec: 200 * KiB });
    const t0 = performance.now();
    await r.save('big', bytes(300 * KiB));
    expect(seconds(t0)).toBeLessThan(0.5);
    await r.save('small', bytes(1 * KiB));
    // The balance went to -100 KiB: the next save waits for 101 KiB at 200 KiB/s.
    expect(seconds(t0)).toBeGreaterThanOrEqual(0.45);
    expect(seconds(t0)).toBeLessThan(1.5);
  });

  it('serves concurrent uploads first come, first served', async () => {
    const starts: { name: string; at: number }[] = [];
    let t0 = 0;
    const r = new RateLimitBackend(recordingSaves(local, () => t0, starts), { uploadBytesPerSec: 200 * KiB });
    await r.save('drain', bytes(200 * KiB)); // empties the bucket
    t0 = performance.now();
    starts.length = 0;
    // The large one asked first: the small one, which would fit much sooner, must not overtake it.
    await Promise.all([r.save('large', bytes(150 * KiB)), r.save('small', bytes(10 * KiB))]);
    expect(starts.map((s) => s.name)).toEqual(['large', 'small']);
    const [large, small] = starts;
    expect(large?.at).toBeGreaterThanOrEqual(650); // 150 KiB at 200 KiB/s = 750 ms
    expect(small?.at).toBeGreaterThanOrEqual(large?.at ?? Infinity);
  });

  it('stops waiting when the signal fires, and stores nothing', async () => {
    const r = new RateLimitBackend(local, { uploadBytesPerSec: 100 * KiB });
    await r.save('drain', bytes(100 * KiB));
    const ac = new AbortController();
    const t0 = performance.now();
    setTimeout(() => ac.abort(), 50);
    await expect(r.save('late', bytes(100 * KiB), { signal: ac.signal })).rejects.toMatchObject({ code: ErrorCode.ABORTED });
    expect(seconds(t0)).toBeLessThan(0.5);
    await expect(local.stat('late')).rejects.toMatchObject({ code: ErrorCode.BACKEND_NOT_FOUND });
    // The aborted waiter left the queue and took no tokens: a small save goes after ~0.1 s of refill.
    await r.save('next', bytes(5 * KiB));
    expect(seconds(t0)).toBeLessThan(0.5);
  });
});
