// Fixed-size records of the index cache, compared by their leading key bytes.
//
//   blob record (48 bytes): blob id (32) | pack number u32be | offset u32le |
//                           sealed length u32le with the blob type in its top bit | raw length u32le
//   pack record (32 bytes): pack id
//
// The pack number is big-endian so that sorting by the first 36 bytes orders the entries of one
// blob by pack number: the one from the earliest listed index object comes first and is kept
// (the in-memory MasterIndex keeps the first entry in listing order too).
import { BlobType } from '../format/ids.js';

export const BLOB_RECORD_BYTES = 48;
export const PACK_RECORD_BYTES = 32;
/** Blob records sort by id and pack number; packs by id. */
export const BLOB_SORT_KEY_BYTES = 36;
export const ID_KEY_BYTES = 32;
const TYPE_BIT = 0x80000000;

export interface BlobRecordFields {
  packNo: number;
  type: BlobType;
  offset: number;
  length: number;
  rawLength: number;
}

/** Writes a blob record at `at` in `out`; the id is copied from `id` at `idAt`. */
export function writeBlobRecord(out: Buffer, at: number, id: Uint8Array, idAt: number, f: BlobRecordFields): void {
  out.set(id.subarray(idAt, idAt + 32), at);
  out.writeUInt32BE(f.packNo, at + 32);
  out.writeUInt32LE(f.offset, at + 36);
  out.writeUInt32LE(((f.length & 0x7fffffff) | (f.type === BlobType.TREE ? TYPE_BIT : 0)) >>> 0, at + 40);
  out.writeUInt32LE(f.rawLength, at + 44);
}

export function readBlobRecord(b: Buffer, at: number): BlobRecordFields {
  const lenType = b.readUInt32LE(at + 40);
  return {
    packNo: b.readUInt32BE(at + 32),
    offset: b.readUInt32LE(at + 36),
    length: lenType & 0x7fffffff,
    type: (lenType & TYPE_BIT) !== 0 ? BlobType.TREE : BlobType.DATA,
    rawLength: b.readUInt32LE(at + 44),
  };
}

/** Lexicographic comparison of `n` bytes (n a multiple of 4), a word at a time. */
export function compareKeys(a: Buffer, ai: number, b: Buffer, bi: number, n: number): number {
  for (let i = 0; i < n; i += 4) {
    const x = a.readUInt32BE(ai + i);
    const y = b.readUInt32BE(bi + i);
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}
