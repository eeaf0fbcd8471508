import type { Aead } from '../types.js';
import { nobleAead } from '../noble-aead.js';
import { NONCE_BYTES } from './native.js';

const NAME = 'AES-256-GCM';

/**
 * Pure JavaScript (~40-70 MiB/s), for a Node built without aes-256-gcm; never chosen otherwise.
 * Parity tests keep it byte-identical to node:crypto.
 */
export async function loadNobleAesGcm(): Promise<Aead> {
  const { gcm } = await import('@noble/ciphers/aes.js');
  return nobleAead(NAME, NONCE_BYTES, gcm, 'aes-gcm: invalid tag');
}
