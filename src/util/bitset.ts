// A fixed-size set of small whole numbers, one bit each: "has this index entry been seen?" for
// ten million entries costs 1.25 MB, where a Set of their ids would cost about a gigabyte.
export class BitSet {
  private readonly bits: Uint8Array;
  readonly size: number;

  constructor(size: number) {
    this.size = size;
    this.bits = new Uint8Array(Math.ceil(size / 8));
  }

  has(i: number): boolean {
    return (this.bits[i >>> 3]! & (1 << (i & 7))) !== 0;
  }

  add(i: number): void {
    if (i < 0 || i >= this.size) throw new RangeError(`BitSet: ${i} is outside 0..${this.size - 1}`);
    this.bits[i >>> 3]! |= 1 << (i & 7);
  }

  /** Adds `i`; whether it was absent before. */
  addNew(i: number): boolean {
    if (this.has(i)) return false;
    this.add(i);
    return true;
  }

  get byteLength(): number {
    return this.bits.byteLength;
  }
}
