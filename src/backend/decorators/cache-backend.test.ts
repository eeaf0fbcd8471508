// CacheBackend over a real LocalBackend; a counting wrapper defined here shows which calls reach
// the store.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { workdirPerTest } from '../../../test/support/workdir.js';
import { ErrorCode } from '../../errors/engine-error.js';
import { LocalBackend } from '../local/local-backend.js';
import type { Backend, ByteRange, ObjectInfo, ObjectOptions } from '../types.js';
import { CacheBackend } from './cache-backend.js';

/** Passes everything to the store and records the loads and saves that reach it. */
class Counting implements Backend {
  readonly location: string;
  readonly parallelism = 7;
  readonly loads: { name: string; range: ByteRange | undefined }[] = [];
  readonly saves: string[] = [];
  private readonly inner: Backend;
  constructor(inner: Backend) {
    this.inner = inner;
    this.location = `counting:${inner.location}`;
  }
  rootExists(): Promise<boolean> {
    return this.inner.rootExists();
  }
  createRoot(): Promise<void> {
    return this.inner.createRoot();
  }
  save(name: string, data: Uint8Array, opts?: ObjectOptions): Promise<void> {
    this.saves.push(name);
    return this.inner.save(name, data, opts);
  }
  load(name: string, range?: ByteRange, opts?: ObjectOptions): Promise<Uint8Array> {
    this.loads.push({ name, range });
    return this.inner.load(name, range, opts);
  }
  stat(name: string): Promise<ObjectInfo> {
    return this.inner.stat(name);
  }
  list(prefix: string): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix);
  }
  remove(name: string): Promise<void> {
    return this.inner.remove(name);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}

const META = { metadata: true } as const;
let dir: string;
let cacheDir: string;
let local: LocalBackend;
let counting: Counting;
let cache: CacheBackend;
let warnings: string[];

const work = workdirPerTest('cache-backend-');
beforeEach(async () => {
  dir = work.path;
  local = new LocalBackend(join(dir, 'repo'));
  await local.createRoot();
  counting = new Counting(local);
  cacheDir = join(dir, 'cache');
  warnings = [];
  cache = new CacheBackend(counting, cacheDir, (m) => warnings.push(m));
});


function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

const cached = (name: string): string => join(cacheDir, ...name.split('/'));

