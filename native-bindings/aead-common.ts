import type { Aead } from './types.js';
import { expectBytes, fromHex } from './bytes.js';

export const KEY_BYTES = 32;
export const TAG_BYTES = 16;

/**
 * Wrong key or nonce sizes are programming errors, not tampering: every implementation throws
 * the same RangeError for them before touching the data (and never echoes the key).
 */
export function checkKeyNonce(name: string, key: Uint8Array, nonce: Uint8Array, nonceBytes: number): void {
  if (key.length !== KEY_BYTES) throw new RangeError(`${name} key must be ${KEY_BYTES} bytes, got ${key.length}`);
  if (nonce.length !== nonceBytes) throw new RangeError(`${name} nonce must be ${nonceBytes} bytes, got ${nonce.length}`);
}

export interface AeadVector {
  readonly name: string;
  readonly key: string;
  readonly nonce: string;
  readonly aad: string;
  readonly plaintext: string;
  /** ciphertext || tag */
  readonly sealed: string;
}

/** Known answers, plus the contract that tampering yields null rather than an exception. */
export function selfTestAead(aead: Aead, vectors: readonly AeadVector[]): void {
  for (const v of vectors) {
    const key = fromHex(v.key);
    const nonce = fromHex(v.nonce);
    const aad = fromHex(v.aad);
    const plaintext = fromHex(v.plaintext);
    const sealed = fromHex(v.sealed);
    expectBytes(`${v.name} seal`, aead.seal(key, nonce, plaintext, aad), sealed);
    expectBytes(`${v.name} open`, aead.open(key, nonce, sealed, aad), plaintext);
    const into = new Uint8Array(sealed.length);
    aead.sealInto(key, nonce, plaintext, aad, into);
    expectBytes(`${v.name} sealInto`, into, sealed);
    const back = new Uint8Array(plaintext.length);
    if (!aead.openInto(key, nonce, sealed, aad, back)) throw new Error(`${v.name}: openInto refused a valid input`);
    expectBytes(`${v.name} openInto`, back, plaintext);
    const tampered = Uint8Array.from(sealed);
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 1;
    if (aead.open(key, nonce, tampered, aad) !== null) throw new Error(`${v.name}: open accepted a modified tag`);
    if (aead.open(key, nonce, sealed.subarray(0, TAG_BYTES - 1), aad) !== null) {
      throw new Error(`${v.name}: open accepted input shorter than a tag`);
    }
  }
}

/** The two `…Into` methods of an Aead whose implementation can only return fresh buffers: a copy each. */
export function intoByCopy(name: string, seal: Aead['seal'], open: Aead['open']): Pick<Aead, 'sealInto' | 'openInto'> {
  return {
    sealInto(key, nonce, plaintext, aad, out) {
      checkOutLength(name, out, plaintext.length + TAG_BYTES);
      out.set(seal(key, nonce, plaintext, aad));
    },
    openInto(key, nonce, sealed, aad, out) {
      if (sealed.length < TAG_BYTES) return false;
      checkOutLength(name, out, sealed.length - TAG_BYTES);
      const plain = open(key, nonce, sealed, aad);
      if (plain === null) {
        out.fill(0);
        return false;
      }
      out.set(plain);
      return true;
    },
  };
}

/** A wrongly sized output is a programming error: every implementation throws the same RangeError. */
export function checkOutLength(name: string, out: Uint8Array, expected: number): void {
  if (out.length !== expected) throw new RangeError(`${name} output must be ${Math.max(0, expected)} bytes, got ${out.length}`);
}
