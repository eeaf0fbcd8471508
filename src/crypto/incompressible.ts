// A cheap look at a payload before zstd runs on it: random-looking data (already compressed media
// and archives, encrypted files) cannot shrink, and zstd at level 3 spends 0.5-1.5 ms per MiB
// finding that out natively, ~4 ms with the WebAssembly fallback. The answer is a pure function of
// the bytes, in integer arithmetic, so it is the same on every machine and with native or fallback
// primitives; it only decides whether compression is tried, and a payload stored raw is a valid
// envelope either way (FORMAT.md "Envelope").
//
// Sampled: PIECES pieces of PIECE_BYTES spread evenly over the payload (32 KiB of a 1 MiB chunk,
// ~0.15 ms here).
// It says "incompressible" only when the byte histograms are flat (on average and in every piece)
// AND the pieces hold almost no repeated 4-byte strings, so what it gives up is bounded: a flat
// histogram leaves entropy coding well under 1% to gain, and without repeats there is little for
// matches. Measured on 500 MB of real files in 1 MiB pieces (gzip, .deb, woff2, zip, JPEG, PNG,
// fonts, shared objects): what it called incompressible (89 MB: .deb, gzip, woff2 and some zip)
// would have shrunk by 43 KB in all at level 3 (0.05%; the worst piece, in a zip, by 2.1%).
// Compressible data usually fails on the first piece (text has ~4-5 bits a byte), so the look
// costs it a few microseconds.

const PIECES = 16;
const PIECE_BYTES = 2048;
/** Below this, compression is always tried: small payloads are cheap to compress and too small to sample fairly. */
export const MIN_SAMPLED_PAYLOAD = 64 * 1024;

/**
 * Flatness is measured by the collision count Σ c(c-1) of the byte counts c, against N(N-1)/256
 * for uniform bytes (N bytes sampled): a ratio r means Rényi entropy 8 - log2(r) bits a byte,
 * and Shannon entropy at least that. On average over the pieces the ratio must be at most 21/20
 * (7.93 bits: deflate and brotli streams measure 1.006-1.015 over 4 KiB pieces; uniform random
 * bytes 1 ± 0.003 over the 16 pieces, 1 ± 0.011 in one piece); in each piece at most 5/4, so
 * that a piece of text or tables among random ones (10 and more) sends the payload to zstd.
 * Compared in integers: the same answer everywhere.
 */
const MEAN_FLAT = { num: 21, den: 20 };
const PIECE_FLAT = { num: 5, den: 4 };

/**
 * Repeated 4-byte strings allowed per sampled byte before the data counts as having structure
 * (1/256): random data has none; deflate streams and .deb members had 0-160 in 64 KiB; zip and
 * PDF pieces that zstd shrinks by 1-3% had 600 and more.
 */
const REPEATS_SHIFT = 8;

const HASH_BITS = 14;

/** Scratch kept between calls (one per thread): the byte histogram and the table of 4-byte strings seen. */
const scratch = { counts: new Int32Array(256), seen: new Int32Array(1 << HASH_BITS) };

/** Whether zstd would find nothing to gain in `data`, judged from samples; false for small payloads. */
export function looksIncompressible(data: Uint8Array): boolean {
  const n = data.length;
  if (n < MIN_SAMPLED_PAYLOAD) return false;
  const step = Math.floor((n - PIECE_BYTES) / (PIECES - 1));
  const uniform = PIECE_BYTES * (PIECE_BYTES - 1); // × 1/256: the collisions of uniform bytes
  let total = 0;
  for (let k = 0; k < PIECES; k++) {
    const collisions = collisionsOf(data, k * step, scratch.counts);
    if (collisions * 256 * PIECE_FLAT.den > PIECE_FLAT.num * uniform) return false;
    total += collisions;
  }
  // Below 2^41 on both sides: exact in a double.
  if (total * 256 * MEAN_FLAT.den > MEAN_FLAT.num * PIECES * uniform) return false;
  return !hasRepeats(data, step, scratch.seen);
}

/** Σ c(c-1) over the byte counts c of data[from, from + PIECE_BYTES). */
function collisionsOf(data: Uint8Array, from: number, counts: Int32Array): number {
  counts.fill(0);
  const to = from + PIECE_BYTES;
  for (let i = from; i < to; i++) counts[data[i]!]!++;
  let collisions = 0;
  for (let v = 0; v < 256; v++) {
    const c = counts[v]!;
    collisions += c * (c - 1);
  }
  return collisions;
}

/**
 * Whether the sampled pieces repeat 4-byte strings (within a piece or across pieces) more than
 * random data would. The table holds the last string seen in each slot: a slot holding the same
 * string is a repeat (the all-zero string is not counted: 0 marks an empty slot).
 */
function hasRepeats(data: Uint8Array, step: number, seen: Int32Array): boolean {
  seen.fill(0);
  const allowed = (PIECES * PIECE_BYTES) >> REPEATS_SHIFT;
  let repeats = 0;
  for (let k = 0; k < PIECES; k++) {
    const from = k * step;
    const to = from + PIECE_BYTES - 3;
    // word holds bytes i..i+3, little-endian; primed with the first three in its top bytes.
    let word = (data[from]! << 8) | (data[from + 1]! << 16) | (data[from + 2]! << 24);
    for (let i = from; i < to; i++) {
      word = (word >>> 8) | (data[i + 3]! << 24);
      const slot = Math.imul(word, 0x9e3779b1) >>> (32 - HASH_BITS);
      if (seen[slot] === word && word !== 0 && ++repeats > allowed) return true;
      seen[slot] = word;
    }
  }
  return false;
}
