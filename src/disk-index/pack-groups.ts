// Index entries regrouped by pack, off the heap: check compares each pack's header with what the
// index places in it, prune writes the index of the packs it keeps. The run is sorted by blob id;
// entries are pushed here (any subset, any order) and come back one pack at a time, by offset,
// through an external sort (sorter.ts), so only one pack's entries are ever on the heap.
import { BlobType, type BlobId } from '../format/ids.js';
import type { PackBlob } from '../repository/pack-store.js';
import { compareKeys } from './records.js';
import { RecordSorter } from './sorter.js';

// Record: pack key u32be | offset u32be | pack number u32be | id (32) | sealed length u32le | raw length u32le | type u8 + pad.
const RECORD_BYTES = 56;
/** Sorted by pack key and offset: a pack's entries are adjacent, in the order they are stored. */
const KEY_BYTES = 8;

/**
 * The sort key of a pack number: scrambled (an odd multiplier is a bijection of 32-bit numbers),
 * because the sorter buckets records by their first two bytes and pack numbers are small.
 */
function packKey(packNo: number): number {
  return Math.imul(packNo, 0x9e3779b1) >>> 0;
}

export interface PackGroup {
  readonly packNo: number;
  /** The pack's entries by offset; an entry listed twice (two index objects) appears once. */
  readonly blobs: PackBlob[];
}

export class PackGrouper {
  private readonly sorter: RecordSorter;

  constructor(opts: { tmpDir: string; memBytes: number; tag?: string }) {
    this.sorter = new RecordSorter({ recordBytes: RECORD_BYTES, keyBytes: KEY_BYTES, memBytes: opts.memBytes, tmpDir: opts.tmpDir, tag: opts.tag ?? 'packs-by-number' });
  }

  /** Adds an entry; `id` is read from `idBuf` at `idAt` (32 bytes). */
  add(packNo: number, idBuf: Uint8Array, idAt: number, b: { type: BlobType; offset: number; length: number; rawLength: number }): void {
    const s = this.sorter.next();
    s.buf.writeUInt32BE(packKey(packNo), s.at);
    s.buf.writeUInt32BE(b.offset, s.at + 4);
    s.buf.writeUInt32BE(packNo, s.at + 8);
    s.buf.set(idBuf.subarray(idAt, idAt + 32), s.at + 12);
    s.buf.writeUInt32LE(b.length, s.at + 44);
    s.buf.writeUInt32LE(b.rawLength, s.at + 48);
    s.buf.writeUInt32LE(b.type === BlobType.TREE ? 1 : 0, s.at + 52);
  }

  get count(): number {
    return this.sorter.count;
  }

  /** The packs in an order of their own (not by number), each with its entries by offset. Once only. */
  *groups(): Generator<PackGroup> {
    const c = this.sorter.sorted();
    try {
      let cur: { packNo: number; blobs: PackBlob[] } | null = null;
      let prevBuf: Buffer | null = null;
      const prev = Buffer.alloc(RECORD_BYTES);
      for (; c.buf; c.advance()) {
        const buf = c.buf;
        const at = c.at;
        const packNo = buf.readUInt32BE(at + 8);
        if (cur && cur.packNo !== packNo) {
          yield cur;
          cur = null;
          prevBuf = null;
        }
        cur ??= { packNo, blobs: [] };
        // The same entry from two index objects: once.
        if (prevBuf && compareKeys(prev, 0, buf, at, RECORD_BYTES - 4) === 0 && prev.readUInt32LE(52) === buf.readUInt32LE(at + 52)) continue;
        buf.copy(prev, 0, at, at + RECORD_BYTES);
        prevBuf = prev;
        cur.blobs.push({
          type: buf.readUInt32LE(at + 52) === 1 ? BlobType.TREE : BlobType.DATA,
          id: buf.toString('hex', at + 12, at + 44) as BlobId,
          offset: buf.readUInt32BE(at + 4),
          length: buf.readUInt32LE(at + 44),
          rawLength: buf.readUInt32LE(at + 48),
        });
      }
      if (cur) yield cur;
    } finally {
      c.close();
    }
  }

  /** Removes the sort's temporary files (after groups(), or instead of it). */
  discard(): void {
    this.sorter.discard();
  }
}
