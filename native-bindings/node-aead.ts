// AEAD on node:crypto (OpenSSL): shared by aes-256-gcm and the XChaCha20 construction.
import { createCipheriv, createDecipheriv, getCiphers } from 'node:crypto';
import type { CipherChaCha20Poly1305, CipherGCM, DecipherChaCha20Poly1305, DecipherGCM } from 'node:crypto';
import { allocOwned } from './bytes.js';
import { TAG_BYTES } from './aead-common.js';

export type NodeAeadAlgorithm = 'aes-256-gcm' | 'chacha20-poly1305';

/** Node can be built against a TLS library without some ciphers (BoringSSL, FIPS providers). */
export function requireNodeCipher(algorithm: NodeAeadAlgorithm): void {
  if (!getCiphers().includes(algorithm)) throw new Error(`node:crypto lacks ${algorithm}`);
}

// One call per algorithm so each picks its typed overload (tag length fixed at 16 bytes).
function cipherFor(algorithm: NodeAeadAlgorithm, key: Uint8Array, iv: Uint8Array): CipherGCM | CipherChaCha20Poly1305 {
  return algorithm === 'aes-256-gcm'
    ? createCipheriv(algorithm, key, iv, { authTagLength: TAG_BYTES })
    : createCipheriv(algorithm, key, iv, { authTagLength: TAG_BYTES });
}
function decipherFor(algorithm: NodeAeadAlgorithm, key: Uint8Array, iv: Uint8Array): DecipherGCM | DecipherChaCha20Poly1305 {
  return algorithm === 'aes-256-gcm'
    ? createDecipheriv(algorithm, key, iv, { authTagLength: TAG_BYTES })
    : createDecipheriv(algorithm, key, iv, { authTagLength: TAG_BYTES });
}

export function nodeSeal(
  algorithm: NodeAeadAlgorithm,
  key: Uint8Array,
  iv: Uint8Array,
  plaintext: Uint8Array,
  aad: Uint8Array,
): Uint8Array {
  const cipher = cipherFor(algorithm, key, iv);
  cipher.setAAD(aad, { plaintextLength: plaintext.length });
  // The result is one allocation: ciphertext || tag. update() returns the whole ciphertext for
  // these stream-like modes, but final() is still honoured in case it ever returns bytes.
  const out = allocOwned(plaintext.length + TAG_BYTES);
  const body = cipher.update(plaintext);
  out.set(body, 0);
  const tail = cipher.final();
  if (body.length + tail.length !== plaintext.length) throw new Error(`${algorithm}: unexpected ciphertext length`);
  out.set(tail, body.length);
  out.set(cipher.getAuthTag(), plaintext.length);
  return out;
}

/** null when the tag does not verify (OpenSSL reports that only through final() throwing). */
export function nodeOpen(
  algorithm: NodeAeadAlgorithm,
  key: Uint8Array,
  iv: Uint8Array,
  sealed: Uint8Array,
  aad: Uint8Array,
): Uint8Array | null {
  if (sealed.length < TAG_BYTES) return null;
  const ctLength = sealed.length - TAG_BYTES;
  const decipher = decipherFor(algorithm, key, iv);
  decipher.setAuthTag(sealed.subarray(ctLength));
  decipher.setAAD(aad, { plaintextLength: ctLength });
  const body = decipher.update(sealed.subarray(0, ctLength));
  let tail: Buffer;
  try {
    tail = decipher.final();
  } catch {
    body.fill(0); // unauthenticated plaintext must not linger
    return null;
  }
  if (tail.length === 0 && ownsItsMemory(body)) return body;
  const out = allocOwned(body.length + tail.length);
  out.set(body, 0);
  out.set(tail, body.length);
  return out;
}

// node:crypto returns freshly allocated, exactly sized buffers today; check rather than assume,
// so a result can always be transferred to another thread on its own.
function ownsItsMemory(buf: Buffer): boolean {
  return buf.byteOffset === 0 && buf.buffer.byteLength === buf.length;
}
