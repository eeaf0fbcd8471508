import type { Zstd } from '../types.js';
import { checkCompressOut, checkLevel, checkProduced, compressBound, decodeFailure, planOutput } from './common.js';

/**
 * @bokuweb/zstd-wasm (zstd compiled to WASM, ~2.5x slower). Its decompress() sizes the output
 * from the frame header with no limit, so planOutput() vets the header first: the library is only
 * ever handed frames whose declared size fits maxOutput, or (size absent) a maxOutput buffer.
 */
export async function loadZstdWasm(): Promise<Zstd> {
  const zstd = await import('@bokuweb/zstd-wasm');
  await zstd.init(); // compiles the WASM; once per thread (loads are cached by the caller)
  const compress: Zstd['compress'] = (input, level) => {
    checkLevel(level);
    return zstd.compress(input, level);
  };
  const decompress: Zstd['decompress'] = (input, maxOutput) => {
    const plan = planOutput(input, maxOutput);
    let out: Uint8Array;
    try {
      out = zstd.decompress(input, { defaultHeapSize: plan.capacity });
    } catch (err) {
      throw decodeFailure(plan, err);
    }
    checkProduced(plan, out.length);
    return out;
  };
  // The WASM build returns fresh arrays only: its …Into methods copy.
  return {
    impl: '@bokuweb/zstd-wasm',
    compress,
    decompress,
    compressBound,
    compressInto(input, level, out) {
      checkCompressOut(input.length, out);
      const frame = compress(input, level);
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
