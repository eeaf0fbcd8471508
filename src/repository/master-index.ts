// In-memory map of every blob in the repository: id → where it is, a few hundred bytes per blob.
// check, prune and repair build one from the index objects they read themselves (they must see
// every entry, duplicates included); backup, restore and ls ask the off-heap index
// (src/index/disk-index.ts) through the same BlobIndex interface.
import type { BlobId, IndexId, PackId } from '../format/ids.js';
import type { IndexFile } from '../format/index-file.js';
import type { BlobIndex, BlobLocation } from './blob-index.js';

export type { BlobIndex, BlobLocation } from './blob-index.js';

export class MasterIndex implements BlobIndex {
  private readonly blobs = new Map<string, BlobLocation>();
  readonly indexIds = new Set<IndexId>();
  private readonly packs = new Set<string>();

  add(indexId: IndexId | null, file: IndexFile): void {
    if (indexId) this.indexIds.add(indexId);
    for (const p of file.packs) {
      this.packs.add(p.packId);
      for (const b of p.blobs) {
        if (!this.blobs.has(b.id)) this.blobs.set(b.id, { packId: p.packId, type: b.type, offset: b.offset, length: b.length, rawLength: b.rawLength });
      }
    }
  }

  has(id: BlobId): boolean {
    return this.blobs.has(id);
  }

  lookup(id: BlobId): BlobLocation | undefined {
    return this.blobs.get(id);
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
