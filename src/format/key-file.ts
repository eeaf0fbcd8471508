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

/**
 * The most Argon2id cost a key file may ask for: what `engine init --kdf-memory/--kdf-time` (and
 * `key add`) accept. Anyone who can write to the storage can plant a key file, and every command
 * runs a key's Argon2id before it knows whether the key is the owner's: a key above these is
 * never run (src/repository/key-store.ts).
 */
export const KDF_LIMITS = {
  minMemoryKiB: 8 * 1024,
  maxMemoryKiB: 1024 * 1024,
  minPasses: 1,
  maxPasses: 100,
} as const;

/** Why a key file's Argon2id cost is refused, or null when it is within KDF_LIMITS. */
export function kdfCostProblem(k: Pick<KeyFile, 't' | 'm'>): string | null {
  if (k.m > KDF_LIMITS.maxMemoryKiB) return `its Argon2id memory (${formatKiB(k.m)}) is above the ${formatKiB(KDF_LIMITS.maxMemoryKiB)} engine accepts`;
  if (k.t > KDF_LIMITS.maxPasses) return `its Argon2id passes (${k.t}) are above the ${KDF_LIMITS.maxPasses} engine accepts`;
  return null;
}

function formatKiB(kib: number): string {
  return kib % (1024 * 1024) === 0 ? `${kib / (1024 * 1024)} GiB` : kib % 1024 === 0 ? `${kib / 1024} MiB` : `${kib} KiB`;
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
