// The worker pool with real threads (the compiled workers in dist/): an error thrown in a worker
// reaches the caller as the typed error with its code, not as a plain Error turned InternalError.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { chosenImpls, loadPrimitives } from '../../native-bindings/index.js';
import { deriveGear } from '../chunker/gear.js';
import { deriveRepoKeys } from '../crypto/keys.js';
import { ErrorCode, FormatError, InternalError } from '../errors/engine-error.js';
import { PROTOCOL_VERSION, type WorkerInit } from '../../workers/protocol.js';
import { WorkerPool } from './pool.js';

const { primitives: p, report } = await loadPrimitives(process.env.ENGINE_NATIVE === 'off' ? 'fallback' : 'auto');
const keys = deriveRepoKeys(p.blake3, randomBytes(32));

function init(over: Partial<WorkerInit>): WorkerInit {
  return {
    protocol: PROTOCOL_VERSION,
    chosen: chosenImpls(report),
    keys: { xchacha: keys.xchacha, aes: keys.aes, blobId: keys.blobId },
    gear: deriveGear(p.blake3, keys.gear),
    chunker: { minSize: 256, avgSize: 1024, maxSize: 8192 },
    suite: 1,
    zstdLevel: 3,
    verifyAfterSeal: false,
    ...over,
  };
}

function oneChunk(): { segment: Uint8Array; ranges: Uint32Array; ids: Uint8Array } {
  return { segment: new Uint8Array(randomBytes(1000)), ranges: Uint32Array.of(0, 1000), ids: new Uint8Array(32) };
}

let pool: WorkerPool | undefined;
afterEach(async () => {
  await pool?.close();
  pool = undefined;
});

