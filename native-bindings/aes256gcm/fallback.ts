import type { Aead } from '../types.js';
import { checkKeyNonce, KEY_BYTES, TAG_BYTES } from '../aead-common.js';
import { NONCE_BYTES } from './native.js';

const NAME = 'AES-256-GCM';

/**
 * Pure JavaScript (~40-70 MiB/s), for a Node built without aes-256-gcm; never chosen otherwise.
 * Parity tests keep it byte-identical to node:crypto.
 */
export async function loadNobleAesGcm(): Promise<Aead> {
  const { gcm } = await import('@noble/ciphers/aes.js');
  return {
    impl: '@noble/ciphers',
    keyBytes: KEY_BYTES,
    nonceBytes: NONCE_BYTES,
    tagBytes: TAG_BYTES,
    seal(key, nonce, plaintext, aad) {
      checkKeyNonce(NAME, key, nonce, NONCE_BYTES);
      return gcm(key, nonce, aad).encrypt(plaintext);
    },
    open(key, nonce, sealed, aad) {
      checkKeyNonce(NAME, key, nonce, NONCE_BYTES);
      if (sealed.length < TAG_BYTES) return null;
      try {
        return gcm(key, nonce, aad).decrypt(sealed);
      } catch (err) {
        if (err instanceof Error && err.message === 'aes-gcm: invalid tag') return null;
        throw err;
      }
    },
  };
}
