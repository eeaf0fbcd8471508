// The entries a process adds to an index it otherwise reads from run files (index objects it
// wrote or adopted since opening, repair's rewritten trees): few, on the heap, and looked up
// before the runs. Shared by the index cache (disk-index.ts) and the private scan (scan-index.ts).
import type { BlobId, PackId } from '../format/ids.js';
import type { IndexFile } from '../format/index-file.js';
import type { BlobLocation } from '../repository/blob-index.js';

export class AddedEntries {
  private readonly blobs = new Map<string, BlobLocation>();
  private readonly packs = new Set<string>();

  /** Takes in an index object's entries; a blob added before keeps its first place, as readers pick. */
  add(file: IndexFile): void {
    for (const p of file.packs) {
      this.packs.add(p.packId);
      for (const b of p.blobs) if (!this.blobs.has(b.id)) this.blobs.set(b.id, { packId: p.packId, type: b.type, offset: b.offset, length: b.length, rawLength: b.rawLength });
    }
  }

  has(id: BlobId): boolean {
    return this.blobs.has(id);
  }

  get(id: BlobId): BlobLocation | undefined {
    return this.blobs.get(id);
  }

  hasPack(id: PackId): boolean {
    return this.packs.has(id);
  }

  /** Blobs added (each once). */
  get size(): number {
    return this.blobs.size;
  }
}
