// PackTable.forEachEntry, which prune (its tallies, its new index, its repack) and check (its
// header comparison) all walk the index by: each (blob, pack) once under the pack's canonical
// number, the kept copy marked, and a repeat of a (blob, pack) handed over with the entry met first.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRepository } from '../../test/support/test-repository.js';
import { MemoryBackend } from '../backend/memory/memory-backend.js';
import { type BlobId, BlobType, type PackId } from '../format/ids.js';
import { PackTable } from './pack-table.js';
import { ScanIndex } from './scan-index.js';

const hex = (n: number): string => randomBytes(n).toString('hex');

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'engine-packtable-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('PackTable.forEachEntry', () => {
  it('gives each (blob, pack) once under its canonical number, the kept copy first; repeats go to onRepeat with the entry met first', async () => {
    const { repo } = await testRepository({ backend: new MemoryBackend('pack-table') });
    const [p1, p2, p3] = [hex(32), hex(32), hex(32)] as PackId[];
    const [x, y, z] = [hex(32), hex(32), hex(32)] as BlobId[];
    const blob = (id: BlobId, offset: number) => ({ type: BlobType.DATA, id, offset, length: 100, rawLength: 90 });
    // p1 listed again the same (as an interrupted prune leaves it), then with x at another place;
    // x also in a pack of its own.
    const ids = [
      await repo.saveIndexObject({ supersedes: [], packs: [{ packId: p1!, blobs: [blob(x!, 0), blob(y!, 100)] }, { packId: p2!, blobs: [blob(z!, 0)] }] }),
      await repo.saveIndexObject({ supersedes: [], packs: [{ packId: p1!, blobs: [blob(x!, 0), blob(y!, 100)] }] }),
      await repo.saveIndexObject({ supersedes: [], packs: [{ packId: p1!, blobs: [blob(x!, 500)] }] }),
      await repo.saveIndexObject({ supersedes: [], packs: [{ packId: p3!, blobs: [blob(x!, 0)] }] }),
    ];
    // Read in this order (a listing's order is its names'): the first object's entries are the kept copies.
    const listed = await repo.listIndexObjects();
    const objects = ids.map((id) => listed.find((o) => o.id === id)!);
    const scan = await ScanIndex.build(repo, { tmpDir: work, sortMemBytes: 64 * 1024, pageCacheBytes: 64 * 1024, readsInFlight: 2, readBytes: 1 << 20 }, objects);
    try {
      const table = new PackTable(scan);
      const given: string[] = [];
      const repeats: string[] = [];
      table.forEachEntry(
        (r, no, first) => {
          const id = r.buf.toString('hex', r.at, r.at + 32) as BlobId;
          expect(first).toBe(r.position === scan.positionOf(id));
          given.push(`${id}@${scan.packIdOf(no)}:${r.offset}${first ? ' kept' : ''}`);
        },
        {
          onRepeat: (r, met, no) => {
            const id = r.buf.toString('hex', r.at, r.at + 32);
            repeats.push(`${id}@${scan.packIdOf(no)}:${met.offset}->${r.offset}`);
          },
        },
      );
      expect(given.sort()).toEqual([`${x}@${p1}:0 kept`, `${x}@${p3}:0`, `${y}@${p1}:100 kept`, `${z}@${p2}:0 kept`].sort());
      expect(repeats.sort()).toEqual([`${x}@${p1}:0->0`, `${x}@${p1}:0->500`, `${y}@${p1}:100->100`].sort());
    } finally {
      scan.close();
    }
  });

  it('stops on an aborted signal', async () => {
    const { repo } = await testRepository({ backend: new MemoryBackend('pack-table-abort') });
    const packId = hex(32) as PackId;
    await repo.saveIndexObject({ supersedes: [], packs: [{ packId, blobs: Array.from({ length: 0x10000 }, (_, k) => ({ type: BlobType.DATA, id: hex(32) as BlobId, offset: k * 10, length: 10, rawLength: 10 })) }] });
    const scan = await ScanIndex.build(repo, { tmpDir: work, sortMemBytes: 1 << 20, pageCacheBytes: 64 * 1024, readsInFlight: 1, readBytes: 8 << 20 });
    try {
      const table = new PackTable(scan);
      const ac = new AbortController();
      ac.abort();
      let n = 0;
      expect(() => table.forEachEntry(() => void n++, { signal: ac.signal })).toThrow();
      expect(n).toBe(0xffff);
    } finally {
      scan.close();
    }
  });
});
