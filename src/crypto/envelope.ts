// The sealed envelope that wraps every encrypted thing in a repository (FORMAT.md "Envelope"):
//
//   version u8 (=1) | suite u8 | nonce (24 or 12 bytes) | AEAD(ciphertext || tag16)
//   AEAD plaintext = compression u8 (0 none, 1 zstd) || payload;  AAD = the first two bytes.
//
// The suite is recorded per object so a repository can change cipher gradually and a restore host
// without AES instructions can still read XChaCha20 data.
import { randomFillSync } from 'node:crypto';
import type { Primitives } from '../../native-bindings/types.js';
import { AuthenticationFailedError, IntegrityError } from '../errors/engine-error.js';
import { type Codec, Compression, codecFor } from './compression.js';
import { looksIncompressible } from './incompressible.js';
import { type CipherSuite, cipherSuite, findSuite, Suite, type SuiteKeys } from './suites.js';

export { Compression } from './compression.js';
export { CipherName, Suite } from './suites.js';

export const ENVELOPE_VERSION = 1;

export const TAG_BYTES = 16;

export function nonceBytes(suite: Suite): number {
  return cipherSuite(suite).nonceBytes;
}

/** Bytes an envelope adds to its payload (excluding the saving or cost of compression). */
export function envelopeOverhead(suite: Suite): number {
  return 2 + nonceBytes(suite) + TAG_BYTES + 1;
}

export interface SealOptions {
  suite: Suite;
  /** zstd level, or null to store the payload uncompressed. */
  zstdLevel: number | null;
  /** Only for test vectors: a fixed nonce. Never set it otherwise: nonces must be random. */
  fixedNonceForTestVectors?: Uint8Array;
}

