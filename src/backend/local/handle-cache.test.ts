// The local backend's open files for ranged reads (handle-cache.ts): a read after the object is
// saved again sees the new bytes, a removed object is gone, reads racing with eviction all get
// their bytes, and no file stays open once reads stop.
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isNotFound } from '../errors.js';
import { HandleCache } from './handle-cache.js';
import { LocalBackend } from './local-backend.js';

const openFds = async (): Promise<number> => (await readdir('/proc/self/fd')).length;

describe('HandleCache', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'engine-handles-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads what an object holds after it is saved again, and nothing once it is removed', async () => {
    const b = new LocalBackend(join(dir, 'repo'));
    await b.createRoot();
    await b.save('data/ab/x', Buffer.from('first version'));
    expect(Buffer.from(await b.load('data/ab/x', { offset: 0, length: 5 })).toString()).toBe('first');
    await b.save('data/ab/x', Buffer.from('other content'));
    expect(Buffer.from(await b.load('data/ab/x', { offset: 0, length: 5 })).toString()).toBe('other');
    await b.remove('data/ab/x');
    const err = await b.load('data/ab/x', { offset: 0, length: 5 }).catch((e: unknown) => e);
    expect(isNotFound(err)).toBe(true);
    await b.close();
  });

  it('serves reads racing with eviction, each with its own bytes, and closes every file at the end', async () => {
    const before = await openFds();
    const cache = new HandleCache(2);
    const files = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const p = join(dir, `f${i}`);
        await writeFile(p, Buffer.alloc(4096, i));
        return p;
      }),
    );
    const reads = Array.from({ length: 200 }, async (_, k) => {
      const i = (k * 7) % files.length;
      const got = await cache.read(files[i]!, async (fh) => {
        const buf = Buffer.alloc(16);
        await fh.read(buf, 0, 16, k % 4000);
        return buf;
      });
      expect(got.every((v) => v === i)).toBe(true);
    });
    await Promise.all(reads);
    // Evicted handles close through the thread pool: give them a moment before counting.
    for (let t = 0; t < 100 && (await openFds()) > before + 2; t++) await new Promise((r) => setTimeout(r, 20));
    expect(await openFds()).toBeLessThanOrEqual(before + 2);
    await cache.closeAll();
    // Closing goes through the thread pool: give it a moment.
    for (let t = 0; t < 50 && (await openFds()) > before; t++) await new Promise((r) => setTimeout(r, 10));
    expect(await openFds()).toBe(before);
  });

  it('closes a file left idle, without being told', async () => {
    const before = await openFds();
    const cache = new HandleCache(8);
    const p = join(dir, 'idle');
    await writeFile(p, 'x');
    await cache.read(p, async (fh) => fh.stat());
    expect(await openFds()).toBe(before + 1);
    // Closed after a second or two idle; a loaded machine may run the sweep late.
    for (let t = 0; t < 150 && (await openFds()) > before; t++) await new Promise((r) => setTimeout(r, 100));
    expect(await openFds()).toBe(before);
  }, 30_000);

  it('does not keep a file that failed to open', async () => {
    const cache = new HandleCache(2);
    const missing = join(dir, 'missing');
    await expect(cache.read(missing, async () => 1)).rejects.toMatchObject({ code: 'ENOENT' });
    await writeFile(missing, 'now here');
    expect(await cache.read(missing, async (fh) => (await fh.stat()).size)).toBe(8);
    await cache.closeAll();
  });
});
