// How modules of src/repository/ other than repository.ts (the locks) reach the storage of an
// opened repository. Repository keeps its backend private: code outside src/repository/ asks the
// repository for what it needs by name (packs, snapshots, keys), and a dependency rule keeps this
// module out of its reach.
import type { Backend } from '../backend/types.js';

/** The key of a repository's backend, known only to src/repository/. */
export const STORAGE: unique symbol = Symbol('repository storage');

/** The backend an opened repository stores its objects in. */
export function storageOf(repo: { readonly [STORAGE]: Backend }): Backend {
  return repo[STORAGE];
}
