// Where the workers put their results: one SharedArrayBuffer for the whole run, carved into
// regions. A fresh ArrayBuffer per worker result made the main thread's collector start an
// incremental mark-compact every ~25 MB of results (50 of them, 1.5 CPU s, in a 1 GiB backup; the
// main thread is the pipeline's bottleneck): V8 counts a received ArrayBuffer as new external
// memory, but not a SharedArrayBuffer, and this one is allocated once. A worker writes straight
// into the region it is given. Backup seals blobs into it (the sealer gives back the unused parts
// at once, each blob's part once the uploader has copied it into a pack); restore opens blobs into
// it (given back once the files are written).
//
// This is placement only: a byte budget (ByteBudget) still bounds the bytes in flight. A region
// that does not fit (a fragmented arena) is not waited for: the caller lets the worker allocate its
// own result, as before.

interface Extent {
  offset: number;
  length: number;
}

export interface ArenaRegion {
  readonly offset: number;
  readonly bytes: Uint8Array;
}

export class SharedArena {
  readonly capacityBytes: number;
  private buffer: SharedArrayBuffer | null = null;
  /** Free extents, sorted by offset, never adjacent (merged on free). */
  private readonly free: Extent[];
  private usedBytes = 0;

  constructor(capacityBytes: number) {
    this.capacityBytes = Math.max(0, Math.floor(capacityBytes));
    this.free = this.capacityBytes > 0 ? [{ offset: 0, length: this.capacityBytes }] : [];
  }

  /** Bytes handed out and not yet given back. */
  get inUse(): number {
    return this.usedBytes;
  }

  /** A region of at least `length` bytes (first fit), or null when no free extent is that long. */
  alloc(length: number): ArenaRegion | null {
    const want = Math.max(1, Math.ceil(length));
    const i = this.free.findIndex((e) => e.length >= want);
    if (i < 0) return null;
    const e = this.free[i]!;
    const offset = e.offset;
    if (e.length === want) this.free.splice(i, 1);
    else {
      e.offset += want;
      e.length -= want;
    }
    this.usedBytes += want;
    // Created on first use, so a backup with nothing new to seal never reserves it.
    this.buffer ??= new SharedArrayBuffer(this.capacityBytes);
    return { offset, bytes: new Uint8Array(this.buffer, offset, want) };
  }

  /**
   * Gives back `length` bytes at `offset`: any part of a region from alloc, each byte once (a
   * region is given back piece by piece, as its blobs are packed).
   */
  release(offset: number, length: number): void {
    if (length <= 0) return;
    if (offset < 0 || offset + length > this.capacityBytes) throw new RangeError(`arena release outside the arena: ${offset}+${length}`);
    // The first free extent after the released one (binary search: the list is sorted).
    let lo = 0;
    let hi = this.free.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.free[mid]!.offset < offset) lo = mid + 1;
      else hi = mid;
    }
    const prev = this.free[lo - 1];
    const next = this.free[lo];
    if ((prev && prev.offset + prev.length > offset) || (next && offset + length > next.offset)) {
      throw new RangeError(`arena region ${offset}+${length} released twice`);
    }
    this.usedBytes -= length;
    if (prev && prev.offset + prev.length === offset) {
      prev.length += length;
      if (next && prev.offset + prev.length === next.offset) {
        prev.length += next.length;
        this.free.splice(lo, 1);
      }
    } else if (next && offset + length === next.offset) {
      next.offset = offset;
      next.length += length;
    } else {
      this.free.splice(lo, 0, { offset, length });
    }
  }
}
