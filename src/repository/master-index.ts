// In-memory map of every blob in the repository: id → where it is. The working core keeps it in
// RAM (a few hundred bytes per blob); the off-heap index of DESIGN.md "Memory whatever the
// repository size" replaces this class behind the same methods.
import type { BlobId, BlobType, IndexId, PackId } from '../format/ids.js';
import type { IndexFile } from '../format/index-file.js';

export interface BlobLocation {
  readonly packId: PackId;
  readonly type: BlobType;
  readonly offset: number;
  readonly length: number;
  readonly rawLength: number;
}

export class MasterIndex {
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
