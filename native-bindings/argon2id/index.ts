import type { Adapter } from '../adapter.js';
import type { Argon2id } from '../types.js';
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
