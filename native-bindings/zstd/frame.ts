// Reads a zstd frame header (RFC 8878, section 3.1.1) before any decoder sees the frame, so both
// implementations refuse the same inputs and can size their output before allocating it. The
// checks mirror ZSTD_getFrameHeader for 32-bit builds (the WASM one), so a header accepted here
// is one the library can read too.
import { ZstdDecodeError } from '../errors.js';

const MAGIC = 0xfd2fb528;
const WINDOW_LOG_MAX = 30; // ZSTD_WINDOWLOG_MAX_32

/** The frame's declared decompressed size, or null when the header leaves it out. */
export function frameContentSize(input: Uint8Array): number | null {
  const corrupt = (why: string) => new ZstdDecodeError('E_ZSTD_CORRUPT', `zstd: ${why}`);
  if (input.length < 5) throw corrupt('input too short for a frame header');
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  if (view.getUint32(0, true) !== MAGIC) throw corrupt('not a zstd frame (bad magic number)');
  const descriptor = view.getUint8(4);
  const fcsFlag = descriptor >> 6;
  const singleSegment = (descriptor & 0x20) !== 0;
  const dictFlag = descriptor & 0x03;
  if ((descriptor & 0x08) !== 0) throw corrupt('reserved bit set in frame header');
  let pos = 5;
  if (!singleSegment) {
    if (input.length < 6) throw corrupt('truncated frame header');
    const windowLog = 10 + (view.getUint8(5) >> 3);
    if (windowLog > WINDOW_LOG_MAX) throw corrupt(`window log ${windowLog} exceeds ${WINDOW_LOG_MAX}`);
    pos += 1;
  }
  pos += dictFlag === 3 ? 4 : dictFlag; // dictionary id: 0, 1, 2 or 4 bytes
  const fcsBytes = fcsFlag === 0 ? (singleSegment ? 1 : 0) : fcsFlag === 1 ? 2 : fcsFlag === 2 ? 4 : 8;
  if (input.length < pos + fcsBytes) throw corrupt('truncated frame header');
  switch (fcsBytes) {
    case 0:
      return null;
    case 1:
      return view.getUint8(pos);
    case 2:
      return view.getUint16(pos, true) + 256;
    case 4:
      return view.getUint32(pos, true);
    default:
      // Exact below 2^53, and anything larger is far beyond any maxOutput anyway.
      return view.getUint32(pos, true) + view.getUint32(pos + 4, true) * 2 ** 32;
  }
}

const SKIPPABLE_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;

/**
 * The offset just past the frame that starts at `start` (RFC 8878: a zstd frame, header, blocks
 * and optional checksum, or a skippable frame), found by walking block headers without decoding.
 * Throws E_ZSTD_CORRUPT when the frame is truncated, has a reserved block type, or is not a frame
 * at all. For decoders that stop at the end of the first frame and never say whether the input
 * was complete (node:zlib), so they refuse what libzstd's one-shot ZSTD_decompress refuses.
 */
export function frameEnd(input: Uint8Array, start: number): number {
  const corrupt = (why: string) => new ZstdDecodeError('E_ZSTD_CORRUPT', `zstd: ${why}`);
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  if (input.length - start < 5) throw corrupt(start === 0 ? 'input too short for a frame header' : `${input.length - start} trailing bytes after the frame`);
  const magic = view.getUint32(start, true);
  if (((magic & SKIPPABLE_MASK) >>> 0) === SKIPPABLE_MAGIC) {
    if (input.length - start < 8) throw corrupt('truncated skippable frame');
    const end = start + 8 + view.getUint32(start + 4, true);
    if (end > input.length) throw corrupt('truncated skippable frame');
    return end;
  }
  if (magic !== MAGIC) throw corrupt(start === 0 ? 'not a zstd frame (bad magic number)' : 'trailing bytes after the frame');
  const descriptor = view.getUint8(start + 4);
  const fcsFlag = descriptor >> 6;
  const singleSegment = (descriptor & 0x20) !== 0;
  const dictFlag = descriptor & 0x03;
  const fcsBytes = fcsFlag === 0 ? (singleSegment ? 1 : 0) : fcsFlag === 1 ? 2 : fcsFlag === 2 ? 4 : 8;
  let pos = start + 5 + (singleSegment ? 0 : 1) + (dictFlag === 3 ? 4 : dictFlag) + fcsBytes;
  for (;;) {
    if (pos + 3 > input.length) throw corrupt('truncated frame (block header missing)');
    const header = view.getUint8(pos) | (view.getUint8(pos + 1) << 8) | (view.getUint8(pos + 2) << 16);
    const type = (header >> 1) & 3;
    if (type === 3) throw corrupt('reserved block type');
    pos += 3 + (type === 1 ? 1 : header >>> 3); // RLE blocks carry one byte
    if (pos > input.length) throw corrupt('truncated frame (block cut short)');
    if ((header & 1) !== 0) break; // last block
  }
  if ((descriptor & 0x04) !== 0) pos += 4; // content checksum
  if (pos > input.length) throw corrupt('truncated frame (checksum missing)');
  return pos;
}
