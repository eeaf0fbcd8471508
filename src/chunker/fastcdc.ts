// FastCDC content-defined chunking (Xia et al., USENIX ATC 2016) with normalized chunking and
// cut-point skipping, over a gear table derived from the repository key (chunker/gear.ts).
//
// The cut after position `start` depends only on the bytes from `start` on, never on how the
// stream was split into segments: so a file can be fed in segments of any size, carrying the
// unfinished tail into the next one, and yields the same chunks. FORMAT.md "Chunking" is normative.

export interface ChunkerParams {
  readonly minSize: number;
  readonly avgSize: number;
  readonly maxSize: number;
}

export const DEFAULT_CHUNKER: ChunkerParams = { minSize: 512 * 1024, avgSize: 1024 * 1024, maxSize: 8 * 1024 * 1024 };

/**
 * Masks for normalized chunking level 2: before the average size the mask has log2(avg)+2 bits
 * (cuts are rarer), after it log2(avg)-2 bits (cuts are likelier), which narrows the size spread.
 * The bits are taken from the top of the 32-bit gear hash: bit k of the hash depends on the last
 * k+1 bytes only, so high bits give the full 32-byte window.
 */
export function masksFor(avgSize: number): { small: number; large: number } {
  const bits = Math.round(Math.log2(avgSize));
  const top = (n: number): number => (n >= 32 ? 0xffffffff : ((2 ** n - 1) * 2 ** (32 - n)) >>> 0) | 0;
  return { small: top(Math.min(31, bits + 2)), large: top(Math.max(1, bits - 2)) };
}

export function validateChunkerParams(p: ChunkerParams): string | null {
  const pow2 = (n: number): boolean => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
  if (!pow2(p.avgSize)) return `average chunk size ${p.avgSize} is not a power of two`;
  if (!(Number.isInteger(p.minSize) && p.minSize >= 64 && p.minSize < p.avgSize)) return `minimum chunk size ${p.minSize} must be at least 64 and below the average`;
  if (!(Number.isInteger(p.maxSize) && p.maxSize > p.avgSize && p.maxSize <= 64 * 1024 * 1024)) return `maximum chunk size ${p.maxSize} must be above the average and at most 64 MiB`;
  return null;
}

export class FastCdc {
  readonly params: ChunkerParams;
  private readonly gear: Int32Array;
  private readonly maskSmall: number;
  private readonly maskLarge: number;

  constructor(params: ChunkerParams, gear: Uint32Array) {
    if (gear.length !== 256) throw new RangeError('gear table must have 256 entries');
    this.params = params;
    this.gear = new Int32Array(gear.buffer, gear.byteOffset, 256);
    const m = masksFor(params.avgSize);
    this.maskSmall = m.small;
    this.maskLarge = m.large;
  }

  /**
   * Returns the end offset (exclusive) of the chunk starting at `start`, looking at data[start, end).
   * Returns -1 when no cut can be decided yet: more data is needed (only when `final` is false).
   */
  nextCut(data: Uint8Array, start: number, end: number, final: boolean): number {
    const { minSize, avgSize, maxSize } = this.params;
    const n = end - start;
    if (n <= minSize) return final ? end : -1;
    const limit = start + Math.min(n, maxSize);
    const normal = Math.min(start + avgSize, limit);
    const gear = this.gear;
    let h = 0;
    let i = start + minSize;
    // Two passes over one loop: the small mask up to the average size, then the large mask up to
    // the limit, the hash carried across. The loop is the FORMAT.md rule, one byte at a time, but
    // unrolled by 8 (the tail a byte at a time): fewer loop tests and taken branches per byte,
    // measured 1.85x faster than the plain loop (710 -> 1320 MB/s scanned); cut points are identical
    // (fastcdc-reference.prop.test.ts checks them against the plain loop).
    let mask = this.maskSmall;
    let stop = normal;
    for (let pass = 0; pass < 2; pass++) {
      const stop8 = stop - 7;
      for (; i < stop8; i += 8) {
        h = ((h << 1) + gear[data[i]!]!) | 0;
        if ((h & mask) === 0) return i + 1;
        h = ((h << 1) + gear[data[i + 1]!]!) | 0;
        if ((h & mask) === 0) return i + 2;
        h = ((h << 1) + gear[data[i + 2]!]!) | 0;
        if ((h & mask) === 0) return i + 3;
        h = ((h << 1) + gear[data[i + 3]!]!) | 0;
        if ((h & mask) === 0) return i + 4;
        h = ((h << 1) + gear[data[i + 4]!]!) | 0;
        if ((h & mask) === 0) return i + 5;
        h = ((h << 1) + gear[data[i + 5]!]!) | 0;
        if ((h & mask) === 0) return i + 6;
        h = ((h << 1) + gear[data[i + 6]!]!) | 0;
        if ((h & mask) === 0) return i + 7;
        h = ((h << 1) + gear[data[i + 7]!]!) | 0;
        if ((h & mask) === 0) return i + 8;
      }
      for (; i < stop; i++) {
        h = ((h << 1) + gear[data[i]!]!) | 0;
        if ((h & mask) === 0) return i + 1;
      }
      mask = this.maskLarge;
      stop = limit;
    }
    if (n >= maxSize) return start + maxSize;
    return final ? end : -1;
  }

  /** All complete cuts in data[start, end); returns chunk ends and where the unfinished tail starts. */
  cuts(data: Uint8Array, start: number, end: number, final: boolean): { ends: number[]; tailStart: number } {
    const ends: number[] = [];
    let pos = start;
    while (pos < end) {
      const c = this.nextCut(data, pos, end, final);
      if (c < 0) break;
      ends.push(c);
      pos = c;
    }
    return { ends, tailStart: pos };
  }
}