describe('WorkerPool errors', () => {
  it('a typed error thrown in a worker arrives as that class with its code', async () => {
    pool = new WorkerPool(init({ suite: 99 }), 1);
    const err = await pool.seal(oneChunk()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect(err).toMatchObject({ code: ErrorCode.FORMAT_UNSUPPORTED });
  });

  it('a bug in a worker still says which task failed', async () => {
    pool = new WorkerPool(init({ verifyAfterSeal: true }), 1);
    const err = await pool.seal(oneChunk()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InternalError);
    expect((err as Error).message).toMatch(/^worker task seal failed: sealed blob failed verification/);
  });

  it('a task that succeeds is counted', async () => {
    pool = new WorkerPool(init({}), 1);
    const c = oneChunk();
    c.ids.set(p.blake3.keyedHash(keys.blobId, c.segment));
    await pool.seal({ ...c });
    expect(pool.completed).toBe(1);
  });

  it('starts its threads only at the first task or start(), and closes cleanly when never started', async () => {
    const idle = new WorkerPool(init({}), 1);
    expect(idle.started).toBe(false);
    await idle.close();
    pool = new WorkerPool(init({}), 1);
    expect(pool.started).toBe(false);
    const c = oneChunk();
    c.ids.set(p.blake3.keyedHash(keys.blobId, c.segment));
    const sealed = pool.seal({ ...c });
    expect(pool.started).toBe(true);
    expect((await sealed).byteLength).toBeGreaterThan(1000);
  });

  it('sealInto writes into a region of shared memory and refuses one that is not shared', async () => {
    pool = new WorkerPool(init({}), 1);
    const c = oneChunk();
    c.ids.set(p.blake3.keyedHash(keys.blobId, c.segment));
    const region = new Uint8Array(new SharedArrayBuffer(4 + 4 + 1000 + 64));
    await pool.sealInto({ ...c }, region);
    const count = new DataView(region.buffer).getUint32(0, true);
    const length = new DataView(region.buffer).getUint32(4, true);
    expect(count).toBe(1);
    expect(length).toBeGreaterThan(1000);
    expect(region[8]).toBe(1); // the envelope's version byte, written by the worker in place
    await expect(pool.sealInto({ ...c }, new Uint8Array(2000))).rejects.toThrow(/shared memory/);
  });
});

/** A sealed layout's blobs as unseal inputs (count | lengths | blobs back to back). */
function unsealInputOf(sealed: ArrayBuffer, rawLength: number, id: Uint8Array): { packBytes: Uint8Array; blobs: { offset: number; length: number; rawLength: number; id: string }[] } {
  const view = new DataView(sealed);
  const length = view.getUint32(4, true);
  return { packBytes: new Uint8Array(sealed.slice(8, 8 + length)), blobs: [{ offset: 0, length, rawLength, id: Buffer.from(id).toString('hex') }] };
}

describe('a pool of no threads (tasks on the calling thread, for the smallest budgets)', () => {
  it('starts no thread, and its results read as a worker reads them and the other way round', async () => {
    const inline = new WorkerPool(init({}), 0);
    pool = new WorkerPool(init({}), 1);
    try {
      expect(inline.threads).toBe(0);
      expect(inline.started).toBe(false);
      const segment = new Uint8Array(new SharedArrayBuffer(40_000));
      segment.set(randomBytes(40_000));
      const spans = [{ start: 0, end: 40_000, final: true }];
      const here = await inline.chunkHash({ segment, spans });
      expect(inline.started).toBe(true);
      const there = await pool.chunkHash({ segment, spans });
      expect(here.spans.map((s) => [Array.from(s.ends), Buffer.from(s.ids).toString('hex')])).toEqual(there.spans.map((s) => [Array.from(s.ends), Buffer.from(s.ids).toString('hex')]));
      expect(here.spans[0]!.ends.length).toBeGreaterThan(3);

      // Sealed on this thread, opened by a worker; sealed by a worker, opened here.
      const c = oneChunk();
      c.ids.set(p.blake3.keyedHash(keys.blobId, c.segment));
      const plain = Buffer.from(c.segment);
      for (const [sealer, opener] of [
        [inline, pool],
        [pool, inline],
      ] as const) {
        const sealed = await sealer.seal({ segment: new Uint8Array(plain), ranges: c.ranges, ids: c.ids });
        const opened = new DataView(await opener.unseal(unsealInputOf(sealed, 1000, c.ids)));
        expect(opened.getUint32(0, true)).toBe(1);
        // count | (status, length) per blob | plaintexts
        expect(opened.getUint32(4, true)).toBe(0); // UnsealStatus.OK
        expect(opened.getUint32(8, true)).toBe(1000);
        expect(Buffer.from(opened.buffer, 12, 1000).equals(plain)).toBe(true);
      }
      expect(inline.completed).toBe(3);
    } finally {
      await inline.close();
    }
  });

  it('a failing task comes back as the same typed error as from a worker', async () => {
    const bad = new WorkerPool(init({ suite: 99 }), 0);
    const err = await bad.seal(oneChunk()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FormatError);
    expect(err).toMatchObject({ code: ErrorCode.FORMAT_UNSUPPORTED });
    const buggy = new WorkerPool(init({ verifyAfterSeal: true }), 0);
    const bug = await buggy.seal(oneChunk()).catch((e: unknown) => e);
    expect(bug).toBeInstanceOf(InternalError);
    expect((bug as Error).message).toMatch(/^worker task seal failed: sealed blob failed verification/);
    // The queue goes on after a failure.
    const c = oneChunk();
    c.ids.set(p.blake3.keyedHash(keys.blobId, c.segment));
    expect((await new WorkerPool(init({}), 0).seal(c)).byteLength).toBeGreaterThan(1000);
  });

  it('runs one task at a time and lets the event loop turn between two tasks (reads and uploads go on)', async () => {
    const inline = new WorkerPool(init({}), 0);
    const events: string[] = [];
    const tasks = Array.from({ length: 4 }, (_, i) => {
      const c = oneChunk();
      c.ids.set(p.blake3.keyedHash(keys.blobId, c.segment));
      return inline.seal(c).then(() => events.push(`task ${i}`));
    });
    // An I/O callback scheduled now runs before the later tasks, not after all of them.
    setImmediate(() => events.push('io'));
    await Promise.all(tasks);
    expect(events.filter((e) => e.startsWith('task'))).toEqual(['task 0', 'task 1', 'task 2', 'task 3']);
    expect(events.indexOf('io')).toBeLessThan(events.length - 1);
  });

  it('refuses a negative or fractional number of threads', () => {
    expect(() => new WorkerPool(init({}), -1)).toThrow(/whole number of threads/);
    expect(() => new WorkerPool(init({}), 1.5)).toThrow(/whole number of threads/);
  });
});
