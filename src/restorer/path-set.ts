// The paths of the entries a restore kept (--overwrite), for --verify to pass them by: a set that
// costs 8 bytes a path whatever the path's length, where a Set of strings costs a hundred or more
// (a restore in place that keeps a million files would hold 100+ MiB). Each path is kept as a
// 64-bit hash; two paths sharing one (odds about n²/2⁶⁵: 3e-8 for a million) only spare a restored
// file from being read back, and never change what is restored. The hash is not keyed: a hostile
// repository could pick names that collide, and so spare a file of its own from --verify, which
// gains it nothing (it chose that file's content in the first place).

/** Two independent 32-bit FNV-1a hashes of the UTF-16 code units, as one 64-bit value. */
function hash64(path: string): bigint {
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
  }
  return (BigInt(a >>> 0) << 32n) | BigInt(b >>> 0);
}

export class PathSet {
  private hashes = new BigUint64Array(1024);
  private count = 0;
  private sorted = true;

  get size(): number {
    return this.count;
  }

  add(path: string): void {
    if (this.count === this.hashes.length) {
      const grown = new BigUint64Array(this.hashes.length * 2);
      grown.set(this.hashes);
      this.hashes = grown;
    }
    this.hashes[this.count++] = hash64(path);
    this.sorted = false;
  }

  has(path: string): boolean {
    if (!this.sorted) {
      this.hashes.subarray(0, this.count).sort();
      this.sorted = true;
    }
    const h = hash64(path);
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const v = this.hashes[mid]!;
      if (v === h) return true;
      if (v < h) lo = mid + 1;
      else hi = mid;
    }
    return false;
  }
}
