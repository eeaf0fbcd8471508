// The unrolled FastCdc.nextCut against the plain one-byte-at-a-time loop of FORMAT.md "Chunking",
// kept here as the reference: cut points are part of the repository format (they decide which
// blobs exist), so a faster loop must give the same answer for every input, gear table,
// parameters, range and `final`, including "need more data" (-1).
import { createCipheriv } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ChunkerParams, FastCdc, masksFor } from './fastcdc.js';

/** The cut rule exactly as FORMAT.md writes it (and as nextCut was before it was unrolled). */
function referenceNextCut(params: ChunkerParams, gear: Uint32Array, data: Uint8Array, start: number, end: number, final: boolean): number {
  const { minSize, avgSize, maxSize } = params;
  const { small: maskS, large: maskL } = masksFor(avgSize);
  const g = new Int32Array(gear.buffer, gear.byteOffset, 256);
  const n = end - start;
  if (n <= minSize) return final ? end : -1;
  const limit = start + Math.min(n, maxSize);
  const normal = Math.min(start + avgSize, limit);
  let h = 0;
  let i = start + minSize;
  for (; i < normal; i++) {
    h = ((h << 1) + g[data[i]!]!) | 0;
    if ((h & maskS) === 0) return i + 1;
  }
  for (; i < limit; i++) {
    h = ((h << 1) + g[data[i]!]!) | 0;
    if ((h & maskL) === 0) return i + 1;
  }
  if (n >= maxSize) return start + maxSize;
  return final ? end : -1;
}

/** Deterministic pseudo-random bytes (AES-128-CTR keystream of a seed). */
function prng(seed: number, n: number): Uint8Array {
  const key = Buffer.alloc(16);
  key.writeUInt32LE(seed >>> 0, 0);
  key.write('cdc-reference', 4, 'latin1');
  const out = createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(n));
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

type GearKind = 'random' | 'zero' | 'top-bit' | 'sparse' | 'few-values';

/** Gear tables: random ones, and degenerate ones that cut at once, never, or at odd places. */
function makeGear(kind: GearKind, seed: number): Uint32Array {
  const random = new Uint32Array(prng(seed, 1024).slice().buffer);
  switch (kind) {
    case 'random':
      return random;
    case 'zero':
      return new Uint32Array(256);
    case 'top-bit':
      return new Uint32Array(256).fill(0x80000000);
    case 'sparse':
      return random.map((v, i) => (i % 7 === seed % 7 ? v : 0));
    case 'few-values':
      return random.map((_, i) => random[i % 3]!);
  }
}

type DataKind = 'random' | 'zeros' | 'pattern' | 'runs';

function makeData(kind: DataKind, seed: number, n: number): Uint8Array {
  switch (kind) {
    case 'random':
      return prng(seed, n);
    case 'zeros':
      return new Uint8Array(n);
    case 'pattern': {
      const pat = prng(seed, 1 + (seed % 37));
      return Uint8Array.from({ length: n }, (_, i) => pat[i % pat.length]!);
    }
    case 'runs': {
      // Random bytes with runs of one repeated byte: stretches where the hash stays put.
      const out = prng(seed, n);
      for (let pos = 0; pos < n; pos += 40 + (out[pos]! % 200)) out.fill(out[pos]!, pos, Math.min(n, pos + (out[pos]! % 90)));
      return out;
    }
  }
}

/** Valid parameters (validateChunkerParams) of every shape: min just below avg, max just above it, and wide ones. */
const paramsArb: fc.Arbitrary<ChunkerParams> = fc
  .record({ log2avg: fc.integer({ min: 7, max: 12 }), minFrac: fc.double({ min: 0, max: 1, noNaN: true }), maxExtra: fc.integer({ min: 1, max: 16 * 1024 }) })
  .map(({ log2avg, minFrac, maxExtra }) => {
    const avgSize = 2 ** log2avg;
    const minSize = Math.min(avgSize - 1, 64 + Math.floor(minFrac * (avgSize - 64)));
    return { minSize, avgSize, maxSize: avgSize + maxExtra };
  });

