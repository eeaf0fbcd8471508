import type { Blake3 } from '../types.js';
import { asBuffer } from '../bytes.js';
import { importOptional, requireFunctions } from '../optional-module.js';
import { checkKey } from './common.js';

const SPECIFIER = '@napi-rs/blake-hash';

// The part of @napi-rs/blake-hash 1.3.x we use (its own typings are not needed, see optional-module.ts).
interface NapiBlake3Hasher {
  update(input: Buffer): NapiBlake3Hasher;
  reset(): void;
  digestBuffer(): Buffer;
}
interface NapiBlakeHash {
  blake3(input: Buffer): Buffer;
  Blake3Hasher: { newKeyed(key: Buffer): NapiBlake3Hasher };
}

/** Rust `blake3` crate via napi-rs: SIMD (AVX2/AVX-512/NEON), single-threaded. */
export async function loadNapiBlake3(): Promise<Blake3> {
  const mod = requireFunctions<NapiBlakeHash>(SPECIFIER, await importOptional(SPECIFIER), ['blake3', 'Blake3Hasher']);
  if (typeof mod.Blake3Hasher.newKeyed !== 'function') throw new Error(`${SPECIFIER} lacks Blake3Hasher.newKeyed`);
  // Creating a keyed hasher is a native object allocation that costs more than hashing a 4 KiB
  // blob; a repository uses one MAC key, so the last key's hasher is kept and reset() instead.
  let lastKey: Buffer | undefined; // a copy: the caller may reuse its array
  let keyed: NapiBlake3Hasher | undefined;
  return {
    impl: SPECIFIER,
    hash: (data) => mod.blake3(asBuffer(data)),
    keyedHash(key, data) {
      checkKey(key);
      if (keyed === undefined || lastKey === undefined || !lastKey.equals(key)) {
        lastKey = Buffer.from(key);
        keyed = mod.Blake3Hasher.newKeyed(lastKey);
      } else {
        keyed.reset();
      }
      return keyed.update(asBuffer(data)).digestBuffer();
    },
  };
}
