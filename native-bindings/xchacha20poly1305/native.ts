import type { Aead } from '../types.js';
import { allocOwned } from '../bytes.js';
import { checkKeyNonce, KEY_BYTES, TAG_BYTES } from '../aead-common.js';
import { loadSodium, SODIUM } from '../sodium.js';

const NAME = 'XChaCha20-Poly1305';
export const NONCE_BYTES = 24;

/** libsodium's crypto_aead_xchacha20poly1305_ietf_*. */
export async function loadSodiumXChaCha(): Promise<Aead> {
  const sodium = await loadSodium();
  return {
    impl: SODIUM,
    keyBytes: KEY_BYTES,
    nonceBytes: NONCE_BYTES,
    tagBytes: TAG_BYTES,
    seal(key, nonce, plaintext, aad) {
      checkKeyNonce(NAME, key, nonce, NONCE_BYTES);
      const out = allocOwned(plaintext.length + TAG_BYTES);
      sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(out, plaintext, aad, null, nonce, key);
      return out;
    },
    open(key, nonce, sealed, aad) {
      checkKeyNonce(NAME, key, nonce, NONCE_BYTES);
      if (sealed.length < TAG_BYTES) return null;
      const out = allocOwned(sealed.length - TAG_BYTES);
      try {
        sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(out, null, sealed, aad, nonce, key);
      } catch (err) {
        // Sizes were checked above, so this is the verification failure (libsodium has already
        // zeroed `out`). Anything else is a real fault and propagates.
        if (err instanceof Error && err.message === 'could not verify data') return null;
        throw err;
      }
      return out;
    },
  };
}
