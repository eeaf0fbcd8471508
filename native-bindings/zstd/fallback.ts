import type { Zstd } from '../types.js';
import { checkLevel, checkProduced, decodeFailure, planOutput } from './common.js';

/**
 * @bokuweb/zstd-wasm (zstd compiled to WASM, ~2.5x slower). Its decompress() sizes the output
 * from the frame header with no limit, so planOutput() vets the header first: the library is only
 * ever handed frames whose declared size fits maxOutput, or (size absent) a maxOutput buffer.
 */
export async function loadZstdWasm(): Promise<Zstd> {
  const zstd = await import('@bokuweb/zstd-wasm');
  await zstd.init(); // compiles the WASM; once per thread (loads are cached by the caller)
  return {
    impl: '@bokuweb/zstd-wasm',
    compress(input, level) {
      checkLevel(level);
      return zstd.compress(input, level);
    },
    decompress(input, maxOutput) {
      const plan = planOutput(input, maxOutput);
      let out: Uint8Array;
      try {
        out = zstd.decompress(input, { defaultHeapSize: plan.capacity });
      } catch (err) {
        throw decodeFailure(plan, err);
      }
      checkProduced(plan, out.length);
      return out;
    },
  };
}
