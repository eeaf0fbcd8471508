// Key files (FORMAT.md "Keys"): clear-text JSON holding the master key sealed under a key derived
// from a password with Argon2id. Several may exist; changing a password rewrites one of them.
import { ErrorCode, FormatError } from '../errors/engine-error.js';

export interface KeyFile {
  version: 1;
  kdf: 'argon2id';
  /** Argon2id iterations, memory in KiB, parallelism. */
  t: number;
  m: number;
  p: 1;
  /** 16 random bytes, base64. */
  salt: string;
  created: string;
  hostname: string;
  username: string;
  /** Envelope (suite 1) of: 0x00 || master key (32 bytes), base64. */
  data: string;
}

export function encodeKeyFile(k: KeyFile): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(k, null, 2));
}

export function decodeKeyFile(bytes: Uint8Array, what: string): KeyFile {
  let o: KeyFile;
  try {
    o = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as KeyFile;
  } catch (err) {
    throw new FormatError(ErrorCode.FORMAT_CORRUPT, `${what}: not a key file (${err instanceof Error ? err.message : String(err)})`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new FormatError(ErrorCode.FORMAT_CORRUPT, `${what}: not a JSON object`);
  if (o.version !== 1 || o.kdf !== 'argon2id') throw new FormatError(ErrorCode.FORMAT_UNSUPPORTED, `${what}: unsupported key file version or KDF`);
  if (!Number.isInteger(o.t) || o.t < 1 || !Number.isInteger(o.m) || o.m < 8 || o.p !== 1 || typeof o.salt !== 'string' || typeof o.data !== 'string') {
    throw new FormatError(ErrorCode.FORMAT_CORRUPT, `${what}: malformed key file`);
  }
  return o;
}
