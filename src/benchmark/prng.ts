// A tiny, fast, seeded PRNG shared by the benchmark corpus (src/benchmark/corpus.ts) and the test tree
// generator (test/support/tree.ts). No dependency, fully deterministic from a 32-bit seed.
//
// Core: xorshift128 (Marsaglia 2003, period 2^128 - 1), state seeded through splitmix32 so that
// nearby seeds give unrelated streams. Bulk fill runs at ~3 GB/s in V8, far above the ~300 MB/s
// the corpus needs, so generated "random" data is never the bottleneck next to the disk.
//
// Bulk bytes are produced by writing 32-bit words through a Uint32Array view, so the byte stream
// depends on the platform's endianness: identical on every little-endian machine (x86-64, arm64),
// which is all this project targets.

/** splitmix32 step: a good 32-bit mixer to turn a seed (or a label) into independent states. */
function splitmix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  let z = x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** FNV-1a of a string, for deriving sub-streams by label. */
function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class Prng {
  #x: number;
  #y: number;
  #z: number;
  #w: number;

  constructor(seed: number) {
    let s = seed >>> 0;
    s = splitmix32(s);
    this.#x = s | 0;
    s = splitmix32(s ^ 0x6a09e667);
    this.#y = s | 0;
    s = splitmix32(s ^ 0xbb67ae85);
    this.#z = s | 0;
    s = splitmix32(s ^ 0x3c6ef372);
    this.#w = s | 0;
    if ((this.#x | this.#y | this.#z | this.#w) === 0) this.#w = 1; // all-zero state is a fixed point
    // Discard a few outputs so weak seeds (0, 1, 2...) are well mixed.
    for (let i = 0; i < 8; i++) this.u32();
  }

  /** A fresh, independent generator derived from this one's seed stream and a label. */
  fork(label: string | number = ''): Prng {
    const l = typeof label === 'number' ? label >>> 0 : fnv1a(label);
    return new Prng((this.u32() ^ splitmix32(l)) >>> 0);
  }

  /** Next 32-bit unsigned integer. */
  u32(): number {
    const t = this.#x ^ (this.#x << 11);
    this.#x = this.#y;
    this.#y = this.#z;
    this.#z = this.#w;
    this.#w = this.#w ^ (this.#w >>> 19) ^ (t ^ (t >>> 8));
    return this.#w >>> 0;
  }

  /** Uniform float in [0, 1). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** Uniform integer in [0, n) for n <= 2^32. */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** Uniform integer in [lo, hi] (inclusive). */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from empty list');
    return items[this.int(items.length)] as T;
  }

  /** Log-uniform integer in [lo, hi]: as many values between 1 KiB and 2 KiB as between 1 MiB and 2 MiB. */
  logRange(lo: number, hi: number): number {
    const a = Math.log(Math.max(1, lo));
    const b = Math.log(Math.max(1, hi));
    return Math.min(hi, Math.max(lo, Math.round(Math.exp(a + (b - a) * this.float()))));
  }

  /** Fill a whole Uint32Array with random words (the fast path: ~3 GB/s). */
  fillU32(out: Uint32Array): void {
    let x = this.#x;
    let y = this.#y;
    let z = this.#z;
    let w = this.#w;
    const n = out.length;
    for (let i = 0; i < n; i++) {
      const t = x ^ (x << 11);
      x = y;
      y = z;
      z = w;
      w = w ^ (w >>> 19) ^ (t ^ (t >>> 8));
      out[i] = w;
    }
    this.#x = x;
    this.#y = y;
    this.#z = z;
    this.#w = w;
  }

  /** Fill any byte array with random bytes (uses the word path for the 4-byte-aligned middle). */
  fill(out: Uint8Array): void {
    let i = 0;
    const head = (4 - (out.byteOffset & 3)) & 3;
    while (i < head && i < out.length) out[i++] = this.u32() & 0xff;
    const words = (out.length - i) >>> 2;
    if (words > 0) {
      this.fillU32(new Uint32Array(out.buffer, out.byteOffset + i, words));
      i += words * 4;
    }
    while (i < out.length) out[i++] = this.u32() & 0xff;
  }

  /** A new Buffer of n random bytes. */
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafeSlow(n);
    this.fill(b);
    return b;
  }
}

/**
 * Generator of compressible, text-like bytes: lines of words drawn from a seeded vocabulary with a
 * Zipf-like skew (a few very common words, a long tail), so zstd compresses it roughly 3-4x, like
 * source code or logs. Every call continues the same stream, so text never repeats verbatim and
 * therefore never deduplicates by accident.
 */
export class TextGen {
  readonly #rng: Prng;
  readonly #words: Uint8Array[];
  /** Cumulative distribution over word indices, in 1/65536 units. */
  readonly #lookup: Uint16Array;
  #col = 0;

  constructor(rng: Prng, vocabulary = 4096) {
    this.#rng = rng;
    const letters = 'etaoinshrdlcumwfgypbvkjxqz';
    this.#words = [];
    for (let i = 0; i < vocabulary; i++) {
      const len = 1 + rng.logRange(1, 12);
      let s = '';
      for (let j = 0; j < len; j++) {
        // Skewed letter choice gives natural-looking letter frequencies.
        const k = Math.floor(Math.pow(rng.float(), 1.8) * letters.length);
        s += letters[k];
      }
      if (rng.chance(0.05)) s = s[0]!.toUpperCase() + s.slice(1);
      if (rng.chance(0.03)) s += rng.pick([',', '.', ';', ':', '()', '=', '{', '}']);
      this.#words.push(Buffer.from(s, 'latin1'));
    }
    // Zipf(s=1) table: 65536 slots, each naming a word, slots proportional to 1/(rank+1).
    let h = 0;
    for (let i = 0; i < vocabulary; i++) h += 1 / (i + 1);
    this.#lookup = new Uint16Array(65536);
    let slot = 0;
    for (let i = 0; i < vocabulary && slot < 65536; i++) {
      const n = Math.max(1, Math.round((65536 / h) * (1 / (i + 1))));
      for (let j = 0; j < n && slot < 65536; j++) this.#lookup[slot++] = i;
    }
    while (slot < 65536) this.#lookup[slot++] = this.#rng.int(vocabulary);
  }

  /** Fill out completely with text. Lines are 20-100 columns, ending in '\n'. */
  fill(out: Uint8Array): void {
    const rng = this.#rng;
    const words = this.#words;
    const lookup = this.#lookup;
    const n = out.length;
    let col = this.#col;
    let i = 0;
    let lineLen = 20 + (rng.u32() % 80);
    while (i < n) {
      const r = rng.u32();
      const word = words[lookup[r & 0xffff]!]!;
      // One random draw also decides the separator, to keep the inner loop cheap.
      const wl = word.length;
      for (let j = 0; j < wl && i < n; j++) out[i++] = word[j]!;
      col += wl + 1;
      if (i >= n) break;
      if (col >= lineLen) {
        out[i++] = 10; // '\n'
        col = 0;
        lineLen = 20 + ((r >>> 16) % 80);
        // Occasional indentation, as in code.
        if (((r >>> 24) & 3) === 0) {
          const indent = ((r >>> 26) & 3) * 2;
          for (let j = 0; j < indent && i < n; j++) out[i++] = 32;
          col += indent;
        }
      } else {
        out[i++] = 32; // ' '
      }
    }
    this.#col = col;
  }

  /** A new Buffer of n text bytes. */
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafeSlow(n);
    this.fill(b);
    return b;
  }
}
