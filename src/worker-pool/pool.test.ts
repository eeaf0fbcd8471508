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
