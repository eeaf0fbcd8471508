import * as zlib from 'node:zlib';
import type { Zstd } from '../types.js';
import { allocOwned } from '../bytes.js';
import { needsNode } from '../builtin.js';
import { ZstdDecodeError } from '../errors.js';
import { checkCompressOut, checkLevel, checkProduced, compressBound, planOutput, type OutputPlan } from './common.js';
import { frameEnd } from './frame.js';

export const NODE_ZSTD = 'node:zlib';

/** Node's chunks are at least this long (zlib's Z_MIN_CHUNK). */
const MIN_CHUNK = 64;

/**
 * zstd built into Node (node:zlib, Node >= 22.15 and >= 23.8; the libzstd Node bundles). Only the
 * one-shot convenience functions are public, and they allocate their own output, so:
 * - compress() asks for one output chunk of compressBound() bytes (no concatenation of chunks),
 *   then copies the frame out to an exact-size buffer that owns its memory, as zstd-napi does;
 *   compressInto() copies the frame into the caller's buffer instead: one memcpy of the frame.
 * - decompress() sizes Node's output chunk from the frame header, so the result comes back as one
 *   buffer; decompressInto() copies it into the caller's buffer: one extra memcpy of the
 *   plaintext and a transient allocation of its size (measured in docs/PLATFORMS.md).
 * - Node's decoder stops after the first frame and ignores what follows, and Node 22 returns a
 *   truncated frame's partial output without an error; frameEnd() walks the block headers first,
 *   so a truncated frame or trailing bytes are E_ZSTD_CORRUPT as with libzstd's ZSTD_decompress,
 *   and further frames are decoded one by one as libzstd would.
 */
export async function loadNodeZstd(): Promise<Zstd> {
  const z: Partial<typeof zlib> = zlib;
  const { zstdCompressSync, zstdDecompressSync } = z;
  if (typeof zstdCompressSync !== 'function' || typeof zstdDecompressSync !== 'function') {
    throw needsNode('node:zlib zstd', [[22, 15], [23, 8]]);
  }
  const LEVEL = zlib.constants.ZSTD_c_compressionLevel;
  if (typeof LEVEL !== 'number') throw new Error('node:zlib lacks constants.ZSTD_c_compressionLevel');

  const frameOf = (input: Uint8Array, level: number): Buffer => {
    checkLevel(level);
    // One chunk of compressBound() bytes holds any frame, so Node never concatenates chunks;
    // pledgedSrcSize makes the header declare the size (one-shot zstd does so anyway).
    const chunkSize = Math.max(MIN_CHUNK, compressBound(input.length));
    return zstdCompressSync(input, { params: { [LEVEL]: level }, chunkSize, pledgedSrcSize: input.length });
  };

  /** Decodes every frame of `input` into one buffer of at most `plan.capacity` bytes. */
  const decodeAll = (input: Uint8Array, plan: OutputPlan): Buffer => {
    const first = frameEnd(input, 0);
    if (first === input.length) return decodeFrame(input, plan, plan.capacity, plan.exact);
    const parts: Buffer[] = [];
    let produced = 0;
    for (let start = 0; start < input.length; ) {
      const end = start === 0 ? first : frameEnd(input, start);
      const frame = input.subarray(start, end);
      start = end;
      if (frame.length >= 4 && frame[0] !== 0x28) continue; // skippable frame: no output
      const part = decodeFrame(frame, plan, plan.capacity - produced, false);
      produced += part.length;
      parts.push(part);
    }
    return Buffer.concat(parts, produced);
  };

  const decodeFrame = (frame: Uint8Array, plan: OutputPlan, room: number, sized: boolean): Buffer => {
    // A frame that declares its size gets a chunk of exactly that (Node then returns that chunk
    // whole: no copy); one without gets Node's default chunks, concatenated at the end.
    const options: zlib.ZstdOptions = { maxOutputLength: Math.max(1, room) };
    if (sized) options.chunkSize = Math.max(MIN_CHUNK, room);
    let out: Buffer;
    try {
      out = zstdDecompressSync(frame, options);
    } catch (err) {
      throw failure(plan, err);
    }
    if (out.length > room) throw failure(plan, new RangeError('output beyond the limit'));
    return out;
  };

  const decompress = (input: Uint8Array, maxOutput: number): Buffer => {
    const plan = planOutput(input, maxOutput);
    const out = decodeAll(input, plan);
    checkProduced(plan, out.length);
    return out;
  };

  return {
    impl: NODE_ZSTD,
    compress: (input, level) => owned(frameOf(input, level)),
    decompress: (input, maxOutput) => owned(decompress(input, maxOutput)),
    compressBound,
    compressInto(input, level, out) {
      checkLevel(level);
      checkCompressOut(input.length, out);
      const frame = frameOf(input, level);
      out.set(frame);
      return frame.length;
    },
    decompressInto(input, out) {
      const plain = decompress(input, out.length);
      out.set(plain);
      return plain.length;
    },
  };
}

/** Node reports a limit hit as RangeError ERR_BUFFER_TOO_LARGE, anything else with zstd's error name. */
function failure(plan: OutputPlan, err: unknown): ZstdDecodeError {
  if (err instanceof ZstdDecodeError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof RangeError) {
    // Beyond a declared size is a lying header; beyond maxOutput is the caller's limit.
    return plan.exact
      ? new ZstdDecodeError('E_ZSTD_CORRUPT', `zstd: frame produced more than the ${plan.capacity} bytes it declared`)
      : new ZstdDecodeError('E_ZSTD_TOO_LARGE', `zstd: output exceeds maxOutput ${plan.capacity}`);
  }
  return new ZstdDecodeError('E_ZSTD_CORRUPT', `zstd: corrupt frame (${message})`);
}

/** The bytes in a buffer that owns its whole ArrayBuffer (Node's small outputs are slices of its pool). */
function owned(buf: Buffer): Buffer {
  if (buf.byteOffset === 0 && buf.buffer.byteLength === buf.length && buf.buffer instanceof ArrayBuffer) return buf;
  const out = allocOwned(buf.length);
  buf.copy(out);
  return out;
}
