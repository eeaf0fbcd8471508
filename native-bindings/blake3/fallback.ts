import type { Blake3 } from '../types.js';
import { importOptional, requireFunctions } from '../optional-module.js';
import { checkKey, KEY_BYTES, OUT_BYTES } from './common.js';

// Inputs are fed to WASM in slices: both libraries copy input into WASM memory, which never
// shrinks, so slicing keeps each instance at about 1 MiB whatever the blob size (no speed cost).
const SLICE = 64 * 1024;

interface Updatable {
  update(input: Uint8Array): unknown;
}
function feed(hasher: Updatable, data: Uint8Array): void {
  for (let off = 0; off < data.length; off += SLICE) hasher.update(data.subarray(off, off + SLICE));
}

// The wasm-bindgen module inside blake3-wasm 2.1.5. Its high-level keyedHash() never frees the
// WASM hasher it creates (measured: ~1.9 KB of WASM memory lost per call, 385 MB after 200k
// calls), so we drive the low-level module and free every hasher ourselves.
const BLAKE3_WASM = 'blake3-wasm/dist/wasm/nodejs/blake3_js.js';
interface WasmBindgenHasher {
  update(input: Uint8Array): void;
  digest(out: Uint8Array): void;
  free(): void;
}
interface Blake3WasmModule {
  create_hasher(): WasmBindgenHasher;
  create_keyed(key: Uint8Array): WasmBindgenHasher;
}

export async function loadBlake3Wasm(): Promise<Blake3> {
  // The module compiles and instantiates its WASM synchronously when first imported.
  const mod = requireFunctions<Blake3WasmModule>(BLAKE3_WASM, await importOptional(BLAKE3_WASM), ['create_hasher', 'create_keyed']);
  const run = (hasher: WasmBindgenHasher, data: Uint8Array): Uint8Array => {
    try {
      feed(hasher, data);
      const out = new Uint8Array(OUT_BYTES);
      hasher.digest(out);
      return out;
    } finally {
      hasher.free();
    }
  };
  return {
    impl: 'blake3-wasm',
    hash: (data) => run(mod.create_hasher(), data),
    keyedHash(key, data) {
      checkKey(key);
      return run(mod.create_keyed(key), data);
    },
  };
}

export async function loadHashWasmBlake3(): Promise<Blake3> {
  const { createBLAKE3 } = await import('hash-wasm');
  const plain = await createBLAKE3(OUT_BYTES * 8);
  // hash-wasm only takes a key when a hasher is created (asynchronously), but keyedHash is
  // synchronous. Its init() re-reads the key from the array given at creation, which it keeps by
  // reference, so one keyed hasher serves every key: write the key into that slot, then init().
  // The self-test hashes with two different keys, so a hash-wasm that copied the key would be
  // rejected rather than silently hash with a stale key.
  const keySlot = new Uint8Array(KEY_BYTES);
  const keyed = await createBLAKE3(OUT_BYTES * 8, keySlot);
  return {
    impl: 'hash-wasm',
    hash(data) {
      plain.init();
      feed(plain, data);
      return plain.digest('binary');
    },
    keyedHash(key, data) {
      checkKey(key);
      keySlot.set(key);
      keyed.init();
      keySlot.fill(0);
      feed(keyed, data);
      return keyed.digest('binary');
    },
  };
}
