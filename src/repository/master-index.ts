// In-memory map of every blob in the repository: id → where it is, a few hundred bytes per blob.
// check, prune and repair build one from the index objects they read themselves (they must see
// every entry, duplicates included); backup, restore and ls ask the off-heap index
// (src/disk-index/disk-index.ts) through the same BlobIndex interface.
//
// `supersedes` is honoured whatever order index objects are added in: an index object named in
// another one's supersedes list contributes nothing (FORMAT.md "Index objects"). Index objects of
// before a prune, copied back by an rsync without --delete (or by anyone who can write to the
// storage), would otherwise send readers to packs that prune deleted.
import type { BlobId, IndexId, PackId } from '../format/ids.js';
import type { IndexFile } from '../format/index-file.js';
import type { BlobIndex, BlobLocation } from './blob-index.js';

export type { BlobIndex, BlobLocation } from './blob-index.js';

/** Where a location came from: the number of its index object in `sources`, or -1 (not stored). */
interface Entry extends BlobLocation {
  readonly source: number;
}

export class MasterIndex implements BlobIndex {
  /** Every location of each blob, in the order their index objects were added. */
  private readonly blobs = new Map<string, Entry[]>();
  /** Index objects whose entries are in, in the order added. */
  readonly indexIds = new Set<IndexId>();
  /** Index objects some added object supersedes (their entries are left out, or taken out). */
  readonly supersededIds = new Set<IndexId>();
  /** Index objects added but left out because another supersedes them. */
  readonly ignoredIds = new Set<IndexId>();
  private readonly sources: (IndexId | null)[] = [];
  /** Pack → how many added index objects (with entries in) name it. */
  private readonly packs = new Map<string, number>();
  /** The packs each stored index object named, to take them out again if it is superseded later. */
  private readonly packsOf = new Map<IndexId, PackId[]>();

  add(indexId: IndexId | null, file: IndexFile): void {
    const newlySuperseded = file.supersedes.filter((s) => s !== indexId && !this.supersededIds.has(s));
    for (const s of newlySuperseded) this.supersededIds.add(s);
    const purge = newlySuperseded.filter((s) => this.indexIds.has(s));
    if (purge.length > 0) this.remove(new Set(purge));
    if (indexId && this.supersededIds.has(indexId)) {
      this.ignoredIds.add(indexId);
      return;
    }
    if (indexId) {
      this.indexIds.add(indexId);
      this.packsOf.set(indexId, file.packs.map((p) => p.packId));
    }
    const source = this.sources.push(indexId) - 1;
    for (const p of file.packs) {
      this.packs.set(p.packId, (this.packs.get(p.packId) ?? 0) + 1);
      for (const b of p.blobs) {
        const entry: Entry = { packId: p.packId, type: b.type, offset: b.offset, length: b.length, rawLength: b.rawLength, source };
        const list = this.blobs.get(b.id);
        if (!list) this.blobs.set(b.id, [entry]);
        else if (!list.some((e) => e.packId === entry.packId && e.offset === entry.offset)) list.push(entry);
      }
    }
  }

  /** Takes out the entries of index objects added before a later one superseded them (rare: a scan). */
  private remove(ids: Set<IndexId>): void {
    const sources = new Set<number>();
    this.sources.forEach((id, i) => {
      if (id && ids.has(id)) sources.add(i);
    });
    for (const [blob, list] of this.blobs) {
      const kept = list.filter((e) => !sources.has(e.source));
      if (kept.length === 0) this.blobs.delete(blob);
      else if (kept.length !== list.length) this.blobs.set(blob, kept);
    }
    for (const id of ids) {
      this.indexIds.delete(id);
      this.ignoredIds.add(id);
      for (const p of this.packsOf.get(id) ?? []) {
        const n = (this.packs.get(p) ?? 1) - 1;
        if (n <= 0) this.packs.delete(p);
        else this.packs.set(p, n);
      }
      this.packsOf.delete(id);
    }
  }

  has(id: BlobId): boolean {
    return this.blobs.has(id);
  }

  /** The first location in the order index objects were added (every reader picks the same one). */
  lookup(id: BlobId): BlobLocation | undefined {
    const e = this.blobs.get(id)?.[0];
    return e ? strip(e) : undefined;
  }

  lookupAll(id: BlobId): BlobLocation[] {
    return (this.blobs.get(id) ?? []).map(strip);
  }

  /** Whether an index object is superseded by another one added (its entries are not used). */
  isSuperseded(id: IndexId): boolean {
    return this.supersededIds.has(id);
  }

  packIds(): IterableIterator<PackId> {
    return this.packs.keys() as IterableIterator<PackId>;
  }

  hasPack(id: PackId): boolean {
    return this.packs.has(id);
  }

  get blobCount(): number {
    return this.blobs.size;
  }

  get packCount(): number {
    return this.packs.size;
  }
}

function strip(e: Entry): BlobLocation {
  return { packId: e.packId, type: e.type, offset: e.offset, length: e.length, rawLength: e.rawLength };
}
