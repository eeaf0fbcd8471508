// The restorer with the real classes on a memory repository: planning and reading overlap, and a
// small budget makes planning wait for restored files again and again. Run `npm run build` first
// (the worker pool runs the compiled workers).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPrimitives } from '../../native-bindings/index.js';
import type { Argon2Params, PrimitiveName } from '../../native-bindings/types.js';
import { backupWithRealClasses } from '../../test/support/library-backup.js';
import { compareTrees, makeTree } from '../../test/support/tree.js';
import { MemoryBackend } from '../backend/memory/memory-backend.js';
import type { ByteRange, ObjectOptions } from '../backend/types.js';
import { planMemory } from '../session/memory-plan.js';
import type { OpenSession } from '../session/open-session.js';
import { startPool } from '../session/worker-pool.js';
import type { BlobId } from '../format/ids.js';
import { Repository } from '../repository/repository.js';
import { nonZeroRanges } from '../fs/sparse.js';
import { Restorer, wholeData, type RestoreOptions } from './restorer.js';
import { IndexedRepository } from '../repository/indexed-repository.js';

const PASSWORD = new TextEncoder().encode('restorer test');
const KDF: Argon2Params = { t: 1, mKiB: 8 * 1024, p: 1 };

/** A memory store that can be told to fail every read of a data pack (not of a tree pack). */
class BreakableStore extends MemoryBackend {
  private readonly treePacks = new Set<string>();
  broken = false;
  dataLoads = 0;

  override async save(name: string, data: Uint8Array, opts?: ObjectOptions): Promise<void> {
    if (opts?.metadata === true) this.treePacks.add(name);
    await super.save(name, data, opts);
  }

  override async load(name: string, range?: ByteRange, opts?: ObjectOptions): Promise<Uint8Array> {
    if (name.startsWith('data/') && !this.treePacks.has(name)) {
      this.dataLoads++;
      if (this.broken) throw new Error('the storage went away');
    }
    return super.load(name, range, opts);
  }
}

