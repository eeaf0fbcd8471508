// The packs of a private index scan (scan-index.ts), in typed arrays: each pack's canonical number
// (a pack named by two index objects has two numbers: the first is kept), and a hash table from
// pack id to it. About 30 bytes per pack, where a Map of pack ids costs about 150: a repository of
// ten million blobs in 16 MiB packs of ~16 blobs has 600,000 packs.
import type { PackId } from '../format/ids.js';
import type { ScanIndex, ScannedRecord } from './scan-index.js';

/** The canonical number of a pack that only superseded index objects name (no entry carries it). */
export const NO_PACK = 0xffffffff;

export class PackTable {
  private readonly scan: ScanIndex;
  /** Canonical number of each pack number, or NO_PACK. */
  readonly canonical: Uint32Array;
  /** Open addressing: the id's first 8 bytes (two words) per slot, and the canonical number + 1 (0: empty). */
  private readonly keys: Uint32Array;
  private readonly slots: Uint32Array;
  private readonly mask: number;
  /** Canonical numbers, in pack number order. */
  readonly numbers: Uint32Array;

  constructor(scan: ScanIndex) {
    this.scan = scan;
    const n = scan.packCount;
    let size = 16;
    while (size < 2 * n) size *= 2;
    this.mask = size - 1;
    this.keys = new Uint32Array(2 * size);
    this.slots = new Uint32Array(size);
    this.canonical = new Uint32Array(n);
    const numbers: number[] = [];
    for (let no = 0; no < n; no++) {
      const id = scan.packIdOf(no);
      const first = this.numberOf(id);
      if (first >= 0) {
        this.canonical[no] = first;
        continue;
      }
      // Numbers are handed out to the packs of every object read, superseded ones included;
      // those packs are not in the index unless a live object names them too.
      if (!scan.hasPack(id)) {
        this.canonical[no] = NO_PACK;
        continue;
      }
      this.insert(id, no);
      this.canonical[no] = no;
      numbers.push(no);
    }
    this.numbers = Uint32Array.from(numbers);
  }

  /** Packs in the index. */
  get count(): number {
    return this.numbers.length;
  }

  /**
   * Every entry of the scan in id order (a blob's entries adjacent, its kept copy first) with its
   * pack's canonical number, each (blob, pack) once: `f` is told whether the entry is its blob's
   * kept copy; an entry repeating one met before for the same blob and pack goes to `onRepeat`
   * instead, with that one.
   */
  forEachEntry(f: (r: ScannedRecord, packNo: number, first: boolean) => void, opts: { signal?: AbortSignal | undefined; onRepeat?: (r: ScannedRecord, met: ScannedRecord, packNo: number) => void } = {}): void {
    const prevId = Buffer.alloc(32);
    // The entries met so far of the current blob, and their packs' canonical numbers.
    const metOfId: ScannedRecord[] = [];
    const packsOfId: number[] = [];
    let n = 0;
    for (const r of this.scan.records()) {
      if ((++n & 0xffff) === 0) opts.signal?.throwIfAborted();
      const no = this.canonical[r.packNo]!;
      const same = n > 1 && r.buf.compare(prevId, 0, 32, r.at, r.at + 32) === 0;
      if (!same) {
        r.buf.copy(prevId, 0, r.at, r.at + 32);
        metOfId.length = 0;
        packsOfId.length = 0;
      } else {
        const k = packsOfId.indexOf(no);
        if (k >= 0) {
          opts.onRepeat?.(r, metOfId[k]!, no);
          continue;
        }
      }
      metOfId.push(r);
      packsOfId.push(no);
      f(r, no, !same);
    }
  }

  /** The canonical number of a pack, or -1 when the index names no such pack. */
  numberOf(id: PackId): number {
    const hi = Number.parseInt(id.slice(0, 8), 16) >>> 0;
    const lo = Number.parseInt(id.slice(8, 16), 16) >>> 0;
    for (let s = (hi ^ lo) & this.mask; ; s = (s + 1) & this.mask) {
      const v = this.slots[s]!;
      if (v === 0) return -1;
      // A match of the first 8 bytes is checked against the whole id: ids are hashes of what a
      // writer of the storage chose, and 64 bits can be made to collide.
      if (this.keys[2 * s] === hi && this.keys[2 * s + 1] === lo && this.scan.packIdOf(v - 1) === id) return v - 1;
    }
  }

  private insert(id: PackId, no: number): void {
    const hi = Number.parseInt(id.slice(0, 8), 16) >>> 0;
    const lo = Number.parseInt(id.slice(8, 16), 16) >>> 0;
    let s = (hi ^ lo) & this.mask;
    while (this.slots[s] !== 0) s = (s + 1) & this.mask;
    this.keys[2 * s] = hi;
    this.keys[2 * s + 1] = lo;
    this.slots[s] = no + 1;
  }
}
