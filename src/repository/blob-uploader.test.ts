// The uploader's buffer reuse: sealed blobs given back once copied into a pack, and pack buffers
// lent to the next pack only after the store has finished with them.
import { describe, expect, it } from 'vitest';
import { type BlobId, BlobType, type IndexId, type PackId } from '../format/ids.js';
import type { IndexFile } from '../format/index-file.js';
import type { PackBlob } from '../format/pack.js';
import type { BlobIndex } from './blob-index.js';
import { BlobUploader, MAX_BLOBS_PER_PACK, type UploadTarget } from './blob-uploader.js';
import type { BuiltPack, PackInput } from './pack-store.js';

const emptyIndex = (): BlobIndex => ({
  has: () => false,
  lookup: () => undefined,
  hasPack: () => false,
  add: () => undefined,
  blobCount: 0,
});

/** A store whose saves finish only when told to, recording what each pack held at that moment. */
function slowTarget() {
  const events: string[] = [];
  const buffers: ArrayBufferLike[] = [];
  const stored = new Map<string, { expected: Uint8Array; atFinish?: Uint8Array }>();
  const pending: (() => void)[] = [];
  const indexed: IndexFile[] = [];
  let packs = 0;
  const target: UploadTarget = {
    packs: {
      build(blobs: readonly PackInput[], alloc?: (size: number) => Uint8Array): BuiltPack {
        const size = blobs.reduce((n, b) => n + b.sealed.length, 0);
        const bytes = (alloc ?? ((n: number) => new Uint8Array(n)))(size).subarray(0, size);
        const entries: PackBlob[] = [];
        let pos = 0;
        for (const b of blobs) {
          bytes.set(b.sealed, pos);
          entries.push({ type: b.type, id: b.id, offset: pos, length: b.sealed.length, rawLength: b.rawLength });
          pos += b.sealed.length;
        }
        const packId = `${String(++packs).padStart(64, '0')}` as PackId;
        events.push(`build ${packs}`);
        buffers.push(bytes.buffer);
        stored.set(packId, { expected: bytes.slice() });
        return { packId, bytes, blobs: entries };
      },
      save(packId: PackId, bytes: Uint8Array): Promise<void> {
        return new Promise((resolve) => {
          pending.push(() => {
            stored.get(packId)!.atFinish = bytes.slice();
            events.push(`saved ${Number(packId)}`);
            resolve();
          });
        });
      },
    },
    saveIndexObject: async (file: IndexFile) => {
      indexed.push(file);
      return 'f'.repeat(64) as IndexId;
    },
  };
  return { target, events, buffers, stored, indexed, finishOne: () => pending.shift()?.() };
}

const id = (n: number): BlobId => n.toString(16).padStart(64, '0') as BlobId;

describe('BlobUploader buffer reuse', () => {
  it('gives each sealed blob back once it is copied into its pack, before the pack is stored', async () => {
    const t = slowTarget();
    const up = new BlobUploader(t.target, emptyIndex(), { packTargetBytes: 1000, writesInFlight: 2, indexEveryPacks: 100, sealedBytes: 1 << 20 });
    const released: number[] = [];
    for (let i = 0; i < 3; i++) {
      up.claim(id(i));
      await up.add(BlobType.DATA, id(i), new Uint8Array(400).fill(i + 1), 400, 400, () => {
        released.push(i);
        t.events.push(`released ${i}`);
      });
    }
    // 1200 bytes passed the 1000-byte target: the pack is built and its blobs given back, unsaved.
    // In the pack's (shuffled) order, after the build and before any save finished.
    expect([...released].sort()).toEqual([0, 1, 2]);
    expect(t.events[0]).toBe('build 1');
    expect([...t.events.slice(1)].sort()).toEqual(['released 0', 'released 1', 'released 2']);
    t.finishOne();
    await up.flush();
  });

  it('lends a pack buffer to a later pack only after its save finished, so no stored pack is overwritten in flight', async () => {
    const t = slowTarget();
    const up = new BlobUploader(t.target, emptyIndex(), { packTargetBytes: 1000, writesInFlight: 2, indexEveryPacks: 100, sealedBytes: 1 << 20 });
    let n = 0;
    const addPack = async (): Promise<void> => {
      for (let k = 0; k < 3; k++, n++) {
        up.claim(id(n));
        await up.add(BlobType.DATA, id(n), new Uint8Array(400).fill(n & 0xff), 400, 400);
      }
    };
    await addPack();
    await addPack();
    // Two saves in flight: their buffers are distinct.
    expect(t.buffers[0]).not.toBe(t.buffers[1]);
    const third = addPack(); // waits for a write slot
    t.finishOne();
    await third;
    // The third pack took the first pack's buffer, now that its save finished.
    expect(t.buffers[2]).toBe(t.buffers[0]);
    while (t.stored.size > [...t.stored.values()].filter((s) => s.atFinish).length) {
      t.finishOne();
      await new Promise((r) => setImmediate(r));
    }
    await up.flush();
    for (const [packId, s] of t.stored) expect(Buffer.compare(s.atFinish!, s.expected), `pack ${packId}`).toBe(0);
  });
});

