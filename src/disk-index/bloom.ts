// The in-memory membership filter of the index cache: a Bloom filter over blob ids. Blob ids are
// keyed BLAKE3 outputs, uniformly random, so their own bits serve as the hash functions (double
// hashing on two 32-bit words). 16 bits per blob and 11 probes give a false positive rate of about
// 0.05%: a backup of new data asks the disk about one chunk in two thousand.
export const FILTER_BITS_PER_BLOB = 16;
export const FILTER_PROBES = 11;

export class BlobFilter {
  readonly bits: Uint8Array;
  private readonly m: number;
  readonly probes: number;

  constructor(bits: Uint8Array, probes = FILTER_PROBES) {
    if (bits.length === 0) throw new RangeError('empty filter');
    this.bits = bits;
    this.m = bits.length * 8;
    this.probes = probes;
  }

  static forCount(blobs: number): BlobFilter {
    return new BlobFilter(new Uint8Array(Math.max(8, Math.ceil((Math.max(1, blobs) * FILTER_BITS_PER_BLOB) / 8))));
  }

  /** Adds the id whose 32 bytes start at `at` in `rec`. */
  addBytes(rec: Uint8Array, at: number): void {
    this.probe(word(rec, at), word(rec, at + 4) | 1, true);
  }

  mayContainHex(id: string): boolean {
    return this.probe(parseInt(id.slice(0, 8), 16), parseInt(id.slice(8, 16), 16) | 1, false);
  }

  mayContainBytes(rec: Uint8Array, at: number): boolean {
    return this.probe(word(rec, at), word(rec, at + 4) | 1, false);
  }

  private probe(h1: number, h2: number, set: boolean): boolean {
    const m = this.m;
    const bits = this.bits;
    // (h2 | 1) >>> 0 keeps it a positive 32-bit number; the sum stays far below 2^53.
    const step = h2 >>> 0;
    for (let i = 0; i < this.probes; i++) {
      const bit = (h1 + i * step) % m;
      const byte = bit >>> 3;
      const mask = 1 << (bit & 7);
      if (set) bits[byte]! |= mask;
      else if ((bits[byte]! & mask) === 0) return false;
    }
    return true;
  }
}

function word(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}
