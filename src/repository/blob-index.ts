// What the pipeline asks of the repository index: "do we have this blob?" (backup) and "where is
// it?" (restore, tree reads). Two implementations: MasterIndex, a Map on the heap, and DiskIndex,
// the off-heap cache of DESIGN.md "Memory whatever the repository size". The calls are
// synchronous: the disk index answers most "no"s from its in-memory filter and the rest with a
// positional read of one page, which costs less than a round through the event loop.
import type { BlobId, BlobType, IndexId, PackId } from '../format/ids.js';
import type { IndexFile } from '../format/index-file.js';

export interface BlobLocation {
  readonly packId: PackId;
  readonly type: BlobType;
  readonly offset: number;
  readonly length: number;
  readonly rawLength: number;
}

export interface BlobIndex {
  has(id: BlobId): boolean;
  /** One location of the blob: the first in listing order of the index objects. */
  lookup(id: BlobId): BlobLocation | undefined;
  /**
   * Every indexed location of the blob (one per pack, the one `lookup` gives first), from index
   * objects no other supersedes: a reader whose pack is missing or damaged tries the next one.
   * MasterIndex and DiskIndex both have it; optional only so that small test doubles need not.
   */
  lookupAll?(id: BlobId): BlobLocation[];
  hasPack(id: PackId): boolean;
  /** Adds the entries of an index object this process wrote or adopted (indexId null: not stored). */
  add(indexId: IndexId | null, file: IndexFile): void;
  readonly blobCount: number;
}

/**
 * An index that numbers its entries: `positionOf` is the position of the blob's kept entry in
 * 0..positions-1 (or -1 when it has none), so that "seen" and "used" are one bit per entry
 * (src/repository/seen-blobs.ts) instead of a Set of ids. DiskIndex and ScanIndex have it.
 */
export interface PositionedIndex extends BlobIndex {
  positionOf(id: BlobId): number;
  readonly positions: number;
}
