// The packs check finds in the storage, and the ones --read-data-subset picks: the packs the index
// names by their canonical number in typed arrays (src/disk-index/pack-table.ts), the few others
// (left by an interrupted backup or prune) in a Map. About 40 bytes per pack, nothing per blob.
import type { PackId } from '../format/ids.js';
import type { PackTable } from '../disk-index/pack-table.js';
import { BitSet } from '../util/bitset.js';

export class StoredPacks {
  private readonly table: PackTable;
  /** Stored size by canonical number, -1 when not stored. */
  private readonly sizes: Float64Array;
  /** Stored packs the index does not name, and their sizes. */
  readonly unindexed = new Map<PackId, number>();
  /** Packs stored in all. */
  count = 0;

  constructor(table: PackTable, packNumbers: number) {
    this.table = table;
    this.sizes = new Float64Array(packNumbers).fill(-1);
  }

  add(id: PackId, size: number): void {
    const no = this.table.numberOf(id);
    if (no >= 0) this.sizes[no] = size;
    else this.unindexed.set(id, size);
    this.count++;
  }

  /** The stored size of the pack with canonical number `no`, or -1 when it is missing. */
  sizeOf(no: number): number {
    return this.sizes[no]!;
  }

  has(id: PackId): boolean {
    const no = this.table.numberOf(id);
    return no >= 0 ? this.sizes[no]! >= 0 : this.unindexed.has(id);
  }

  /**
   * A random `percent`% of the stored packs (at least one when above 0), chosen once: the indexed
   * ones as bits by canonical number, the others by id.
   */
  pick(percent: number): { indexed: BitSet; unindexed: Set<PackId> } {
    const storedIndexed = this.table.numbers.filter((no) => this.sizes[no]! >= 0);
    const others = [...this.unindexed.keys()];
    const total = storedIndexed.length + others.length;
    const want = Math.min(total, Math.max(percent > 0 ? 1 : 0, Math.round((total * percent) / 100)));
    // Floyd's sampling: `want` distinct positions in 0..total-1, one bit each.
    const chosen = new BitSet(Math.max(1, total));
    for (let j = total - want; j < total; j++) {
      const t = Math.floor(Math.random() * (j + 1));
      chosen.add(chosen.has(t) ? j : t);
    }
    const indexed = new BitSet(Math.max(1, this.sizes.length));
    const unindexed = new Set<PackId>();
    for (let i = 0; i < total; i++) {
      if (!chosen.has(i)) continue;
      if (i < storedIndexed.length) indexed.add(storedIndexed[i]!);
      else unindexed.add(others[i - storedIndexed.length]!);
    }
    return { indexed, unindexed };
  }
}
