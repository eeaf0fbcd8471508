// How modules of src/repository/ other than repository.ts (the locks) reach the storage and the
// keys of an opened repository. Repository keeps both private: code outside src/repository/ asks
// the repository for what it needs by name (packs, snapshots, keys, sealing a blob), and a
// dependency rule keeps this module out of its reach (tests excepted).
import type { Backend } from '../backend/types.js';
import type { RepoKeys } from '../crypto/keys.js';

/** The key of a repository's backend, known only to src/repository/. */
export const STORAGE: unique symbol = Symbol('repository storage');

/** The backend an opened repository stores its objects in. */
export function storageOf(repo: { readonly [STORAGE]: Backend }): Backend {
  return repo[STORAGE];
}

/** The key of a repository's keys, known only to src/repository/. */
export const KEYS: unique symbol = Symbol('repository keys');

/** The keys derived from an opened repository's master key. */
export function keysOf(repo: { readonly [KEYS]: RepoKeys }): RepoKeys {
  return repo[KEYS];
}
