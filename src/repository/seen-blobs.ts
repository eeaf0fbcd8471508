// Blobs already met on a walk of snapshots (check, stats): one bit per index entry, keyed by the
// index's positions, so ten million blobs cost 1.25 MB instead of the gigabyte of a Set of their
// ids; the few ids the index does not hold (each reported once by check) are kept in a Set.
import type { BlobId } from '../format/ids.js';
import { BitSet } from '../util/bitset.js';
import type { PositionedIndex } from './blob-index.js';

export class SeenBlobs {
  private readonly index: PositionedIndex;
  private readonly bits: BitSet;
  private readonly unindexed = new Set<string>();
  /** Distinct blobs marked. */
  count = 0;

  constructor(index: PositionedIndex) {
    this.index = index;
    this.bits = new BitSet(index.positions);
  }

  /** Marks the blob seen; whether it was not before. */
  addNew(id: BlobId): boolean {
    const at = this.index.positionOf(id);
    let fresh: boolean;
    if (at >= 0) {
      fresh = this.bits.addNew(at);
    } else {
      fresh = !this.unindexed.has(id);
      if (fresh) this.unindexed.add(id);
    }
    if (fresh) this.count++;
    return fresh;
  }
}
