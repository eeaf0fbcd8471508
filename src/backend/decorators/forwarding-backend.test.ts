// The forwarding base: a decorator overrides only what it changes and every other Backend call
// reaches the backend it wraps; the withX constructors compose the decorators without nested `new`.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withWorkdir } from '../../../test/support/workdir.js';
import { MemoryBackend } from '../memory/memory-backend.js';
import type { Backend, ObjectInfo } from '../types.js';
import { CacheBackend, withCache } from './cache-backend.js';
import { FaultyBackend, withFaults } from './faulty-backend.js';
import { ForwardingBackend } from './forwarding-backend.js';
import { RateLimitBackend, withRateLimit } from './rate-limit-backend.js';
import { RetryBackend, withRetry } from './retry-backend.js';

const OPS = ['rootExists', 'createRoot', 'save', 'load', 'stat', 'list', 'remove', 'close'] as const;

/** A memory backend that records which of its calls were made. */
function recording(): { backend: Backend; calls: string[] } {
  const inner = new MemoryBackend('recorded');
  const calls: string[] = [];
  const backend = new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function' || !(OPS as readonly (string | symbol)[]).includes(prop)) return v;
      return (...args: unknown[]) => {
        calls.push(String(prop));
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { backend, calls };
}

async function names(it: AsyncIterable<ObjectInfo>): Promise<string[]> {
  const out: string[] = [];
  for await (const i of it) out.push(i.name);
  return out;
}

/** Every Backend call through `outer` reaches the recorded inner backend, with its result. */
async function expectForwardsEverything(make: (inner: Backend) => Backend): Promise<void> {
  const { backend, calls } = recording();
  const outer = make(backend);
  const exists = await backend.rootExists();
  calls.length = 0;
  expect(outer.location).toBe('memory:recorded');
  expect(outer.parallelism).toBe(backend.parallelism);
  expect(await outer.rootExists()).toBe(exists);
  await outer.createRoot();
  await outer.save('snapshots/a', new Uint8Array([1, 2, 3]));
  expect([...(await outer.load('snapshots/a'))]).toEqual([1, 2, 3]);
  expect(await outer.stat('snapshots/a')).toEqual({ name: 'snapshots/a', size: 3 });
  expect(await names(outer.list('snapshots/'))).toEqual(['snapshots/a']);
  await outer.remove('snapshots/a');
  await outer.close();
  expect(new Set(calls)).toEqual(new Set(OPS));
}

describe('ForwardingBackend', () => {
  it('forwards every call, location and parallelism', async () => {
    await expectForwardsEverything((inner) => new ForwardingBackend(inner));
  });

  it('each decorator passes through what it does not change', async () => {
    await expectForwardsEverything((inner) => withRateLimit(inner, { uploadBytesPerSec: 1e9, downloadBytesPerSec: 1e9 }));
    await expectForwardsEverything((inner) => withRetry(inner, { maxAttempts: 2, baseDelayMs: 0, maxDelayMs: 0 }));
    await expectForwardsEverything((inner) => withFaults(inner, { rate: 0, kinds: ['error'], seed: 1 }));
    await withWorkdir('engine-forwarding-', (dir) => expectForwardsEverything((inner) => withCache(inner, dir)));
  });

  it('withX constructors compose the decorators innermost first', () => {
    const store = new MemoryBackend('composed');
    const limited = withRateLimit(withFaults(store, { rate: 0, kinds: ['error'], seed: 1 }), { uploadBytesPerSec: 1000 });
    const cached = withCache(withRetry(limited, { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 1 }), join(tmpdir(), 'engine-unused-cache'));
    expect(cached).toBeInstanceOf(CacheBackend);
    expect(limited).toBeInstanceOf(RateLimitBackend);
    for (const b of [limited, cached]) expect(b).toBeInstanceOf(ForwardingBackend);
    expect(withRetry(store, { maxAttempts: 1, baseDelayMs: 0, maxDelayMs: 0 })).toBeInstanceOf(RetryBackend);
    expect(withFaults(store, { rate: 0, kinds: ['error'], seed: 1 })).toBeInstanceOf(FaultyBackend);
    expect(cached.location).toBe('memory:composed');
  });
});
