import type { Aead } from './types.js';
import { checkKeyNonce, intoByCopy, KEY_BYTES, TAG_BYTES } from './aead-common.js';

/** The shape of @noble/ciphers' AEAD constructors: (key, nonce, aad) → encrypt/decrypt. */
type NobleCipher = (key: Uint8Array, nonce: Uint8Array, aad?: Uint8Array) => { encrypt(p: Uint8Array): Uint8Array; decrypt(c: Uint8Array): Uint8Array };

/**
 * An Aead over a pure-JavaScript @noble/ciphers construction. noble throws on a bad tag; the
 * Aead contract returns null for that (and only that), so the tag error message is matched.
 */
export function nobleAead(name: string, nonceBytes: number, cipher: NobleCipher, badTagMessage: string): Aead {
  const seal: Aead['seal'] = (key, nonce, plaintext, aad) => {
    checkKeyNonce(name, key, nonce, nonceBytes);
    return cipher(key, nonce, aad).encrypt(plaintext);
  };
  const open: Aead['open'] = (key, nonce, sealed, aad) => {
    checkKeyNonce(name, key, nonce, nonceBytes);
    if (sealed.length < TAG_BYTES) return null;
    try {
      return cipher(key, nonce, aad).decrypt(sealed);
    } catch (err) {
      if (err instanceof Error && err.message === badTagMessage) return null;
      throw err;
    }
  };
  return { impl: '@noble/ciphers', keyBytes: KEY_BYTES, nonceBytes, tagBytes: TAG_BYTES, seal, open, ...intoByCopy(name, seal, open) };
}
