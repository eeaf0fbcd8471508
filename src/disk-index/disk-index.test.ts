// The off-heap index against the in-memory one on the same repository: every entry found with the
// same location, absent ids and packs answered "no", through cold builds (with sort runs spilled
// to disk), incremental updates, merges of runs, removed index objects, and damage to any part of
// the cache files, which must never give a wrong answer: a damaged cache is rebuilt or refused.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRepository } from '../../test/support/test-repository.js';
import { MemoryBackend } from '../backend/memory/memory-backend.js';
import { ErrorCode, isEngineError } from '../errors/engine-error.js';
import { type BlobId, BlobType, type IndexId, type PackId } from '../format/ids.js';
import { type IndexFile, type IndexPack } from '../format/index-file.js';
import { indexName } from '../repository/layout.js';
import { Repository } from '../repository/repository.js';
import { DiskIndex, type DiskIndexOptions } from './disk-index.js';
import { PAGE_BYTES } from './page-file.js';

const hex = (n: number): string => randomBytes(n).toString('hex');

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'engine-diskindex-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function freshRepo(backend = new MemoryBackend('idx')): Promise<Repository> {
  return (await testRepository({ backend })).repo;
}

/** An index object of `packs` packs of up to `perPack` random blobs; `reuse` ids are added again in another pack. */
function randomIndex(packs: number, perPack: number, reuse: BlobId[] = []): IndexFile {
  const out: IndexPack[] = [];
  for (let i = 0; i < packs; i++) {
    const blobs = Array.from({ length: 1 + Math.floor(Math.random() * perPack) }, () => ({
      type: Math.random() < 0.1 ? BlobType.TREE : BlobType.DATA,
      id: hex(32) as BlobId,
      offset: Math.floor(Math.random() * 2 ** 31),
      length: 1 + Math.floor(Math.random() * 2 ** 24),
      rawLength: Math.floor(Math.random() * 2 ** 32),
    }));
    out.push({ packId: hex(32) as PackId, blobs });
  }
  if (reuse.length > 0) out.push({ packId: hex(32) as PackId, blobs: reuse.map((id) => ({ type: BlobType.DATA, id, offset: 1, length: 2, rawLength: 3 })) });
  return { supersedes: [], packs: out };
}

async function store(repo: Repository, file: IndexFile): Promise<IndexId> {
  return repo.saveIndexObject(file);
}

function options(dir: string, over: Partial<DiskIndexOptions> = {}): DiskIndexOptions {
  // A tiny sort memory so that builds spill sorted runs to disk and merge them.
  return { dir, pageCacheBytes: 16 * PAGE_BYTES, sortMemBytes: 64 * 1024, readsInFlight: 3, readBytes: 1 << 20, ...over };
}

/** Every blob and pack of the in-memory index is found with the same answer; random others are not. */
async function expectSameAsMemory(repo: Repository, idx: DiskIndex): Promise<number> {
  const mem = await repo.loadIndex();
  let n = 0;
  for (const id of await repo.listIndexIds()) {
    const { decodeIndex } = await import('../format/index-file.js');
    const file = decodeIndex(await repo.loadUnpacked(indexName(id)), id);
    for (const pk of file.packs) {
      expect(idx.hasPack(pk.packId)).toBe(true);
      for (const b of pk.blobs) {
        expect(idx.has(b.id)).toBe(true);
        expect(idx.lookup(b.id)).toEqual(mem.lookup(b.id));
        n++;
      }
    }
  }
  for (let i = 0; i < 500; i++) {
    const id = hex(32);
    expect(idx.has(id as BlobId)).toBe(false);
    expect(idx.lookup(id as BlobId)).toBeUndefined();
    expect(idx.hasPack(id as PackId)).toBe(false);
  }
  return n;
}

