// Where a large directory's tree is cut into chunks (FORMAT.md "Trees"). The rule depends only on
// the entries themselves, so the same entries always make the same chunk blobs, and it is
// content-defined (a chunk ends after an entry whose name hashes to a boundary), so adding one file
// to a huge directory rewrites about one chunk, not every chunk after it. Pure JS, so the native and
// the fallback builds cut in the same places.
import { encodeName } from '../fs/names.js';

/** Never a hash cut before this many entries in a chunk: no tiny chunks. */
export const TREE_CHUNK_MIN_ENTRIES = 256;
/** A chunk ends at this many entries whatever the names (~1 MiB of files without content). */
export const TREE_CHUNK_MAX_ENTRIES = 4096;
/** A chunk never grows past this encoding (unless it holds one entry that alone is bigger). */
export const TREE_CHUNK_MAX_BYTES = 1024 * 1024;
/**
 * A chunk ends after an entry (at or past the minimum) whose name hash has these bits zero: one
 * entry in 1024, so chunks average ~1280 entries, ~320 KB of files without content and ~400 KB of
 * small files (one content id each).
 */
export const TREE_CHUNK_HASH_MASK = 0x3ff;

/** FNV-1a, 32 bits, of bytes. */
export function fnv1a32(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/**
 * Whether a chunk holding at least the minimum may end after the entry of this name. The hash is
 * of the bytes the name stands for (its UTF-8 when it is text; FORMAT.md "Trees"), so two names
 * that differ only in bytes that are not UTF-8 hash apart.
 */
export function isChunkBoundaryName(name: string): boolean {
  return (fnv1a32(encodeName(name)) & TREE_CHUNK_HASH_MASK) === 0;
}
