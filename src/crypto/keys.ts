// Subkeys derived from the repository master key, one per purpose, so that no key serves two
// algorithms (see FORMAT.md "Key derivation"). Derivation: keyed BLAKE3(master, ASCII context).
import type { Blake3 } from '../../native-bindings/types.js';

export const MASTER_KEY_BYTES = 32;

export interface RepoKeys {
  /** XChaCha20-Poly1305 key for objects sealed with suite 1. */
  readonly xchacha: Uint8Array;
  /** AES-256-GCM key for objects sealed with suite 2. */
  readonly aes: Uint8Array;
  /** Key of the keyed BLAKE3 that names blobs, so the provider cannot test for known content. */
  readonly blobId: Uint8Array;
  /** Seed of the FastCDC gear table. */
  readonly gear: Uint8Array;
  /**
   * Key of the MACs of the local index cache (never stored in the repository): a cache file that
   * does not carry them is not believed, so "this blob is stored" cannot be forged locally.
   */
  readonly indexCache: Uint8Array;
}

export const KEY_CONTEXTS = {
  xchacha: 'engine.v1.key.xchacha20-poly1305',
  aes: 'engine.v1.key.aes-256-gcm',
  blobId: 'engine.v1.key.blob-id',
  gear: 'engine.v1.key.fastcdc-gear',
  indexCache: 'engine.v1.key.local-index-cache',
} as const;

export function deriveRepoKeys(blake3: Blake3, master: Uint8Array): RepoKeys {
  const d = (ctx: string): Uint8Array => blake3.keyedHash(master, new TextEncoder().encode(ctx));
  return { xchacha: d(KEY_CONTEXTS.xchacha), aes: d(KEY_CONTEXTS.aes), blobId: d(KEY_CONTEXTS.blobId), gear: d(KEY_CONTEXTS.gear), indexCache: d(KEY_CONTEXTS.indexCache) };
}


/**
 * The keys of a repository whose config carries K_id and K_gear of another (version 5, made by
 * `init --copy-chunker-params`): those two taken as given, the rest derived from its own master
 * key, which alone opens its objects (FORMAT.md "Key derivation").
 */
export function repoKeysWithIdKeys(blake3: Blake3, master: Uint8Array, idKeys: { blobId: Uint8Array; gear: Uint8Array } | undefined): RepoKeys {
  const derived = deriveRepoKeys(blake3, master);
  return idKeys ? { ...derived, blobId: idKeys.blobId, gear: idKeys.gear } : derived;
}
