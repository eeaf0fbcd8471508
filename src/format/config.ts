// The repository config object (FORMAT.md "Config"): JSON, sealed with the master key.
import { ErrorCode, FormatError } from '../errors/engine-error.js';
import { type ChunkerParams, validateChunkerParams } from '../chunker/fastcdc.js';

/**
 * Written by `init`; 2 adds locks, 3 chunked trees, 4 names and link targets that are not UTF-8
 * (FORMAT.md "Versions"): an engine that reads version 3 would restore those with U+FFFD.
 */
export const REPO_VERSION = 4;
/** Read: an older repository is used as it is until a prune, a chunked tree or a byte name upgrades it. */
export const READABLE_VERSIONS: readonly number[] = [1, 2, 3, 4];

export interface RepoConfig {
  version: 1 | 2 | 3 | 4;
  /** Random 32-byte id, hex: names the local cache and tells repositories apart. */
  id: string;
  chunker: { algorithm: 'fastcdc-v1' } & ChunkerParams;
  compression: { algorithm: 'zstd'; level: number };
  /** Cipher for new objects; every object records its own suite, so this may change later. */
  cipher: 'xchacha20-poly1305' | 'aes-256-gcm';
  packSizeBytes: number;
  created: string;
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
  return o;
}