describe('CacheBackend', () => {
  it('passes location and parallelism through', () => {
    expect(cache.location).toBe(counting.location);
    expect(cache.parallelism).toBe(7);
  });

  it('serves the second metadata load from the cache', async () => {
    const data = randomBytes(5000);
    await local.save('index/aa', data);
    expect(same(await cache.load('index/aa', undefined, META), data)).toBe(true);
    expect(counting.loads).toHaveLength(1);
    expect(cache.misses).toBe(1);
    expect(same(await cache.load('index/aa', undefined, META), data)).toBe(true);
    expect(same(await cache.load('index/aa', undefined, META), data)).toBe(true);
    expect(counting.loads).toHaveLength(1);
    expect(cache.hits).toBe(2);
    expect(cache.misses).toBe(1);
  });

  it('writes metadata saves through to the store and the cache, files 0600 in folders 0700', async () => {
    const data = randomBytes(300);
    await cache.save('snapshots/s1', data, META);
    expect(counting.saves).toEqual(['snapshots/s1']);
    expect(same(await local.load('snapshots/s1'), data)).toBe(true);
    expect((await stat(cached('snapshots/s1'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(cacheDir, 'snapshots'))).mode & 0o777).toBe(0o700);
    expect((await stat(cacheDir)).mode & 0o777).toBe(0o700);
    // The cached file is the content followed by its integrity trailer.
    const file = await readFile(cached('snapshots/s1'));
    expect(same(file.subarray(0, 300), data)).toBe(true);
    expect(file.length).toBe(300 + 32 + 48);

    expect(same(await cache.load('snapshots/s1', undefined, META), data)).toBe(true);
    expect(counting.loads).toHaveLength(0);
    expect(cache.hits).toBe(1);
  });

  it('never caches objects saved or loaded without the metadata hint', async () => {
    const data = randomBytes(1000);
    await cache.save('data/ab/pack', data);
    expect(existsSync(cached('data/ab/pack'))).toBe(false);
    expect(same(await cache.load('data/ab/pack'), data)).toBe(true);
    expect(same(await cache.load('data/ab/pack', { offset: 10, length: 10 }), data.subarray(10, 20))).toBe(true);
    expect(same(await cache.load('data/ab/pack', undefined, { metadata: false }), data)).toBe(true);
    expect(counting.loads).toHaveLength(3);
    expect(existsSync(cached('data/ab/pack'))).toBe(false);
    expect(cache.hits + cache.misses).toBe(0);
  });

  it('fetches a whole object on a ranged metadata miss and serves ranges from the cached file', async () => {
    const data = randomBytes(200 * 1024 + 17); // four blocks of 64 KiB, the last one short
    await local.save('data/cd/treepack', data);
    const ranges: ByteRange[] = [
      { offset: 65_530, length: 20 }, // across the first block boundary
      { offset: 0, length: 1 },
      { offset: 65_536, length: 65_536 }, // exactly the second block
      { offset: 100, length: 150_000 }, // three blocks
      { offset: data.length - 5, length: 5 }, // the end of the short last block
      { offset: 1234, length: 0 },
    ];
    for (const range of ranges) {
      const got = await cache.load('data/cd/treepack', range, META);
      expect(got.length).toBe(range.length);
      expect(same(got, data.subarray(range.offset, range.offset + range.length))).toBe(true);
    }
    expect(counting.loads).toEqual([{ name: 'data/cd/treepack', range: undefined }]);
    expect(cache.misses).toBe(1);
    expect(cache.hits).toBe(ranges.length - 1);
    expect(same(await cache.load('data/cd/treepack', undefined, META), data)).toBe(true);
    expect(counting.loads).toHaveLength(1);
  });

  it('lets the store answer a range beyond the end of a cached object', async () => {
    await local.save('keys/k', randomBytes(100));
    await cache.load('keys/k', undefined, META);
    await expect(cache.load('keys/k', { offset: 90, length: 20 }, META)).rejects.toMatchObject({ code: ErrorCode.INTEGRITY });
    // A miss with a range beyond the end fails the same way.
    await local.save('keys/j', randomBytes(100));
    await expect(cache.load('keys/j', { offset: 90, length: 20 }, META)).rejects.toMatchObject({ code: ErrorCode.INTEGRITY });
  });

  it('shares one fetch between concurrent misses of one object', async () => {
    const data = randomBytes(100_000);
    await local.save('data/ef/treepack', data);
    const got = await Promise.all(
      Array.from({ length: 6 }, (_, i) => cache.load('data/ef/treepack', { offset: i * 1000, length: 500 }, META)),
    );
    got.forEach((g, i) => expect(same(g, data.subarray(i * 1000, i * 1000 + 500))).toBe(true));
    expect(counting.loads).toHaveLength(1);
  });

  describe('detects a damaged cached file, deletes it and fetches the object again', () => {
    const data = randomBytes(150_000); // three blocks
    const size = 150_000 + 3 * 32 + 48;
    it.each([
      ['a content byte, whole load', 70_000, undefined],
      ['a content byte in the block read', 140_000, { offset: 139_000, length: 2000 }],
      ['a block hash', 150_000 + 40, { offset: 70_000, length: 10 }],
      ['the footer length', size - 40, undefined],
      ['the footer hash', size - 1, { offset: 0, length: 10 }],
    ] as const)('%s', async (_label, at, range) => {
      await local.save('index/x', data);
      await cache.load('index/x', undefined, META);
      const file = await readFile(cached('index/x'));
      const original = file[at];
      file[at] = (file[at] ?? 0) ^ 0x01;
      await writeFile(cached('index/x'), file);

      const got = await cache.load('index/x', range, META);
      const want = range ? data.subarray(range.offset, range.offset + range.length) : data;
      expect(same(got, want)).toBe(true);
      expect(counting.loads).toHaveLength(2);
      expect(cache.discarded).toBe(1);
      // Cached again, intact: the damaged byte is back, and the next load is a hit.
      expect((await readFile(cached('index/x')))[at]).toBe(original);
      expect(same(await cache.load('index/x', undefined, META), data)).toBe(true);
      expect(counting.loads).toHaveLength(2);
    });

    it('a truncated file', async () => {
      await local.save('index/y', data);
      await cache.load('index/y', undefined, META);
      await truncate(cached('index/y'), 1000);
      expect(same(await cache.load('index/y', { offset: 10, length: 10 }, META), data.subarray(10, 20))).toBe(true);
      expect(counting.loads).toHaveLength(2);
      expect(cache.discarded).toBe(1);
    });

    it('a file replaced with other content of the same size', async () => {
      await local.save('index/z', data);
      await cache.load('index/z', undefined, META);
      await writeFile(cached('index/z'), randomBytes(size));
      expect(same(await cache.load('index/z', undefined, META), data)).toBe(true);
      expect(counting.loads).toHaveLength(2);
    });
  });

  it('removes from the store and the cache', async () => {
    await cache.save('snapshots/s', randomBytes(10), META);
    expect(existsSync(cached('snapshots/s'))).toBe(true);
    await cache.remove('snapshots/s');
    expect(existsSync(cached('snapshots/s'))).toBe(false);
    await expect(cache.load('snapshots/s', undefined, META)).rejects.toMatchObject({ code: ErrorCode.BACKEND_NOT_FOUND });
    await cache.remove('snapshots/s'); // gone already: still fine
  });

  it('never serves a cached copy of a name saved again', async () => {
    await cache.save('config', Buffer.from('one'), META);
    await cache.save('config', Buffer.from('two'), META);
    expect(Buffer.from(await cache.load('config', undefined, META)).toString()).toBe('two');
    await cache.save('config', Buffer.from('three')); // without the hint: drops the cached copy
    expect(existsSync(cached('config'))).toBe(false);
    expect(Buffer.from(await cache.load('config', undefined, META)).toString()).toBe('three');
  });

  describe('list', () => {
    async function listAll(prefix: string): Promise<string[]> {
      const out: string[] = [];
      for await (const o of cache.list(prefix)) out.push(o.name);
      return out;
    }

    beforeEach(async () => {
      for (const n of ['snapshots/a', 'snapshots/b', 'snapshots/d', 'index/c']) await cache.save(n, randomBytes(20), META);
      await local.remove('snapshots/b'); // removed by another host
    });

    it('passes the listing through and prunes cached files the store no longer lists', async () => {
      expect(await listAll('snapshots/')).toEqual(['snapshots/a', 'snapshots/d']);
      expect(existsSync(cached('snapshots/b'))).toBe(false);
      expect(existsSync(cached('snapshots/a'))).toBe(true);
      expect(existsSync(cached('snapshots/d'))).toBe(true);
      expect(existsSync(cached('index/c'))).toBe(true);
    });

    it('prunes nothing when the listing is not completed', async () => {
      for await (const o of cache.list('snapshots/')) {
        expect(o.name).toBe('snapshots/a');
        break;
      }
      expect(existsSync(cached('snapshots/b'))).toBe(true);

      const failing = new CacheBackend(
        Object.assign(Object.create(counting) as Backend, {
          list: async function* (): AsyncIterable<ObjectInfo> {
            yield { name: 'snapshots/a', size: 20 };
            throw new Error('broken listing');
          },
        }),
        cacheDir,
      );
      await expect(
        (async () => {
          for await (const o of failing.list('snapshots/')) void o;
        })(),
      ).rejects.toThrow('broken listing');
      expect(existsSync(cached('snapshots/b'))).toBe(true);
    });

    it('prunes under a prefix that is not a whole folder name, and under the empty prefix', async () => {
      await local.remove('snapshots/d');
      expect(await listAll('snapshots/d')).toEqual([]);
      expect(existsSync(cached('snapshots/d'))).toBe(false);
      expect(existsSync(cached('snapshots/b'))).toBe(true); // not under "snapshots/d"

      await local.remove('index/c');
      expect(await listAll('')).toEqual(['snapshots/a']);
      expect(existsSync(cached('snapshots/b'))).toBe(false);
      expect(existsSync(cached('index/c'))).toBe(false);
      expect(existsSync(cached('snapshots/a'))).toBe(true);
    });
  });

  it('degrades to pass-through, warning once, when the cache cannot be written', async () => {
    // A folder under a regular file cannot be created, even by root.
    await writeFile(join(dir, 'blocker'), 'x');
    const blockedDir = join(dir, 'blocker', 'cache');
    const b = new CacheBackend(counting, blockedDir, (m) => warnings.push(m));
    const data = randomBytes(2000);
    await b.save('snapshots/s', data, META);
    expect(same(await local.load('snapshots/s'), data)).toBe(true);
    expect(same(await b.load('snapshots/s', undefined, META), data)).toBe(true);
    expect(same(await b.load('snapshots/s', { offset: 5, length: 10 }, META), data.subarray(5, 15))).toBe(true);
    expect(same(await b.load('snapshots/s', undefined, META), data)).toBe(true);
    expect(counting.loads).toEqual([
      { name: 'snapshots/s', range: undefined },
      { name: 'snapshots/s', range: { offset: 5, length: 10 } },
      { name: 'snapshots/s', range: undefined },
    ]);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(blockedDir);
    expect(b.active).toBe(false);
    expect(b.hits).toBe(0);
    await b.remove('snapshots/s');
    await expect(local.stat('snapshots/s')).rejects.toMatchObject({ code: ErrorCode.BACKEND_NOT_FOUND });
  });

  it('degrades on the first load that cannot be cached too', async () => {
    await writeFile(join(dir, 'blocker'), 'x');
    const b = new CacheBackend(counting, join(dir, 'blocker', 'cache'), (m) => warnings.push(m));
    const data = randomBytes(100);
    await local.save('keys/k', data);
    expect(same(await b.load('keys/k', undefined, META), data)).toBe(true);
    expect(same(await b.load('keys/k', undefined, META), data)).toBe(true);
    expect(counting.loads).toHaveLength(2);
    expect(warnings).toHaveLength(1);
  });
});