const caseArb = fc.record({
  params: paramsArb,
  gearKind: fc.constantFrom<GearKind>('random', 'random', 'random', 'zero', 'top-bit', 'sparse', 'few-values'),
  gearSeed: fc.nat(),
  dataKind: fc.constantFrom<DataKind>('random', 'random', 'zeros', 'pattern', 'runs'),
  dataSeed: fc.nat(),
  length: fc.integer({ min: 0, max: 48 * 1024 }),
});

describe('FastCdc.nextCut is the FORMAT.md loop', () => {
  it('gives the reference answer at every start, for random ranges and both values of final', () => {
    fc.assert(
      fc.property(caseArb, fc.array(fc.tuple(fc.nat(), fc.nat(), fc.boolean()), { minLength: 1, maxLength: 20 }), (c, ranges) => {
        const gear = makeGear(c.gearKind, c.gearSeed);
        const cdc = new FastCdc(c.params, gear);
        const data = makeData(c.dataKind, c.dataSeed, c.length);
        for (const [a, b, final] of ranges) {
          const start = c.length === 0 ? 0 : a % (c.length + 1);
          const end = start + (b % (c.length - start + 1));
          expect(cdc.nextCut(data, start, end, final)).toBe(referenceNextCut(c.params, gear, data, start, end, final));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('gives the reference cuts over a whole stream fed in random segments (the archiver carrying the tail)', () => {
    fc.assert(
      fc.property(caseArb, fc.array(fc.integer({ min: 1, max: 12 * 1024 }), { minLength: 1, maxLength: 10 }), fc.boolean(), (c, sizes, emptyFinal) => {
        const gear = makeGear(c.gearKind, c.gearSeed);
        const cdc = new FastCdc(c.params, gear);
        const data = makeData(c.dataKind, c.dataSeed, c.length);
        const fed = (cut: (seg: Uint8Array, start: number, end: number, final: boolean) => number): number[] => {
          const out: number[] = [];
          let tail = new Uint8Array(0);
          let consumed = 0;
          let pos = 0;
          for (let k = 0; ; k++) {
            const fresh = data.subarray(pos, Math.min(data.length, pos + sizes[k % sizes.length]!));
            pos += fresh.length;
            const final = emptyFinal ? fresh.length === 0 && pos >= data.length : pos >= data.length;
            const seg = new Uint8Array(tail.length + fresh.length);
            seg.set(tail, 0);
            seg.set(fresh, tail.length);
            let at = 0;
            while (at < seg.length) {
              const e = cut(seg, at, seg.length, final);
              if (e < 0) break;
              out.push(consumed + e);
              at = e;
            }
            if (final) return out;
            consumed += at;
            tail = seg.slice(at);
          }
        };
        const got = fed((seg, s, e, f) => cdc.nextCut(seg, s, e, f));
        expect(got).toEqual(fed((seg, s, e, f) => referenceNextCut(c.params, gear, seg, s, e, f)));
        expect(got.at(-1) ?? 0).toBe(c.length);
      }),
      { numRuns: 200 },
    );
  });

  it('finds a cut at each of the 8 positions of the unrolled step and in the byte-wise tail', () => {
    // Every gear entry 0x80000000 keeps the hash at 0x80000000 (no cut); the one entry 0 makes it
    // 0 (a cut). Moving that byte through the range puts the cut at every position of the
    // unrolled step, and the ends just past it put it in the byte-wise tail.
    const params: ChunkerParams = { minSize: 64, avgSize: 128, maxSize: 256 };
    for (const hit of [0, 1, 255]) {
      const gear = new Uint32Array(256).fill(0x80000000);
      gear[hit] = 0;
      const cdc = new FastCdc(params, gear);
      for (let at = 0; at < 200; at++) {
        const data = new Uint8Array(300).fill(hit === 0 ? 1 : 0);
        data[64 + at] = hit;
        for (const end of [64 + at, 64 + at + 1, 64 + at + 5, 64 + at + 8, 64 + at + 9, 300]) {
          for (const final of [false, true]) {
            const want = referenceNextCut(params, gear, data, 0, Math.min(end, 300), final);
            expect(cdc.nextCut(data, 0, Math.min(end, 300), final)).toBe(want);
            if (end > 64 + at && at < 192) expect(want).toBe(64 + at + 1);
          }
        }
      }
    }
  });
});
