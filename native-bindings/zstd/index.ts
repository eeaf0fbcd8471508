import type { Adapter } from '../adapter.js';
import type { Zstd } from '../types.js';
import { ZstdDecodeError } from '../errors.js';
import { expectBytes, fromHex, patternBytes } from '../bytes.js';
import { loadZstdNapi } from './native.js';
import { loadZstdWasm } from './fallback.js';
import { loadNodeZstd, NODE_ZSTD } from './builtin.js';
import { GOLDEN_FRAME_SIZED, GOLDEN_FRAME_UNSIZED, GOLDEN_TEXT } from './vectors.js';

export const zstdAdapter: Adapter<Zstd> = {
  primitive: 'zstd',
  candidates: [
    { impl: 'zstd-napi', kind: 'native', load: loadZstdNapi },
    { impl: NODE_ZSTD, kind: 'builtin', load: loadNodeZstd },
    { impl: '@bokuweb/zstd-wasm', kind: 'wasm', load: loadZstdWasm },
  ],
  selfTest: async (z) => selfTestZstd(z),
};

/** Compressed bytes may legitimately differ between builds, so only decoding is a known answer. */
export function selfTestZstd(z: Zstd): void {
  const text = new TextEncoder().encode(GOLDEN_TEXT);
  const sized = fromHex(GOLDEN_FRAME_SIZED);
  expectBytes('golden frame', z.decompress(sized, 1 << 20), text);
  expectBytes('golden frame without size', z.decompress(fromHex(GOLDEN_FRAME_UNSIZED), 1 << 20), text);
  expectDecodeError('maxOutput below the declared size', 'E_ZSTD_TOO_LARGE', () => z.decompress(sized, text.length - 1));
  const corrupt = Uint8Array.from(sized);
  corrupt[corrupt.length - 3] = (corrupt[corrupt.length - 3] ?? 0) ^ 0xff;
  expectDecodeError('corrupt frame', 'E_ZSTD_CORRUPT', () => z.decompress(corrupt, 1 << 20));
  const input = patternBytes(100_000);
  expectBytes('round trip', z.decompress(z.compress(input, 3), input.length), input);
  // The …Into forms: the same frames, in and out of caller-owned buffers.
  const frame = new Uint8Array(z.compressBound(input.length));
  const frameLength = z.compressInto(input, 3, frame);
  expectBytes('compressInto round trip', z.decompress(frame.subarray(0, frameLength), input.length), input);
  const into = new Uint8Array(text.length + 7);
  const produced = z.decompressInto(sized, into);
  expectBytes('golden frame into', into.subarray(0, produced), text);
  expectDecodeError('decompressInto below the declared size', 'E_ZSTD_TOO_LARGE', () => z.decompressInto(sized, into.subarray(0, text.length - 1)));
}

function expectDecodeError(what: string, code: ZstdDecodeError['code'], run: () => unknown): void {
  try {
    run();
  } catch (err) {
    if (err instanceof ZstdDecodeError && err.code === code) return;
    throw new Error(`${what}: expected ${code}, got ${err instanceof Error ? err.message : String(err)}`);
  }
  throw new Error(`${what}: expected ${code}, but it succeeded`);
}