/** Compresses (when it pays) and encrypts a payload into one envelope. */
export function seal(p: Primitives, keys: SuiteKeys, payload: Uint8Array, opts: SealOptions): Uint8Array {
  let body: Uint8Array = payload;
  let compression: number = Compression.NONE;
  const level = compressionLevel(payload, opts);
  if (level !== null) {
    const z = p.zstd.compress(payload, level);
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

/**
 * The zstd level to try on the payload, or null to store it raw: null when no level is set, and
 * when the payload looks random (crypto/incompressible.ts), so data that would not shrink costs
 * no compression pass. The decision depends on the bytes alone, so seal() and sealInto() make the
 * same envelope on every machine, with native or fallback primitives.
 */
function compressionLevel(payload: Uint8Array, opts: SealOptions): number | null {
  if (opts.zstdLevel === null || payload.length === 0 || looksIncompressible(payload)) return null;
  return opts.zstdLevel;
}

function sealRaw(p: Primitives, keys: SuiteKeys, id: Suite, plain: Uint8Array, fixedNonce?: Uint8Array): Uint8Array {
  const suite = cipherSuite(id);
  const nb = suite.nonceBytes;
  const out = new Uint8Array(2 + nb + plain.length + TAG_BYTES);
  out[0] = ENVELOPE_VERSION;
  out[1] = suite.id;
  const nonce = out.subarray(2, 2 + nb);
  if (fixedNonce) nonce.set(fixedNonce.subarray(0, nb));
  else randomFillSync(nonce);
  const ct = suite.aead(p).seal(suite.key(keys), nonce, plain, out.subarray(0, 2));
  out.set(ct, 2 + nb);
  return out;
}

/**
 * Authenticates, decrypts and decompresses an envelope. `maxPayload` bounds decompression so a
 * forged or corrupt frame cannot exhaust memory. Throws IntegrityError when authentication fails.
 */
export function open(p: Primitives, keys: SuiteKeys, sealed: Uint8Array, maxPayload: number, what: string): Uint8Array {
  const suite = checkHeader(sealed, what);
  const nb = suite.nonceBytes;
  const plain = suite.aead(p).open(suite.key(keys), sealed.subarray(2, 2 + nb), sealed.subarray(2 + nb), sealed.subarray(0, 2));
  if (plain === null) throw authenticationFailed(what);
  return codecFor(plain[0]!, what).decode(p, plain.subarray(1), maxPayload, what);
}

function authenticationFailed(what: string): AuthenticationFailedError {
  return new AuthenticationFailedError(`${what}: authentication failed (data is damaged or was not written with this repository's key)`);
}

/** The envelope's version and suite bytes and its length, checked: returns the suite. */
function checkHeader(sealed: Uint8Array, what: string): CipherSuite {
  if (sealed.length < 2) throw new IntegrityError(`${what}: truncated envelope (${sealed.length} bytes)`);
  const version = sealed[0];
  const id = sealed[1] ?? 0;
  if (version !== ENVELOPE_VERSION) {
    throw new IntegrityError(`${what}: unknown envelope version ${version}`);
  }
  const suite = findSuite(id);
  if (!suite) {
    // Suites are part of format version 1 and a newer suite comes with a newer config version,
    // which this engine refuses before reading any object: here it can only be damage.
    throw new IntegrityError(`${what}: unknown cipher suite ${id} (damaged data)`);
  }
  if (sealed.length < 2 + suite.nonceBytes + TAG_BYTES + 1) throw new IntegrityError(`${what}: truncated envelope (${sealed.length} bytes)`);
  return suite;
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

/**
 * Seals and opens envelopes into buffers the caller provides, keeping its scratch space between
 * calls, so the workers' per-blob path allocates nothing. This matters for speed more than it
 * looks: the launcher returns freed memory to the system at once (docs/MEMORY.md), so every fresh
 * chunk-sized buffer is fresh pages to fault in and zero (measured: 0.15 s of a 0.9 s backup of
 * 128 MiB). The bytes are exactly those of seal() and open().
 */
const KEEP_SCRATCH_BYTES = 16 * 1024 * 1024;

export class EnvelopeWorkspace {
  private readonly p: Primitives;
  private readonly keys: SuiteKeys;
  /** Compression byte || zstd frame or payload: the AEAD plaintext of a seal; also open()'s payload scratch. */
  private staging = new Uint8Array(0);
  /** Decrypted compression byte || body of an open. */
  private plain = new Uint8Array(0);

  constructor(p: Primitives, keys: SuiteKeys) {
    this.p = p;
    this.keys = keys;
  }

  /** The most bytes sealInto writes for a payload of this length (compression is kept only when it pays). */
  static sealedBound(suite: Suite, payloadLength: number): number {
    return envelopeOverhead(suite) + payloadLength;
  }

  /** seal() into `out` (at least sealedBound bytes); returns the envelope's length. */
  sealInto(payload: Uint8Array, opts: SealOptions, out: Uint8Array): number {
    const suite = cipherSuite(opts.suite);
    const nb = suite.nonceBytes;
    const bound = EnvelopeWorkspace.sealedBound(suite.id, payload.length);
    if (out.length < bound) throw new RangeError(`sealInto needs ${bound} bytes of output, got ${out.length}`);
    let plainLength = 0;
    let staging: Uint8Array;
    const level = compressionLevel(payload, opts);
    if (level !== null) {
      staging = this.grow('staging', 1 + this.p.zstd.compressBound(payload.length));
      const n = this.p.zstd.compressInto(payload, level, staging.subarray(1));
      // Stored raw when compression does not pay, as seal() does.
      if (n < payload.length) {
        staging[0] = Compression.ZSTD;
        plainLength = 1 + n;
      }
    } else {
      staging = this.grow('staging', 1 + payload.length);
    }
    if (plainLength === 0) {
      staging[0] = Compression.NONE;
      staging.set(payload, 1);
      plainLength = 1 + payload.length;
    }
    out[0] = ENVELOPE_VERSION;
    out[1] = suite.id;
    const nonce = out.subarray(2, 2 + nb);
    if (opts.fixedNonceForTestVectors) nonce.set(opts.fixedNonceForTestVectors.subarray(0, nb));
    else randomFillSync(nonce);
    const length = 2 + nb + plainLength + TAG_BYTES;
    suite.aead(this.p).sealInto(suite.key(this.keys), nonce, staging.subarray(0, plainLength), out.subarray(0, 2), out.subarray(2 + nb, length));
    return length;
  }

  /** open() into `out`, whose length is the payload limit; returns the payload's length. */
  openInto(sealed: Uint8Array, out: Uint8Array, what: string): number {
    const { codec, body } = this.decrypt(sealed, what);
    return codec.decodeInto(this.p, body, out, what);
  }

  /**
   * open() into the workspace's own scratch: the payload view is valid until the next call on this
   * workspace (for reading back what was just sealed, with no buffer of the caller's).
   */
  openScratch(sealed: Uint8Array, maxPayload: number, what: string): Uint8Array {
    const { codec, body } = this.decrypt(sealed, what);
    // A stored payload is returned where it was decrypted; a compressed one is decoded into staging.
    if (codec.stored) return codec.decode(this.p, body, maxPayload, what);
    const out = this.grow('staging', maxPayload);
    return out.subarray(0, codec.decodeInto(this.p, body, out.subarray(0, maxPayload), what));
  }

  /** Authenticates and decrypts into `plain`; the same checks and errors as open(). */
  private decrypt(sealed: Uint8Array, what: string): { codec: Codec; body: Uint8Array } {
    const suite = checkHeader(sealed, what);
    const nb = suite.nonceBytes;
    const ct = sealed.subarray(2 + nb);
    const plain = this.grow('plain', ct.length - TAG_BYTES).subarray(0, ct.length - TAG_BYTES);
    if (!suite.aead(this.p).openInto(suite.key(this.keys), sealed.subarray(2, 2 + nb), ct, sealed.subarray(0, 2), plain)) throw authenticationFailed(what);
    return { codec: codecFor(plain[0]!, what), body: plain.subarray(1) };
  }

  /**
   * Scratch of at least `length` bytes. Up to KEEP_SCRATCH_BYTES it is kept for the next calls (a
   * data chunk is at most 8 MiB by default); a bigger one (a huge tree blob) serves this call only,
   * so that one outlier does not pin its size for the thread's life.
   */
  private grow(which: 'staging' | 'plain', length: number): Uint8Array {
    if (this[which].length >= length) return this[which];
    const fresh = new Uint8Array(length);
    if (length <= KEEP_SCRATCH_BYTES) this[which] = fresh;
    return fresh;
  }
}