describe('DiskIndex', () => {
  it('answers as the in-memory index through cold, warm and incremental opens, with runs merged', async () => {
    const repo = await freshRepo();
    const dir = join(work, 'a');
    const first = randomIndex(200, 60);
    await store(repo, first);
    // The same blobs again in another object: the entry of the first object listed is kept.
    await store(repo, randomIndex(50, 40, first.packs[0]!.blobs.map((b) => b.id)));
    const cold = await DiskIndex.open(repo, options(dir));
    expect(cold.stats).toMatchObject({ kind: 'cold', indexObjectsRead: 2, runs: 1 });
    expect(await expectSameAsMemory(repo, cold)).toBeGreaterThan(5000);
    cold.close();

    const warm = await DiskIndex.open(repo, options(dir));
    expect(warm.stats).toMatchObject({ kind: 'warm', indexObjectsRead: 0 });
    warm.close();

    // Many small additions: each open takes the new objects in; runs are merged as they grow.
    for (let round = 0; round < 12; round++) {
      await store(repo, randomIndex(1 + round * 3, 30));
      const inc = await DiskIndex.open(repo, options(dir));
      expect(inc.stats).toMatchObject({ kind: 'incremental', indexObjectsRead: 1 });
      expect(inc.stats.runs).toBeLessThanOrEqual(6);
      inc.close();
    }
    const last = await DiskIndex.open(repo, options(dir));
    expect(last.stats.kind).toBe('warm');
    await expectSameAsMemory(repo, last);
    last.close();
    const files = (await readdir(dir)).filter((f) => f.endsWith('.eic'));
    expect(files.length).toBe(last.stats.runs);
  });

  it('rebuilds when an index object is gone, and adds entries written by this process', async () => {
    const repo = await freshRepo();
    const dir = join(work, 'b');
    const a = await store(repo, randomIndex(20, 20));
    await store(repo, randomIndex(20, 20));
    (await DiskIndex.open(repo, options(dir))).close();
    await repo.removeIndexObject(a);
    const again = await DiskIndex.open(repo, options(dir));
    expect(again.stats).toMatchObject({ kind: 'cold', indexObjectsRead: 1 });
    await expectSameAsMemory(repo, again);
    const mine = randomIndex(2, 5);
    again.add(null, mine);
    const b = mine.packs[1]!.blobs[0]!;
    expect(again.lookup(b.id)).toEqual({ packId: mine.packs[1]!.packId, type: b.type, offset: b.offset, length: b.length, rawLength: b.rawLength });
    expect(again.hasPack(mine.packs[0]!.packId)).toBe(true);
    again.close();
  });

  it('an empty repository opens, and a cache from another repository is not used', async () => {
    const repo = await freshRepo();
    const dir = join(work, 'c');
    const empty = await DiskIndex.open(repo, options(dir));
    expect(empty.blobCount).toBe(0);
    expect(empty.has(hex(32) as BlobId)).toBe(false);
    empty.close();
    await store(repo, randomIndex(5, 5));
    (await DiskIndex.open(repo, options(dir))).close();
    const other = await freshRepo();
    await store(other, randomIndex(5, 5));
    const o = await DiskIndex.open(other, options(dir));
    expect(o.stats.kind).toBe('cold');
    await expectSameAsMemory(other, o);
    o.close();
  });

  it('damage anywhere in a cache file never gives a wrong answer: the cache is rebuilt or the lookup refused', async () => {
    const repo = await freshRepo();
    const dir = join(work, 'd');
    await store(repo, randomIndex(300, 40));
    (await DiskIndex.open(repo, options(dir))).close();
    let pagesSeen = 0;
    for (let trial = 0; trial < 40; trial++) {
      // The current cache file: after a damage is found, the rebuilt one (same entries, new file id).
      const [run] = (await readdir(dir)).filter((f) => f.endsWith('.eic'));
      const path = join(dir, run!);
      const bad = await readFile(path);
      const pages = bad.length / PAGE_BYTES;
      pagesSeen = Math.max(pagesSeen, pages);
      // One flip in every page first (header, packs, blobs, fences, filter, ids), then anywhere.
      const pos = trial < pages ? trial * PAGE_BYTES + Math.floor(Math.random() * PAGE_BYTES) : Math.floor(Math.random() * bad.length);
      bad[pos]! ^= 1 << Math.floor(Math.random() * 8);
      await writeFile(path, bad);
      const idx = await DiskIndex.open(repo, options(dir));
      try {
        if (idx.stats.kind === 'cold') {
          // Damage in the header, fences, filter or index ids: found when opening, and rebuilt.
          await expectSameAsMemory(repo, idx);
          continue;
        }
        // Damage in a blob or pack page: found when that page is read (every page is read here).
        expect(idx.stats.kind).toBe('warm');
        let refused = 0;
        try {
          await expectSameAsMemory(repo, idx);
        } catch (err) {
          expect(isEngineError(err, ErrorCode.CACHE), String(err)).toBe(true);
          refused++;
        }
        expect(refused, `a flip at ${pos} of ${pages} pages went unnoticed`).toBe(1);
      } finally {
        idx.close();
      }
      // The cache was set aside: the next open rebuilds it.
      const next = await DiskIndex.open(repo, options(dir));
      expect(next.stats.kind).toBe('cold');
      await expectSameAsMemory(repo, next);
      next.close();
    }
    expect(pagesSeen).toBeGreaterThan(8);
  });
});

