import type { Aead } from '../types.js';
import { allocOwned } from '../bytes.js';
import { checkKeyNonce, checkOutLength, KEY_BYTES, TAG_BYTES } from '../aead-common.js';
import { loadSodium, SODIUM } from '../sodium.js';

const NAME = 'XChaCha20-Poly1305';
export const NONCE_BYTES = 24;

/** libsodium's crypto_aead_xchacha20poly1305_ietf_*. */
export async function loadSodiumXChaCha(): Promise<Aead> {
  const sodium = await loadSodium();
  const sealInto: Aead['sealInto'] = (key, nonce, plaintext, aad, out) => {
    checkKeyNonce(NAME, key, nonce, NONCE_BYTES);
    checkOutLength(NAME, out, plaintext.length + TAG_BYTES);
    sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(out, plaintext, aad, null, nonce, key);
  };
  const openInto: Aead['openInto'] = (key, nonce, sealed, aad, out) => {
    checkKeyNonce(NAME, key, nonce, NONCE_BYTES);
    if (sealed.length < TAG_BYTES) return false;
    checkOutLength(NAME, out, sealed.length - TAG_BYTES);
    try {
      sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(out, null, sealed, aad, nonce, key);
    } catch (err) {
      // Sizes were checked above, so this is the verification failure (libsodium has already
      // zeroed `out`). Anything else is a real fault and propagates.
      if (err instanceof Error && err.message === 'could not verify data') return false;
      throw err;
    }
    return true;
  };
  return {
    impl: SODIUM,
    keyBytes: KEY_BYTES,
    nonceBytes: NONCE_BYTES,
    tagBytes: TAG_BYTES,
    sealInto,
    openInto,
    seal(key, nonce, plaintext, aad) {
      const out = allocOwned(plaintext.length + TAG_BYTES);
      sealInto(key, nonce, plaintext, aad, out);
      return out;
    },
    open(key, nonce, sealed, aad) {
      checkKeyNonce(NAME, key, nonce, NONCE_BYTES);
      if (sealed.length < TAG_BYTES) return null;
      const out = allocOwned(sealed.length - TAG_BYTES);
      return openInto(key, nonce, sealed, aad, out) ? out : null;
    },
  };
}
