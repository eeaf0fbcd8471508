import { ZstdDecodeError } from '../errors.js';
import { frameContentSize } from './frame.js';

// Levels 20-22 ("ultra") need windows of up to 128 MiB on both sides, which a memory-budgeted
// engine cannot afford; negative (fast) levels are fine. 0 means zstd's default (3).
export const MIN_LEVEL = -7;
export const MAX_LEVEL = 19;
/** The WASM decoder sizes its output with a signed 32-bit integer. */
export const MAX_OUTPUT_LIMIT = 2 ** 31 - 1;

export function checkLevel(level: number): void {
  if (!Number.isInteger(level) || level < MIN_LEVEL || level > MAX_LEVEL) {
    throw new RangeError(`zstd level must be an integer in [${MIN_LEVEL}, ${MAX_LEVEL}], got ${level}`);
  }
}

export interface OutputPlan {
  /** Bytes to allocate for the output. */
  readonly capacity: number;
  /** True when the frame declared its size, so the output must be exactly `capacity` bytes. */
  readonly exact: boolean;
}

/**
 * Decides the output buffer before decompressing: the declared size when the frame has one (our
 * compressors always write it), else maxOutput. Refuses frames declaring more than maxOutput.
 */
export function planOutput(input: Uint8Array, maxOutput: number): OutputPlan {
  if (!Number.isInteger(maxOutput) || maxOutput < 0 || maxOutput > MAX_OUTPUT_LIMIT) {
    throw new RangeError(`zstd maxOutput must be an integer in [0, ${MAX_OUTPUT_LIMIT}], got ${maxOutput}`);
  }
  const declared = frameContentSize(input);
  if (declared === null) return { capacity: maxOutput, exact: false };
  if (declared > maxOutput) {
    throw new ZstdDecodeError('E_ZSTD_TOO_LARGE', `zstd: frame declares ${declared} bytes, more than maxOutput ${maxOutput}`);
  }
  return { capacity: declared, exact: true };
}

/** Maps a decoder's failure to our error. */
export function decodeFailure(plan: OutputPlan, err: unknown): ZstdDecodeError {
  const message = err instanceof Error ? err.message : String(err);
  // zstd's dstSize_tooSmall: zstd-napi reports its text, the WASM build only the code (-70).
  if (!plan.exact && /too small|code -70\b/i.test(message)) {
    return new ZstdDecodeError('E_ZSTD_TOO_LARGE', `zstd: output exceeds maxOutput ${plan.capacity}`);
  }
  return new ZstdDecodeError('E_ZSTD_CORRUPT', `zstd: corrupt frame (${message})`);
}

/** A frame that declared its size must produce exactly that many bytes. */
export function checkProduced(plan: OutputPlan, produced: number): void {
  if (plan.exact && produced !== plan.capacity) {
    throw new ZstdDecodeError('E_ZSTD_CORRUPT', `zstd: frame declared ${plan.capacity} bytes but produced ${produced}`);
  }
}

/** ZSTD_COMPRESSBOUND from zstd.h: the largest frame the compressor can make from `n` bytes. */
export function compressBound(n: number): number {
  const small = 128 * 1024;
  return n + (n >>> 8) + (n < small ? (small - n) >>> 11 : 0);
}

/** compressInto's output must hold any frame the input can make. */
export function checkCompressOut(inputLength: number, out: Uint8Array): void {
  const bound = compressBound(inputLength);
  if (out.length < bound) throw new RangeError(`zstd compressInto needs an output of at least ${bound} bytes, got ${out.length}`);
}
