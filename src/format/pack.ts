// Pack layout (FORMAT.md "Packs"):
//
//   sealed blob 0 | ... | sealed blob n-1 | sealed header | u32le length of the sealed header
//
// Header plaintext: version u8 (=1) | count u32le | count × (type u8 | sealedLength u32le |
// rawLength u32le | blob id 32 bytes). Blob offsets are implicit: the sum of the lengths before.
// The header is sealed like every other object, so blob sizes and ids are not visible in the clear.
import { ErrorCode, FormatError } from '../errors/engine-error.js';
import { Reader, Writer } from './binary.js';
import { type BlobId, type BlobType, ID_BYTES, idFromBytes, idToBytes } from './ids.js';

export const PACK_HEADER_VERSION = 1;
export const PACK_HEADER_ENTRY_BYTES = 1 + 4 + 4 + ID_BYTES;

export interface PackBlob {
  readonly type: BlobType;
  readonly id: BlobId;
  /** Offset of the sealed blob from the start of the pack. */
  readonly offset: number;
  /** Length of the sealed blob (envelope). */
  readonly length: number;
  /** Length of the plaintext blob. */
  readonly rawLength: number;
}

export function encodePackHeader(blobs: readonly Omit<PackBlob, 'offset'>[]): Uint8Array {
  const w = new Writer(5 + blobs.length * PACK_HEADER_ENTRY_BYTES);
  w.u8(PACK_HEADER_VERSION).u32(blobs.length);
  for (const b of blobs) w.u8(b.type).u32(b.length).u32(b.rawLength).bytes(idToBytes(b.id));
  return w.finish();
}

export function decodePackHeader(plain: Uint8Array, what: string): PackBlob[] {
  const r = new Reader(plain, what);
  const version = r.u8();
  if (version !== PACK_HEADER_VERSION) throw new FormatError(ErrorCode.FORMAT_UNSUPPORTED, `${what}: pack header version ${version} is not supported`);
  const count = r.u32();
  if (count * PACK_HEADER_ENTRY_BYTES !== r.remaining) throw new FormatError(ErrorCode.FORMAT_CORRUPT, `${what}: header announces ${count} blobs but holds ${r.remaining} bytes`);
  const out: PackBlob[] = [];
  let offset = 0;
  for (let i = 0; i < count; i++) {
    const type = r.u8();
    if (type !== 0 && type !== 1) throw new FormatError(ErrorCode.FORMAT_CORRUPT, `${what}: blob ${i} has unknown type ${type}`);
    const length = r.u32();
    const rawLength = r.u32();
    const id = idFromBytes<BlobId>(r.bytes(ID_BYTES));
    out.push({ type: type as BlobType, id, offset, length, rawLength });
    offset += length;
  }
  return out;
}

/** Where the sealed header is, from the pack's length and its last four bytes. */
export function headerRange(packLength: number, trailer: Uint8Array, what: string): { offset: number; length: number } {
  if (trailer.length !== 4 || packLength < 4) throw new FormatError(ErrorCode.FORMAT_CORRUPT, `${what}: too short to be a pack`);
  const length = new DataView(trailer.buffer, trailer.byteOffset, 4).getUint32(0, true);
  if (length + 4 > packLength) throw new FormatError(ErrorCode.FORMAT_CORRUPT, `${what}: header length ${length} exceeds the pack size ${packLength}`);
  return { offset: packLength - 4 - length, length };
}