describe('supersedes and every location (issue 12, point 5)', () => {
  /** A blob in a pack, as an index entry. */
  const entry = (id: BlobId, offset: number) => ({ type: BlobType.DATA, id, offset, length: 10, rawLength: 9 });

  it('an object another supersedes counts for nothing, in either listing order, cold, incremental and warm; lookupAll gives every location', async () => {
    const backend = new MemoryBackend('idx');
    const repo = await freshRepo(backend);
    const dir = join(work, `supersedes-${hex(4)}`);
    const shared = hex(32) as BlobId;
    const onlyOld = hex(32) as BlobId;
    const gonePack = hex(32) as PackId;
    const keptPack = hex(32) as PackId;
    const newPack = hex(32) as PackId;
    // Before a prune: blobs in a pack prune deletes, and the shared one also in a pack that stays.
    const old = await store(repo, { supersedes: [], packs: [{ packId: gonePack, blobs: [entry(shared, 0), entry(onlyOld, 10)] }, { packId: keptPack, blobs: [entry(shared, 50)] }] });
    const idx1 = await DiskIndex.open(repo, options(dir));
    expect(idx1.lookupAll(shared).map((l) => l.packId).sort()).toEqual([gonePack, keptPack].sort());
    expect(idx1.lookup(onlyOld)?.packId).toBe(gonePack);
    idx1.close();

    // The prune's object arrives while the old one is still listed (a kill before its delete):
    // the incremental open sees an older run holding superseded entries and rebuilds.
    const pruned = await store(repo, { supersedes: [old], packs: [{ packId: keptPack, blobs: [entry(shared, 50)] }, { packId: newPack, blobs: [entry(shared, 70)] }] });
    for (let round = 0; round < 2; round++) {
      const idx = await DiskIndex.open(repo, options(dir));
      expect(idx.stats.kind).toBe(round === 0 ? 'cold' : 'warm');
      expect(idx.lookupAll(shared).map((l) => l.packId).sort()).toEqual([keptPack, newPack].sort());
      expect(idx.has(onlyOld)).toBe(false);
      expect(idx.hasPack(gonePack)).toBe(false);
      idx.close();
    }
    const mem = await repo.loadIndex();
    expect(mem.lookupAll(shared).map((l) => l.packId).sort()).toEqual([keptPack, newPack].sort());
    expect(mem.has(onlyOld)).toBe(false);
    expect(mem.hasPack(gonePack)).toBe(false);
    expect(mem.isSuperseded(old)).toBe(true);

    // Cold, from nothing: the same answers whatever the order the two are listed in.
    const cold = await DiskIndex.open(repo, options(join(work, `supersedes-cold-${hex(4)}`)));
    expect(cold.stats.kind).toBe('cold');
    expect(cold.has(onlyOld)).toBe(false);
    expect(cold.lookupAll(shared)).toHaveLength(2);
    cold.close();

    // The prune deletes the old object; an rsync brings it back: skipped without a rebuild.
    const oldBytes = await backend.load(indexName(old));
    await backend.remove(indexName(old));
    (await DiskIndex.open(repo, options(dir))).close();
    await backend.save(indexName(old), oldBytes);
    const back = await DiskIndex.open(repo, options(dir));
    expect(back.stats.kind).toBe('incremental');
    expect(back.has(onlyOld)).toBe(false);
    expect(back.lookupAll(shared).map((l) => l.packId).sort()).toEqual([keptPack, newPack].sort());
    back.close();
    const warm = await DiskIndex.open(repo, options(dir));
    expect(warm.stats.kind).toBe('warm');
    expect(warm.has(onlyOld)).toBe(false);
    warm.close();
    expect(pruned).toBeTruthy();
  });

  it('MasterIndex: a superseding object added after the one it supersedes takes the old entries out', () => {
    return (async () => {
      const { MasterIndex } = await import('../repository/master-index.js');
      const mi = new MasterIndex();
      const a = hex(32) as BlobId;
      const b = hex(32) as BlobId;
      const p1 = hex(32) as PackId;
      const p2 = hex(32) as PackId;
      const oldId = hex(32) as IndexId;
      mi.add(oldId, { supersedes: [], packs: [{ packId: p1, blobs: [entry(a, 0), entry(b, 10)] }] });
      expect(mi.lookup(a)?.packId).toBe(p1);
      mi.add(hex(32) as IndexId, { supersedes: [oldId], packs: [{ packId: p2, blobs: [entry(a, 0)] }] });
      expect(mi.lookupAll(a).map((l) => l.packId)).toEqual([p2]);
      expect(mi.has(b)).toBe(false);
      expect(mi.hasPack(p1)).toBe(false);
      // Added again later (copied back): still ignored.
      mi.add(oldId, { supersedes: [], packs: [{ packId: p1, blobs: [entry(a, 0), entry(b, 10)] }] });
      expect(mi.has(b)).toBe(false);
      expect([...mi.indexIds]).not.toContain(oldId);
    })();
  });
});
