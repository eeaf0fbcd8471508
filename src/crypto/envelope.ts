// The sealed envelope that wraps every encrypted thing in a repository (FORMAT.md "Envelope"):
//
//   version u8 (=1) | suite u8 | nonce (24 or 12 bytes) | AEAD(ciphertext || tag16)
//   AEAD plaintext = compression u8 (0 none, 1 zstd) || payload;  AAD = the first two bytes.
//
// The suite is recorded per object so a repository can change cipher gradually and a restore host
// without AES instructions can still read XChaCha20 data.
import { randomFillSync } from 'node:crypto';
import type { Aead, Primitives } from '../../native-bindings/types.js';
import { ErrorCode, FormatError, IntegrityError } from '../errors/engine-error.js';
import type { RepoKeys } from './keys.js';

export const ENVELOPE_VERSION = 1;

export const Suite = { XCHACHA20_POLY1305: 1, AES_256_GCM: 2 } as const;
export type Suite = (typeof Suite)[keyof typeof Suite];

export const CipherName = { 'xchacha20-poly1305': Suite.XCHACHA20_POLY1305, 'aes-256-gcm': Suite.AES_256_GCM } as const;
export type CipherName = keyof typeof CipherName;

export const Compression = { NONE: 0, ZSTD: 1 } as const;

export const TAG_BYTES = 16;

export function nonceBytes(suite: Suite): number {
  return suite === Suite.XCHACHA20_POLY1305 ? 24 : 12;
}

/** Bytes an envelope adds to its payload (excluding the saving or cost of compression). */
export function envelopeOverhead(suite: Suite): number {
  return 2 + nonceBytes(suite) + TAG_BYTES + 1;
}

function aeadFor(p: Primitives, suite: number): Aead {
  if (suite === Suite.XCHACHA20_POLY1305) return p.xchacha20poly1305;
  if (suite === Suite.AES_256_GCM) return p.aes256gcm;
  throw new FormatError(ErrorCode.FORMAT_UNSUPPORTED, `unknown cipher suite ${suite}`, { hint: 'this object was written by a newer engine; upgrade engine' });
}

function keyFor(keys: Pick<RepoKeys, 'xchacha' | 'aes'>, suite: number): Uint8Array {
  return suite === Suite.XCHACHA20_POLY1305 ? keys.xchacha : keys.aes;
}

export interface SealOptions {
  suite: Suite;
  /** zstd level, or null to store the payload uncompressed. */
  zstdLevel: number | null;
  /** Only for test vectors: a fixed nonce. Never set it otherwise: nonces must be random. */
  fixedNonceForTestVectors?: Uint8Array;
}

/** Compresses (when it pays) and encrypts a payload into one envelope. */
export function seal(p: Primitives, keys: Pick<RepoKeys, 'xchacha' | 'aes'>, payload: Uint8Array, opts: SealOptions): Uint8Array {
  let body: Uint8Array = payload;
  let compression: number = Compression.NONE;
  if (opts.zstdLevel !== null && payload.length > 0) {
    const z = p.zstd.compress(payload, opts.zstdLevel);
    // Stored raw when compression does not pay, so incompressible data costs no decompression on restore.
    if (z.length < payload.length) {
      body = z;
      compression = Compression.ZSTD;
    }
  }
  const plain = new Uint8Array(1 + body.length);
  plain[0] = compression;
  plain.set(body, 1);
  return sealRaw(p, keys, opts.suite, plain, opts.fixedNonceForTestVectors);
}

function sealRaw(p: Primitives, keys: Pick<RepoKeys, 'xchacha' | 'aes'>, suite: Suite, plain: Uint8Array, fixedNonce?: Uint8Array): Uint8Array {
  const aead = aeadFor(p, suite);
  const nb = nonceBytes(suite);
  const out = new Uint8Array(2 + nb + plain.length + TAG_BYTES);
  out[0] = ENVELOPE_VERSION;
  out[1] = suite;
  const nonce = out.subarray(2, 2 + nb);
  if (fixedNonce) nonce.set(fixedNonce.subarray(0, nb));
  else randomFillSync(nonce);
  const ct = aead.seal(keyFor(keys, suite), nonce, plain, out.subarray(0, 2));
  out.set(ct, 2 + nb);
  return out;
}

/**
 * Authenticates, decrypts and decompresses an envelope. `maxPayload` bounds decompression so a
 * forged or corrupt frame cannot exhaust memory. Throws IntegrityError when authentication fails.
 */
export function open(p: Primitives, keys: Pick<RepoKeys, 'xchacha' | 'aes'>, sealed: Uint8Array, maxPayload: number, what: string): Uint8Array {
  if (sealed.length < 2) throw new IntegrityError(`${what}: truncated envelope (${sealed.length} bytes)`);
  const version = sealed[0];
  const suite = sealed[1] ?? 0;
  if (version !== ENVELOPE_VERSION) {
    throw new IntegrityError(`${what}: unknown envelope version ${version}`);
  }
  if (suite !== Suite.XCHACHA20_POLY1305 && suite !== Suite.AES_256_GCM) {
    // Suites are part of format version 1 and a newer suite comes with a newer config version,
    // which this engine refuses before reading any object: here it can only be damage.
    throw new IntegrityError(`${what}: unknown cipher suite ${suite} (damaged data)`);
  }
  const aead = aeadFor(p, suite);
  const nb = nonceBytes(suite);
  if (sealed.length < 2 + nb + TAG_BYTES + 1) throw new IntegrityError(`${what}: truncated envelope (${sealed.length} bytes)`);
  const plain = aead.open(keyFor(keys, suite), sealed.subarray(2, 2 + nb), sealed.subarray(2 + nb), sealed.subarray(0, 2));
  if (plain === null) throw new IntegrityError(`${what}: authentication failed (data is damaged or was not written with this repository's key)`);
  const compression = plain[0];
  const body = plain.subarray(1);
  if (compression === Compression.NONE) {
    if (body.length > maxPayload) throw new IntegrityError(`${what}: payload of ${body.length} bytes exceeds the expected ${maxPayload}`);
    return body;
  }
  if (compression === Compression.ZSTD) {
    try {
      return p.zstd.decompress(body, maxPayload);
    } catch (err) {
      throw new IntegrityError(`${what}: cannot decompress (${err instanceof Error ? err.message : String(err)})`);
    }
  }
  throw new IntegrityError(`${what}: unknown compression ${compression}`);
}

/** Envelope with a key that is not a repository key (key files: a password-derived key). */
export function sealWithKey(p: Primitives, key: Uint8Array, payload: Uint8Array): Uint8Array {
  const plain = new Uint8Array(1 + payload.length);
  plain.set(payload, 1);
  return sealRaw(p, { xchacha: key, aes: key }, Suite.XCHACHA20_POLY1305, plain);
}

export function openWithKey(p: Primitives, key: Uint8Array, sealed: Uint8Array, maxPayload: number, what: string): Uint8Array {
  return open(p, { xchacha: key, aes: key }, sealed, maxPayload, what);
}
