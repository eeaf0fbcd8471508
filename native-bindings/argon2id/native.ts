import type { Argon2id } from '../types.js';
import { allocOwned } from '../bytes.js';
import { loadSodium, SODIUM } from '../sodium.js';
import { checkArgon2Args } from './params.js';

/**
 * libsodium crypto_pwhash (Argon2id v1.3). The async variant runs on the libuv thread pool, so
 * a key derivation (~160 ms at 64 MiB) does not stall the event loop.
 */
export async function loadSodiumArgon2id(): Promise<Argon2id> {
  const sodium = await loadSodium();
  const alg = sodium.crypto_pwhash_ALG_ARGON2ID13;
  return {
    impl: SODIUM,
    async derive(password, salt, params, outBytes) {
      checkArgon2Args(password, salt, params, outBytes);
      const out = allocOwned(outBytes);
      await sodium.crypto_pwhash_async(out, password, salt, params.t, params.mKiB * 1024, alg);
      return out;
    },
  };
}
