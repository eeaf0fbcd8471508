// The repository config object (FORMAT.md "Config"): JSON, sealed with the master key.
import { ErrorCode, FormatError } from '../errors/engine-error.js';
import { type ChunkerParams, validateChunkerParams } from '../chunker/fastcdc.js';

/**
 * Written by `init`; 2 adds locks, 3 chunked trees, 4 names and link targets that are not UTF-8
 * (FORMAT.md "Versions"): an engine that reads version 3 would restore those with U+FFFD.
 */
export const REPO_VERSION = 4;
/**
 * Written only by `init --copy-chunker-params`: the config carries the blob-id and gear keys of
 * another repository (`idKeys`), so both give a chunk the same id and cut (FORMAT.md "Versions").
 * An engine that reads version 4 would derive those keys from its master key instead and find
 * every blob's id wrong, so it must refuse the repository.
 */
export const SHARED_KEYS_VERSION = 5;
/** Read: an older repository is used as it is until a prune, a chunked tree or a byte name upgrades it. */
export const READABLE_VERSIONS: readonly number[] = [1, 2, 3, 4, 5];

/** K_id and K_gear (FORMAT.md "Key derivation"), hex, taken from the repository a copy comes from. */
export interface IdKeys {
  blobId: string;
  gear: string;
}

export interface RepoConfig {
  version: 1 | 2 | 3 | 4 | 5;
  /** Random 32-byte id, hex: names the local cache and tells repositories apart. */
  id: string;
  chunker: { algorithm: 'fastcdc-v1' } & ChunkerParams;
  compression: { algorithm: 'zstd'; level: number };
  /** Cipher for new objects; every object records its own suite, so this may change later. */
  cipher: 'xchacha20-poly1305' | 'aes-256-gcm';
  packSizeBytes: number;
  created: string;
  /** Version 5 only: used in place of the K_id and K_gear derived from the master key. */
  idKeys?: IdKeys;
}

export function encodeConfig(c: RepoConfig): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(c));
}

export function decodeConfig(bytes: Uint8Array): RepoConfig {
  let o: RepoConfig;
  try {
    o = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as RepoConfig;
  } catch (err) {
    throw new FormatError(ErrorCode.FORMAT_CORRUPT, `config: not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new FormatError(ErrorCode.FORMAT_CORRUPT, 'config: not a JSON object');
  if (!READABLE_VERSIONS.includes(o.version)) {
    throw new FormatError(ErrorCode.FORMAT_UNSUPPORTED, `config: repository version ${String(o.version)} is not supported by this engine (reads versions ${READABLE_VERSIONS.join(', ')})`, {
      hint: 'upgrade engine to a version that reads this repository',
    });
  }
  const bad = o.chunker?.algorithm !== 'fastcdc-v1' ? 'unknown chunker' : validateChunkerParams(o.chunker);
  if (bad) throw new FormatError(ErrorCode.FORMAT_CORRUPT, `config: ${bad}`);
  if (o.compression?.algorithm !== 'zstd' || !Number.isInteger(o.compression.level)) throw new FormatError(ErrorCode.FORMAT_CORRUPT, 'config: bad compression settings');
  if (o.cipher !== 'xchacha20-poly1305' && o.cipher !== 'aes-256-gcm') throw new FormatError(ErrorCode.FORMAT_UNSUPPORTED, `config: unknown cipher ${String(o.cipher)}`);
  if (!Number.isInteger(o.packSizeBytes) || o.packSizeBytes < 1024 * 1024 || o.packSizeBytes > 1024 * 1024 * 1024) throw new FormatError(ErrorCode.FORMAT_CORRUPT, 'config: bad pack size');
  const keysProblem = idKeysProblem(o);
  if (keysProblem) throw new FormatError(ErrorCode.FORMAT_CORRUPT, `config: ${keysProblem}`);
  return o;
}

const KEY_HEX = /^[0-9a-f]{64}$/;

/** Version 5 and `idKeys` go together: keys in an older version would be ignored by the engines that read it. */
function idKeysProblem(o: RepoConfig): string | null {
  if (o.version !== SHARED_KEYS_VERSION) return o.idKeys === undefined ? null : `idKeys in a version ${o.version} config`;
  const k = o.idKeys;
  if (typeof k !== 'object' || k === null) return 'version 5 without idKeys';
  if (typeof k.blobId !== 'string' || !KEY_HEX.test(k.blobId) || typeof k.gear !== 'string' || !KEY_HEX.test(k.gear)) return 'idKeys are not two 32-byte keys in hex';
  return null;
}
