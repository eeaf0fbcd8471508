import type { Adapter } from '../adapter.js';
import type { Argon2id, NativePolicy } from '../types.js';
import { choose } from '../select.js';
import { expectBytes, fromHex } from '../bytes.js';
import { loadSodiumArgon2id } from './native.js';
import { loadHashWasmArgon2id } from './fallback.js';
import { loadNodeArgon2id, NODE_ARGON2 } from './builtin.js';
import { ARGON2_VECTORS } from './vectors.js';

export const argon2idAdapter: Adapter<Argon2id> = {
  primitive: 'argon2id',
  candidates: [
    { impl: 'sodium-native', kind: 'native', load: loadSodiumArgon2id },
    { impl: NODE_ARGON2, kind: 'builtin', load: loadNodeArgon2id },
    { impl: 'hash-wasm', kind: 'wasm', load: loadHashWasmArgon2id },
  ],
  selfTest: selfTestArgon2id,
};

export async function selfTestArgon2id(a: Argon2id): Promise<void> {
  const utf8 = new TextEncoder();
  for (const v of ARGON2_VECTORS) {
    const out = await a.derive(utf8.encode(v.password), utf8.encode(v.salt), v.params, v.outBytes);
    expectBytes(v.name, out, fromHex(v.hash));
  }
}

/**
 * The Argon2id to derive a key with before the other primitives are loaded (the CLI derives the
 * key while the process is small: docs/MEMORY.md): Node's own where it has one (Node >= 24.7:
 * nothing to load, ~5 MiB less than loading libsodium first), else the adapter's choice under the
 * policy. Every implementation gives the same bytes (the self-test vectors).
 */
export async function argon2idForEarlyKey(policy: NativePolicy): Promise<Argon2id> {
  if (policy !== 'fallback') {
    try {
      const a = await loadNodeArgon2id();
      await selfTestArgon2id(a);
      return a;
    } catch {
      // An older Node: the adapter's choice below.
    }
  }
  return (await choose(argon2idAdapter, policy)).value;
}
