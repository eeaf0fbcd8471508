import type { Aead } from '../types.js';
import { checkKeyNonce, intoByCopy, KEY_BYTES, TAG_BYTES } from '../aead-common.js';
import { nodeOpen, nodeSeal, requireNodeCipher } from '../node-aead.js';
import { hchacha20 } from './hchacha20.js';
import { nobleAead } from '../noble-aead.js';

const NAME = 'XChaCha20-Poly1305';
const NONCE_BYTES = 24;

// Scratch for the derived subkey and IETF nonce, reused (seal/open are synchronous and
// createCipheriv copies the key); the subkey is wiped after each use.
const subkey = new Uint8Array(32);
const iv = new Uint8Array(12);

function derive(key: Uint8Array, nonce: Uint8Array): void {
  hchacha20(key, nonce.subarray(0, 16), subkey);
  iv.set(nonce.subarray(16, 24), 4); // iv[0..4] stays zero
}

/** XChaCha20-Poly1305 as HChaCha20 (TypeScript) + node:crypto's IETF ChaCha20-Poly1305. */
export async function loadNodeXChaCha(): Promise<Aead> {
  requireNodeCipher('chacha20-poly1305');
  const seal: Aead['seal'] = (key, nonce, plaintext, aad) => {
    checkKeyNonce(NAME, key, nonce, NONCE_BYTES);
    derive(key, nonce);
    try {
      return nodeSeal('chacha20-poly1305', subkey, iv, plaintext, aad);
    } finally {
      subkey.fill(0);
    }
  };
  const open: Aead['open'] = (key, nonce, sealed, aad) => {
    checkKeyNonce(NAME, key, nonce, NONCE_BYTES);
    derive(key, nonce);
    try {
      return nodeOpen('chacha20-poly1305', subkey, iv, sealed, aad);
    } finally {
      subkey.fill(0);
    }
  };
  return { impl: 'node:crypto+hchacha20', keyBytes: KEY_BYTES, nonceBytes: NONCE_BYTES, tagBytes: TAG_BYTES, seal, open, ...intoByCopy(NAME, seal, open) };
}

/** Last resort, pure JavaScript (~10x slower). */
export async function loadNobleXChaCha(): Promise<Aead> {
  const { xchacha20poly1305 } = await import('@noble/ciphers/chacha.js');
  return nobleAead(NAME, NONCE_BYTES, xchacha20poly1305, 'invalid tag');
}
