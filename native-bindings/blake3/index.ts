import type { Adapter } from '../adapter.js';
import type { Blake3 } from '../types.js';
import { expectBytes, fromHex, patternBytes } from '../bytes.js';
import { loadNapiBlake3 } from './native.js';
import { loadBlake3Wasm, loadHashWasmBlake3 } from './fallback.js';
import { OFFICIAL_KEY, OFFICIAL_VECTORS, SECOND_KEY_VECTOR } from './vectors.js';

export const blake3Adapter: Adapter<Blake3> = {
  primitive: 'blake3',
  candidates: [
    { impl: '@napi-rs/blake-hash', kind: 'native', load: loadNapiBlake3 },
    { impl: 'blake3-wasm', kind: 'wasm', load: loadBlake3Wasm },
    { impl: 'hash-wasm', kind: 'wasm', load: loadHashWasmBlake3 },
  ],
  selfTest: async (b) => selfTestBlake3(b),
};

export function selfTestBlake3(b: Blake3): void {
  const officialKey = new TextEncoder().encode(OFFICIAL_KEY);
  for (const v of OFFICIAL_VECTORS) {
    const input = patternBytes(v.inputLen);
    expectBytes(`hash(${v.inputLen} bytes)`, b.hash(input), fromHex(v.hash));
    expectBytes(`keyedHash(${v.inputLen} bytes)`, b.keyedHash(officialKey, input), fromHex(v.keyedHash));
  }
  const second = patternBytes(SECOND_KEY_VECTOR.inputLen);
  expectBytes('keyedHash with a second key', b.keyedHash(fromHex(SECOND_KEY_VECTOR.keyHex), second), fromHex(SECOND_KEY_VECTOR.keyedHash));
  const first = OFFICIAL_VECTORS[1];
  if (first !== undefined) {
    expectBytes('keyedHash back on the first key', b.keyedHash(officialKey, patternBytes(first.inputLen)), fromHex(first.keyedHash));
  }
}