describe('BlobUploader oversized packs', () => {
  it('gives a pack past the pooled size a buffer of its own and keeps the pooled one for the next pack', async () => {
    const t = slowTarget();
    // Pooled buffers hold the target and 1 MiB of slack: a pack whose last blob is 3 MiB is past it.
    const up = new BlobUploader(t.target, emptyIndex(), { packTargetBytes: 1000, writesInFlight: 1, indexEveryPacks: 100, sealedBytes: 8 << 20 });
    let n = 0;
    const addPack = async (lastBlobBytes: number): Promise<void> => {
      for (const size of [400, 400, lastBlobBytes]) {
        up.claim(id(n));
        await up.add(BlobType.DATA, id(n), new Uint8Array(size).fill(n & 0xff), size, size);
        n++;
      }
    };
    const settle = async (packs: number): Promise<void> => {
      while (t.events.filter((e) => e.startsWith('saved')).length < packs) {
        t.finishOne();
        await new Promise((r) => setImmediate(r));
      }
    };
    await addPack(400);
    await settle(1);
    await addPack(3 << 20);
    await settle(2);
    await addPack(400);
    await settle(3);
    await up.flush();
    // The oversized pack had its own buffer; the third pack took the first pack's, which stayed
    // pooled (before, it was dropped with the oversized one and a fresh buffer was allocated).
    expect(t.buffers[1]).not.toBe(t.buffers[0]);
    expect(t.buffers[1]!.byteLength).toBeGreaterThanOrEqual(3 << 20);
    expect(t.buffers[2]).toBe(t.buffers[0]);
    for (const [packId, s] of t.stored) expect(Buffer.compare(s.atFinish!, s.expected), `pack ${packId}`).toBe(0);
  });
});

describe('BlobUploader sealed budget', () => {
  it('closes a pack once it holds half the sealed budget, so tiny blobs whose leases outweigh their bytes never wait on their own open pack', async () => {
    const t = slowTarget();
    // As prune leases them: each blob's bytes and 512 bytes for its heap. 64 KiB of budget holds
    // ~107 such blobs, far from the 1 MiB target: before, the pack never closed and add waited for ever.
    const up = new BlobUploader(t.target, emptyIndex(), { packTargetBytes: 1 << 20, writesInFlight: 2, indexEveryPacks: 100, sealedBytes: 64 << 10 });
    const pump = setInterval(() => t.finishOne(), 1);
    try {
      for (let i = 0; i < 1000; i++) {
        const lease = 100 + 512;
        await up.sealedBudget.acquire(lease);
        up.claim(id(i));
        await up.add(BlobType.DATA, id(i), new Uint8Array(100).fill(i & 0xff), 100, lease);
      }
      await up.flush();
    } finally {
      clearInterval(pump);
    }
    const sizes = [...t.stored.values()].map((s) => s.expected.length / 100);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(1000);
    // Each pack closed at half the budget's leases: 32 KiB / 612 bytes → 54 blobs.
    expect(Math.max(...sizes)).toBe(54);
    expect(up.sealedBudget.inUse).toBe(0);
  }, 10_000);
});

describe('BlobUploader pack size', () => {
  it(`closes a pack at ${MAX_BLOBS_PER_PACK} blobs however small they are`, async () => {
    const t = slowTarget();
    const up = new BlobUploader(t.target, emptyIndex(), { packTargetBytes: 16 << 20, writesInFlight: 4, indexEveryPacks: 100, sealedBytes: 64 << 20 });
    const total = 2 * MAX_BLOBS_PER_PACK + 5;
    const done = (async () => {
      for (let i = 0; i < total; i++) {
        up.claim(id(i));
        await up.add(BlobType.DATA, id(i), new Uint8Array(40).fill(i & 0xff), 40, 40);
      }
      await up.flush();
    })();
    while (t.events.filter((e) => e.startsWith('saved')).length < 3) {
      t.finishOne();
      await new Promise((r) => setImmediate(r));
    }
    await done;
    const sizes = [...t.stored.values()].map((s) => s.expected.length / 40).sort((a, b) => b - a);
    expect(sizes).toEqual([MAX_BLOBS_PER_PACK, MAX_BLOBS_PER_PACK, 5]);
    // Index objects are written every MAX_UNINDEXED_BLOBS entries, not only every 100 packs.
    expect(t.indexed.map((f) => f.packs.reduce((n, p) => n + p.blobs.length, 0))).toEqual([2 * MAX_BLOBS_PER_PACK, 5]);
  });
});

describe('BlobUploader dry run', () => {
  it('builds and counts packs but stores no pack and no index object; entries go to the index unnamed, so a blob met again is not counted twice', async () => {
    const t = slowTarget();
    const added: (IndexId | null)[] = [];
    const known = new Set<string>();
    const index: BlobIndex = { ...emptyIndex(), has: (id) => known.has(id), add: (id, file) => {
      added.push(id);
      for (const p of file.packs) for (const b of p.blobs) known.add(b.id);
    } };
    const up = new BlobUploader(t.target, index, { packTargetBytes: 1000, writesInFlight: 2, indexEveryPacks: 1, sealedBytes: 1 << 20, dryRun: true });
    expect(up.dryRun).toBe(true);
    const ids = [0, 1, 2].map((i) => `${String(i).padStart(64, 'a')}` as BlobId);
    for (const id of ids) {
      expect(up.claim(id)).toBe(true);
      await up.add(BlobType.DATA, id, new Uint8Array(600), 600, 600);
    }
    await up.flush();
    // Saves would wait for finishOne: none was even started.
    expect(t.events.filter((e) => e.startsWith('saved'))).toEqual([]);
    expect(t.events.filter((e) => e.startsWith('build')).length).toBe(2);
    expect(t.indexed).toEqual([]);
    expect(added.length).toBeGreaterThan(0);
    expect(added.every((id) => id === null)).toBe(true);
    expect(up.stats).toMatchObject({ packsWritten: 2, blobsAdded: 3, bytesAddedRaw: 1800 });
    for (const id of ids) expect(up.claim(id)).toBe(false);
  });
});
