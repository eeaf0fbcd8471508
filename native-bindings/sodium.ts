// sodium-native: shared by xchacha20poly1305 and argon2id. Loaded once per thread; on platforms
// without a prebuilt binary (armv7) the import itself throws, which the selection reports.
import { importOptional, requireFunctions } from './optional-module.js';

export const SODIUM = 'sodium-native';

/** The part of sodium-native 5.x we use (it ships no typings). */
export interface Sodium {
  crypto_aead_xchacha20poly1305_ietf_encrypt(
    c: Uint8Array, m: Uint8Array, ad: Uint8Array | null, nsec: null, npub: Uint8Array, k: Uint8Array,
  ): number;
  /** Throws Error('could not verify data') when authentication fails. */
  crypto_aead_xchacha20poly1305_ietf_decrypt(
    m: Uint8Array, nsec: null, c: Uint8Array, ad: Uint8Array | null, npub: Uint8Array, k: Uint8Array,
  ): number;
  /** Runs on the libuv thread pool; resolves when `out` is filled. */
  crypto_pwhash_async(
    out: Uint8Array, passwd: Uint8Array, salt: Uint8Array, opslimit: number, memlimit: number, alg: number,
  ): Promise<void>;
  readonly crypto_pwhash_ALG_ARGON2ID13: number;
}

let loading: Promise<Sodium> | undefined;

export function loadSodium(): Promise<Sodium> {
  loading ??= (async () => {
    const mod = await importOptional(SODIUM);
    const sodium = requireFunctions<Sodium>(SODIUM, mod, [
      'crypto_aead_xchacha20poly1305_ietf_encrypt',
      'crypto_aead_xchacha20poly1305_ietf_decrypt',
      'crypto_pwhash_async',
    ]);
    if (typeof sodium.crypto_pwhash_ALG_ARGON2ID13 !== 'number') throw new Error(`${SODIUM} lacks crypto_pwhash_ALG_ARGON2ID13`);
    return sodium;
  })();
  // A failed load is not cached: the caller reports it, and a later retry starts afresh.
  loading.catch(() => {
    loading = undefined;
  });
  return loading;
}
