// --read-data-subset x%: exactly that share of the stored packs (at least one), indexed or not,
// each pack at most once, a different draw each time.
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { testRepository } from '../../test/support/test-repository.js';
import { PackTable } from '../disk-index/pack-table.js';
import { ScanIndex } from '../disk-index/scan-index.js';
import { type BlobId, BlobType, type PackId } from '../format/ids.js';
import { StoredPacks } from './stored-packs.js';

const hex = (n: number): string => randomBytes(n).toString('hex');

describe('StoredPacks', () => {
  it('picks round(x% of the stored packs), at least one, among indexed and unindexed ones', async () => {
    const { repo } = await testRepository();
    const packs = Array.from({ length: 57 }, () => ({ packId: hex(32) as PackId, blobs: [{ type: BlobType.DATA, id: hex(32) as BlobId, offset: 0, length: 10, rawLength: 10 }] }));
    await repo.saveIndexObject({ supersedes: [], packs });
    const scan = await ScanIndex.build(repo, { tmpDir: tmpdir(), sortMemBytes: 1 << 20, pageCacheBytes: 1 << 16, readsInFlight: 2, readBytes: 1 << 20 });
    try {
      const table = new PackTable(scan);
      const stored = new StoredPacks(table, scan.packCount);
      // 50 of the 57 indexed packs are stored, and 3 packs no index names.
      for (const p of packs.slice(0, 50)) stored.add(p.packId, 100);
      const strays = [hex(32), hex(32), hex(32)] as PackId[];
      for (const id of strays) stored.add(id, 100);
      expect(stored.count).toBe(53);
      expect(stored.has(packs[0]!.packId)).toBe(true);
      expect(stored.has(packs[55]!.packId)).toBe(false);
      expect(stored.has(strays[1]!)).toBe(true);
      const count = (percent: number): number => {
        const p = stored.pick(percent);
        let n = p.unindexed.size;
        for (const pk of packs) {
          const no = table.numberOf(pk.packId);
          if (p.indexed.has(no)) {
            expect(stored.sizeOf(no)).toBeGreaterThanOrEqual(0);
            n++;
          }
        }
        return n;
      };
      expect(count(100)).toBe(53);
      expect(count(50)).toBe(27);
      expect(count(10)).toBe(5);
      expect(count(0.01)).toBe(1);
      expect(count(0)).toBe(0);
      // Different draws: over 20 draws of 10%, more than 5 distinct packs come up.
      const seen = new Set<number>();
      for (let i = 0; i < 20; i++) {
        const p = stored.pick(10);
        for (const pk of packs) if (p.indexed.has(table.numberOf(pk.packId))) seen.add(table.numberOf(pk.packId));
      }
      expect(seen.size).toBeGreaterThan(5);
    } finally {
      scan.close();
    }
  });
});
