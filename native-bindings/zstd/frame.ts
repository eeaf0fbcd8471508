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
