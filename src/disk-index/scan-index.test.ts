// The private scan of the index that check, prune and repair use, against the in-memory
// MasterIndex of the same repository: the same entries (the kept copy first, superseded objects
// left out), positions that number each blob's kept entry once, packs numbered once each, entries
// regrouped by pack exactly, through sorts small enough to spill to disk; a damaged index object
// is told, not half added; a killed process's scratch folder is removed by the next one.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRepository } from '../../test/support/test-repository.js';
import { MemoryBackend } from '../backend/memory/memory-backend.js';
import { type BlobId, BlobType, type IndexId, type PackId } from '../format/ids.js';
import type { IndexFile, IndexPack } from '../format/index-file.js';
import { indexName } from '../repository/layout.js';
import { MasterIndex } from '../repository/master-index.js';
import type { Repository } from '../repository/repository.js';
import { BitSet } from '../util/bitset.js';
import { DiskIndex } from './disk-index.js';
import { PackGrouper } from './pack-groups.js';
import { RefJoin } from './ref-join.js';
import { NO_PACK, PackTable } from './pack-table.js';
import { ScanIndex, scratchFolder } from './scan-index.js';

const hex = (n: number): string => randomBytes(n).toString('hex');

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'engine-scanindex-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function randomPacks(packs: number, perPack: number): IndexPack[] {
  return Array.from({ length: packs }, () => ({
    packId: hex(32) as PackId,
    blobs: Array.from({ length: 1 + Math.floor(Math.random() * perPack) }, (_, k) => ({
      type: Math.random() < 0.1 ? BlobType.TREE : BlobType.DATA,
      id: hex(32) as BlobId,
      offset: k * 1000,
      length: 1 + Math.floor(Math.random() * 999),
      rawLength: Math.floor(Math.random() * 2 ** 32),
    })),
  }));
}

/** A tiny sort memory: builds and regroupings spill sorted runs to disk and merge them. */
const small = (tmp: string) => ({ tmpDir: tmp, sortMemBytes: 64 * 1024, pageCacheBytes: 64 * 1024, readsInFlight: 3, readBytes: 1 << 20 });