describe('restorer', () => {
  let work: string;
  let store: BreakableStore;
  let session: OpenSession;
  let root: BlobId;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'engine-restorer-'));
    await makeTree(join(work, 'src'), { seed: 41, smallFiles: 600, scale: 0.15 });
    const policy = process.env.ENGINE_NATIVE === 'off' ? 'fallback' : 'auto';
    const { primitives, report } = await loadPrimitives(policy);
    const chosen = Object.fromEntries(report.map((r) => [r.primitive, r.chosen])) as Record<PrimitiveName, string>;
    store = new BreakableStore('restorer-test');
    const repo = await Repository.init(store, primitives, PASSWORD, { kdf: KDF });
    session = { repo, remote: false, chosen, fallback: policy === 'fallback', indexCacheDir: null };
    const plan = planMemory(session, 256 * 1024 * 1024);
    const pool = startPool(session, plan.workers, true);
    try {
      root = (await repo.loadSnapshot(await backupWithRealClasses(session, pool, plan, [join(work, 'src')]))).tree;
    } finally {
      await pool.close();
    }
  }, 120_000);

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  async function restore(target: string, limits: Pick<RestoreOptions, 'readBudgetBytes' | 'minRangeBudgetBytes' | 'dirHandles'>): Promise<Restorer> {
    const { repo } = session;
    const index = await repo.loadIndex();
    const tree = await repo.loadTree(index, root);
    const pool = startPool(session, 2, false);
    const restorer = new Restorer(new IndexedRepository(repo, index), pool, {
      include: [],
      ...limits,
      readsInFlight: 4,
      rangesPerBudget: 4,
      maxRangeBytes: 4 * 1024 * 1024,
      restoreOwnership: false,
      onProblem: (pr) => {
        throw new Error(`${pr.path}: ${pr.message}`);
      },
    });
    try {
      await restorer.run(tree, target);
    } finally {
      await pool.close();
    }
    return restorer;
  }

  it('restores identical when planning may run only a few files ahead of the restored ones', async () => {
    const target = join(work, 'small-budget');
    // A 64 KiB budget leaves the plan 16 KiB: about 15 files ahead of those restored.
    const r = await restore(target, { readBudgetBytes: 64 * 1024, minRangeBudgetBytes: 1024 * 1024 });
    // The snapshot holds the source under its absolute path: it is restored at TARGET/<that path>.
    expect(await compareTrees(join(work, 'src'), join(target, work, 'src'))).toEqual([]);
    expect(r.counters.files).toBeGreaterThan(600);
    expect(r.planWaits).toBeGreaterThan(10);
    expect(r.batchesRead).toBeGreaterThan(10);
  }, 120_000);

  it('restores identical with a roomy budget, the plan handed over in a few growing batches', async () => {
    const target = join(work, 'roomy');
    const r = await restore(target, { readBudgetBytes: 256 * 1024 * 1024, minRangeBudgetBytes: 8 * 1024 * 1024 });
    expect(await compareTrees(join(work, 'src'), join(target, work, 'src'))).toEqual([]);
    expect(r.planWaits).toBe(0);
    expect(r.batchesRead).toBeGreaterThan(1);
    expect(r.batchesRead).toBeLessThan(20);
  }, 120_000);

  it('restores identical with two folder handles open, through /proc and through the lstat fallback', async () => {
    // Files arrive out of order: their folders, long evicted, are opened again from the target.
    for (const procFd of [true, false]) {
      const target = join(work, `few-handles-${procFd}`);
      const r = await restore(target, { readBudgetBytes: 256 * 1024 * 1024, minRangeBudgetBytes: 8 * 1024 * 1024, dirHandles: { maxOpen: 2, procFd } });
      expect(await compareTrees(join(work, 'src'), join(target, work, 'src'))).toEqual([]);
      expect(r.counters.notRestored).toEqual([]);
    }
  }, 120_000);

  it('a storage failure while planning waits for room ends the restore with that failure, not a hang', async () => {
    store.broken = true;
    try {
      const before = store.dataLoads;
      await expect(restore(join(work, 'broken'), { readBudgetBytes: 64 * 1024, minRangeBudgetBytes: 1024 * 1024 })).rejects.toThrow('the storage went away');
      expect(store.dataLoads).toBeGreaterThan(before);
    } finally {
      store.broken = false;
    }
  }, 60_000);
});

describe('which parts of a blob are written (holes at the block size)', () => {
  const bs = 4096;
  /** What the restorer writes: the whole blob when no block can be zero, else nonZeroRanges. */
  const parts = (buf: Uint8Array, position: number) => (wholeData(buf, position, bs) ? [{ offset: position, length: buf.length }] : nonZeroRanges(buf, position, bs));

  it('agrees with nonZeroRanges for data, zeros, zero blocks at any alignment, and blocks whose sampled bytes are zero', () => {
    const data = Buffer.alloc(64 * 1024, 7);
    const oneZeroBlock = Buffer.from(data);
    oneZeroBlock.fill(0, 3 * bs, 4 * bs);
    // Zero at the three sampled bytes of each block, data elsewhere: no hole, but a full compare.
    const sampledZero = Buffer.from(data);
    for (let i = 0; i < sampledZero.length; i += bs) sampledZero[i] = sampledZero[i + bs / 2] = sampledZero[i + bs - 1] = 0;
    for (const buf of [data, Buffer.alloc(64 * 1024), oneZeroBlock, sampledZero, Buffer.alloc(100, 1), Buffer.alloc(0)]) {
      for (const position of [0, 1, bs - 1, 5 * bs + 123]) {
        const want = nonZeroRanges(buf, position, bs);
        const got = parts(buf, position).filter((r) => r.length > 0);
        expect(got, `${buf.length} bytes at ${position}`).toEqual(want);
      }
    }
    expect(wholeData(data, 0, bs)).toBe(true);
    expect(wholeData(oneZeroBlock, 0, bs)).toBe(false);
  });
});
