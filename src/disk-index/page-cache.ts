// A bounded cache of verified pages shared by every run of the index cache: least recently used
// pages leave first, and their buffers are reused, so the cache holds exactly its capacity.
import { PAGE_BYTES } from './page-file.js';

export class PageCache {
  private readonly pages = new Map<number, Buffer>();
  readonly capacity: number;
  hits = 0;
  misses = 0;

  constructor(capacityBytes: number) {
    this.capacity = Math.max(4, Math.floor(capacityBytes / PAGE_BYTES));
  }

  /** The page `pageNo` of file `owner`, read and checked by `load` on a miss. */
  get(owner: number, pageNo: number, load: (into: Buffer) => void): Buffer {
    const key = owner * 0x1_0000_0000 + pageNo;
    const hit = this.pages.get(key);
    if (hit) {
      this.hits++;
      this.pages.delete(key);
      this.pages.set(key, hit);
      return hit;
    }
    this.misses++;
    let buf: Buffer;
    if (this.pages.size >= this.capacity) {
      const oldest = this.pages.keys().next().value as number;
      buf = this.pages.get(oldest)!;
      this.pages.delete(oldest);
    } else {
      buf = Buffer.allocUnsafeSlow(PAGE_BYTES);
    }
    load(buf);
    this.pages.set(key, buf);
    return buf;
  }

  /** Drops the pages of one file (closed or replaced). */
  forget(owner: number): void {
    for (const key of [...this.pages.keys()]) if (Math.floor(key / 0x1_0000_0000) === owner) this.pages.delete(key);
  }

  get bytes(): number {
    return this.pages.size * PAGE_BYTES;
  }
}