describe('ScanIndex', () => {
  let repo: Repository;
  const files: { id: IndexId; file: IndexFile }[] = [];

  beforeAll(async () => {
    repo = (await testRepository({ backend: new MemoryBackend('scan') })).repo;
    // Three objects; the third lists again some blobs of the first (in another pack), and a pack
    // of the first again (as an interrupted prune leaves); a fourth is superseded by a fifth.
    const a = { supersedes: [], packs: randomPacks(40, 60) };
    const b = { supersedes: [], packs: randomPacks(40, 60) };
    const again: IndexPack = { packId: hex(32) as PackId, blobs: a.packs[0]!.blobs.slice(0, 5).map((x, k) => ({ ...x, offset: 7000 + k })) };
    const c = { supersedes: [], packs: [again, a.packs[1]!, ...randomPacks(10, 30)] };
    for (const f of [a, b, c]) files.push({ id: await repo.saveIndexObject(f), file: f });
    const old = { supersedes: [], packs: randomPacks(5, 20) };
    const oldId = await repo.saveIndexObject(old);
    const newer = { supersedes: [oldId], packs: randomPacks(3, 10) };
    files.push({ id: oldId, file: old }, { id: await repo.saveIndexObject(newer), file: newer });
  });

  it('holds what the in-memory index holds: every entry, the kept copy first; positions number each blob once', async () => {
    const mem = await repo.loadIndex();
    const scan = await ScanIndex.build(repo, small(work));
    try {
      expect(scan.supersededIds).toEqual([files[3]!.id]);
      const seen = new BitSet(scan.positions);
      let blobs = 0;
      for (const { id, file } of files) {
        for (const p of file.packs) {
          for (const b of p.blobs) {
            if (mem.isSuperseded(id)) {
              expect(scan.has(b.id)).toBe(false);
              expect(scan.positionOf(b.id)).toBe(-1);
              continue;
            }
            expect(scan.lookup(b.id)).toEqual(mem.lookup(b.id));
            expect(scan.lookupAll(b.id)).toEqual(mem.lookupAll(b.id));
            const at = scan.positionOf(b.id);
            expect(at).toBeGreaterThanOrEqual(0);
            if (seen.addNew(at)) blobs++;
          }
        }
      }
      expect(blobs).toBe(mem.blobCount);
      expect(scan.positionOf(hex(32) as BlobId)).toBe(-1);
      // records(): in id order, each blob's first record at its position.
      let prev = '';
      let firsts = 0;
      for (const r of scan.records()) {
        const id = r.buf.toString('hex', r.at, r.at + 32);
        expect(id >= prev).toBe(true);
        if (id !== prev) {
          expect(scan.positionOf(id as BlobId)).toBe(r.position);
          firsts++;
        }
        prev = id;
      }
      expect(firsts).toBe(mem.blobCount);
    } finally {
      scan.close();
    }
  });

  it('numbers each pack once; packs only a superseded object names have no number', async () => {
    const mem = await repo.loadIndex();
    const scan = await ScanIndex.build(repo, small(work));
    try {
      const table = new PackTable(scan);
      const { canonical } = table;
      expect(new Set([...table.numbers].map((no) => scan.packIdOf(no)))).toEqual(new Set(mem.packIds()));
      expect(table.count).toBe(mem.packCount);
      for (let no = 0; no < scan.packCount; no++) {
        const id = scan.packIdOf(no);
        if (canonical[no] === NO_PACK) {
          expect(mem.hasPack(id)).toBe(false);
          expect(table.numberOf(id)).toBe(-1);
        } else {
          expect(scan.packIdOf(canonical[no]!)).toBe(id);
          expect(table.numberOf(id)).toBe(canonical[no]);
        }
      }
      // An id sharing the first 8 bytes of a pack's is not taken for it.
      const some = scan.packIdOf(table.numbers[0]!);
      expect(table.numberOf(`${some.slice(0, 16)}${hex(24)}` as PackId)).toBe(-1);
      expect(table.numberOf(hex(32) as PackId)).toBe(-1);
    } finally {
      scan.close();
    }
  });

  it('regroups entries by pack, by offset, each once, through a sort that spills', async () => {
    const scan = await ScanIndex.build(repo, small(work));
    const grouper = new PackGrouper({ tmpDir: scan.folder, memBytes: 16 * 1024 });
    try {
      const { canonical } = new PackTable(scan);
      // Every record twice: the copies must come back once.
      for (let round = 0; round < 2; round++) for (const r of scan.records()) grouper.add(canonical[r.packNo]!, r.buf, r.at, r);
      expect((await readdir(scan.folder)).some((n) => n.includes('-run-'))).toBe(true);
      const want = new Map<string, Set<string>>();
      const mem = new MasterIndex();
      for (const { id, file } of files) mem.add(id, file);
      for (const { id, file } of files) {
        if (mem.isSuperseded(id)) continue;
        for (const p of file.packs) {
          const set = want.get(p.packId) ?? new Set<string>();
          for (const b of p.blobs) set.add(`${b.id}@${b.offset}/${b.length}/${b.rawLength}/${b.type}`);
          want.set(p.packId, set);
        }
      }
      const got = new Map<string, string[]>();
      for (const g of grouper.groups()) {
        const packId = scan.packIdOf(g.packNo);
        expect(got.has(packId), `pack ${packId} in one group`).toBe(false);
        const offsets = g.blobs.map((b) => b.offset);
        expect(offsets).toEqual([...offsets].sort((x, y) => x - y));
        got.set(packId, g.blobs.map((b) => `${b.id}@${b.offset}/${b.length}/${b.rawLength}/${b.type}`));
      }
      expect(new Set(got.keys())).toEqual(new Set(want.keys()));
      for (const [packId, list] of got) {
        expect(list.length).toBe(new Set(list).size);
        expect(new Set(list)).toEqual(want.get(packId));
      }
    } finally {
      grouper.discard();
      scan.close();
    }
  });

  it('joins referenced ids with the index in one pass: each distinct id once, with its kept entry, or none', async () => {
    const mem = await repo.loadIndex();
    const scan = await ScanIndex.build(repo, small(work));
    const join = new RefJoin({ tmpDir: scan.folder, memBytes: 16 * 1024, tag: 'refs' });
    try {
      const present = files.filter(({ id }) => !mem.isSuperseded(id)).flatMap(({ file }) => file.packs.flatMap((p) => p.blobs.map((b) => b.id)));
      const absent = Array.from({ length: 300 }, () => hex(32) as BlobId);
      // Every id three times, in no order, and the blobs of the superseded object (not indexed).
      const refs = [...present, ...present, ...absent, ...present, ...files[3]!.file.packs.flatMap((p) => p.blobs.map((b) => b.id))];
      refs.sort(() => Math.random() - 0.5);
      for (const id of refs) join.add(id);
      expect((await readdir(scan.folder)).some((n) => n.startsWith('refs-run-'))).toBe(true);
      const distinct = new Set(refs);
      let n = 0;
      let prev = '';
      for (const r of join.join([scan.records()])) {
        const id = r.buf.toString('hex', r.at, r.at + 32) as BlobId;
        expect(id > prev).toBe(true);
        prev = id;
        n++;
        const loc = mem.lookup(id);
        if (!loc) {
          expect(r.record).toBeNull();
          continue;
        }
        expect(r.record).not.toBeNull();
        expect(r.record!.position).toBe(scan.positionOf(id));
        expect({ packId: scan.packIdOf(r.record!.packNo), type: r.record!.type, offset: r.record!.offset, length: r.record!.length, rawLength: r.record!.rawLength }).toEqual(loc);
      }
      expect(n).toBe(distinct.size);
    } finally {
      join.discard();
      scan.close();
    }
  });

  it("joins ids with the shared cache's runs too: the kept entry is the first run's, as lookups give", async () => {
    const { repo: r } = await testRepository({ backend: new MemoryBackend('join-runs') });
    const big = { supersedes: [], packs: randomPacks(60, 60) };
    await r.saveIndexObject(big);
    const dir = join(work, 'cache-join');
    const opts = { dir, pageCacheBytes: 64 * 1024, sortMemBytes: 64 * 1024, readsInFlight: 2, readBytes: 1 << 20 };
    (await DiskIndex.open(r, opts)).close();
    // A small second object, some of its blobs already in the first: a second run (not merged).
    const again = big.packs[3]!.blobs.slice(0, 4).map((b, k) => ({ ...b, offset: 9000 + k }));
    const small2 = { supersedes: [], packs: [...randomPacks(2, 10), { packId: hex(32) as PackId, blobs: again }] };
    await r.saveIndexObject(small2);
    const index = await DiskIndex.open(r, opts);
    const join2 = new RefJoin({ tmpDir: work, memBytes: 16 * 1024, tag: 'refs-runs' });
    try {
      expect(index.stats.runs).toBe(2);
      const ids = [...big.packs, ...small2.packs].flatMap((p) => p.blobs.map((b) => b.id));
      const absent = Array.from({ length: 50 }, () => hex(32) as BlobId);
      for (const id of [...ids, ...absent, ...ids]) join2.add(id);
      let n = 0;
      for (const ref of join2.join(index.recordStreams())) {
        n++;
        const id = ref.buf.toString('hex', ref.at, ref.at + 32) as BlobId;
        const loc = index.lookup(id);
        if (!loc) {
          expect(ref.record).toBeNull();
          continue;
        }
        expect(ref.record!.position).toBe(index.positionOf(id));
        expect({ offset: ref.record!.offset, length: ref.record!.length, rawLength: ref.record!.rawLength, type: ref.record!.type }).toEqual({ offset: loc.offset, length: loc.length, rawLength: loc.rawLength, type: loc.type });
      }
      expect(n).toBe(new Set([...ids, ...absent]).size);
    } finally {
      join2.discard();
      index.close();
    }
  });

  it('a damaged index object is told and adds nothing; without a listener it ends the build', async () => {
    const { repo: r, backend } = await testRepository({ backend: new MemoryBackend('scan-bad') });
    const good = { supersedes: [], packs: randomPacks(3, 5) };
    const bad = { supersedes: [], packs: randomPacks(3, 5) };
    await r.saveIndexObject(good);
    const badId = await r.saveIndexObject(bad);
    const name = indexName(badId);
    const bytes = await backend.load(name);
    bytes[bytes.length - 20]! ^= 1;
    await backend.remove(name);
    await backend.save(name, bytes);
    const told: IndexId[] = [];
    const scan = await ScanIndex.build(r, { ...small(work), onUnreadable: (id) => told.push(id) });
    try {
      expect(told).toEqual([badId]);
      for (const p of bad.packs) for (const b of p.blobs) expect(scan.has(b.id)).toBe(false);
      for (const p of good.packs) for (const b of p.blobs) expect(scan.has(b.id)).toBe(true);
    } finally {
      scan.close();
    }
    await expect(ScanIndex.build(r, small(work))).rejects.toThrow();
    // Nothing is left behind by the failed build.
    expect((await readdir(work)).filter((n) => n.startsWith('scan-'))).toEqual([]);
  });

  it("a scratch folder whose process is gone is removed by the next one; a live process's stays", async () => {
    const dir = join(work, 'scratch');
    await mkdir(join(dir, 'scan-999999999-0123456789ab'), { recursive: true });
    await mkdir(join(dir, `scan-${process.ppid}-0123456789ab`), { recursive: true });
    const mine = scratchFolder(dir, 'scan');
    const names = await readdir(dir);
    expect(names).not.toContain('scan-999999999-0123456789ab');
    expect(names).toContain(`scan-${process.ppid}-0123456789ab`);
    expect(names).toContain(mine.slice(dir.length + 1));
  });
});
