import type { Aead } from '../types.js';
import { checkKeyNonce, intoByCopy, KEY_BYTES, TAG_BYTES } from '../aead-common.js';
import { nodeOpen, nodeSeal, requireNodeCipher } from '../node-aead.js';

const NAME = 'AES-256-GCM';
export const NONCE_BYTES = 12;

/**
 * node:crypto (OpenSSL, AES-NI/ARMv8 crypto extensions). Native code, but built into Node rather
 * than an optional addon, so its candidate kind is 'js' and ENGINE_NATIVE=off keeps it (see
 * adapter.ts); sodium-native 5 has no AES-256-GCM to offer as a separate native candidate.
 */
export async function loadNodeAesGcm(): Promise<Aead> {
  requireNodeCipher('aes-256-gcm');
  const seal: Aead['seal'] = (key, nonce, plaintext, aad) => {
    checkKeyNonce(NAME, key, nonce, NONCE_BYTES);
    return nodeSeal('aes-256-gcm', key, nonce, plaintext, aad);
  };
  const open: Aead['open'] = (key, nonce, sealed, aad) => {
    checkKeyNonce(NAME, key, nonce, NONCE_BYTES);
    return nodeOpen('aes-256-gcm', key, nonce, sealed, aad);
  };
  // node:crypto has no update-into: its …Into methods copy (AES is not the default cipher).
  return { impl: 'node:crypto', keyBytes: KEY_BYTES, nonceBytes: NONCE_BYTES, tagBytes: TAG_BYTES, seal, open, ...intoByCopy(NAME, seal, open) };
}
