// Property tests of the FastCDC chunker: lossless, bounded, independent of how the stream is
// segmented, local under edits, keyed by the gear table. Small parameters (256/1K/8K) keep each
// property fast; one test runs the default 512K/1M/8M parameters over 24 MiB.
import { createCipheriv } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadPrimitives } from '../../native-bindings/index.js';
import { type ChunkerParams, DEFAULT_CHUNKER, FastCdc, masksFor, validateChunkerParams } from './fastcdc.js';
import { deriveGear } from './gear.js';

const { primitives: p } = await loadPrimitives(process.env.ENGINE_NATIVE === 'off' ? 'fallback' : 'auto');

const SMALL: ChunkerParams = { minSize: 256, avgSize: 1024, maxSize: 8192 };
const KiB = 1024;
const MiB = 1024 * KiB;

/** Deterministic pseudo-random bytes (AES-128-CTR keystream of a seed): fast for megabytes. */
function prng(seed: number, n: number): Uint8Array {
  const key = Buffer.alloc(16);
  key.writeUInt32LE(seed >>> 0, 0);
  key.write('fastcdc-prop', 4, 'latin1');
  const out = createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(n));
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

function gearKey(seed: number): Uint8Array {
  return prng(seed ^ 0x5eed, 32);
}

const gearOf = (seed: number): Uint32Array => deriveGear(p.blake3, gearKey(seed));
const defaultGear = gearOf(1);

type Kind = 'random' | 'zeros' | 'pattern' | 'mixed';

/** Test inputs: random data and low-entropy data that never or rarely cuts (max-size chunks). */
function makeData(kind: Kind, seed: number, n: number): Uint8Array {
  switch (kind) {
    case 'random':
      return prng(seed, n);
    case 'zeros':
      return new Uint8Array(n);
    case 'pattern': {
      const pat = prng(seed, 1 + (seed % 61));
      const out = new Uint8Array(n);
      for (let i = 0; i < n; i++) out[i] = pat[i % pat.length]!;
      return out;
    }
    case 'mixed': {
      // Random runs separated by zero runs, both of a few KiB.
      const out = prng(seed, n);
      const runs = prng(seed + 1, 64);
      let pos = 0;
      for (let k = 0; pos < n; k = (k + 1) % 64) {
        const len = 512 + runs[k]! * 40;
        if (k % 2 === 1) out.fill(0, pos, Math.min(n, pos + len));
        pos += len;
      }
      return out;
    }
  }
}

const kindArb = fc.constantFrom<Kind>('random', 'zeros', 'pattern', 'mixed');

function oneShot(cdc: FastCdc, data: Uint8Array): number[] {
  const { ends, tailStart } = cdc.cuts(data, 0, data.length, true);
  expect(tailStart).toBe(data.length);
  return ends;
}

/** Feeds the stream as the archiver does: segment = carried tail + new data; returns absolute cut offsets. */
function segmented(cdc: FastCdc, data: Uint8Array, sizes: readonly number[], trailingEmptyFinal: boolean): number[] {
  const out: number[] = [];
  let tail = new Uint8Array(0);
  let consumed = 0; // absolute offset of tail[0]
  let pos = 0;
  let k = 0;
  for (;;) {
    const want = sizes[k++ % sizes.length]!;
    const fresh = data.subarray(pos, Math.min(data.length, pos + want));
    pos += fresh.length;
    const final = trailingEmptyFinal ? fresh.length === 0 && pos >= data.length : pos >= data.length;
    const seg = new Uint8Array(tail.length + fresh.length);
    seg.set(tail, 0);
    seg.set(fresh, tail.length);
    const { ends, tailStart } = cdc.cuts(seg, 0, seg.length, final);
    for (const e of ends) out.push(consumed + e);
    if (final) {
      expect(tailStart).toBe(seg.length);
      return out;
    }
    expect(seg.length - tailStart).toBeLessThan(cdc.params.maxSize);
    consumed += tailStart;
    tail = seg.slice(tailStart);
  }
}

function checkChunks(params: ChunkerParams, data: Uint8Array, ends: readonly number[]): void {
  if (data.length === 0) {
    expect(ends).toEqual([]);
    return;
  }
  expect(ends.at(-1)).toBe(data.length);
  const pieces: Uint8Array[] = [];
  let prev = 0;
  ends.forEach((e, i) => {
    const len = e - prev;
    if (i < ends.length - 1) {
      expect(len).toBeGreaterThanOrEqual(params.minSize);
      expect(len).toBeLessThanOrEqual(params.maxSize);
    } else {
      expect(len).toBeGreaterThanOrEqual(1);
      expect(len).toBeLessThanOrEqual(params.maxSize);
    }
    pieces.push(data.subarray(prev, e));
    prev = e;
  });
  expect(Buffer.compare(Buffer.concat(pieces), data)).toBe(0);
}

describe('FastCdc with small parameters (256 / 1 KiB / 8 KiB)', () => {
  const cdc = new FastCdc(SMALL, defaultGear);

  it('chunks concatenate to the input; every chunk but the last is within [min, max], the last within [1, max]', () => {
    fc.assert(
      fc.property(kindArb, fc.nat(), fc.integer({ min: 0, max: 96 * KiB }), (kind, seed, n) => {
        const data = makeData(kind, seed, n);
        checkChunks(SMALL, data, oneShot(cdc, data));
      }),
      { numRuns: 150 },
    );
  });

  it('handles lengths around the size thresholds exactly', () => {
    const lens = [0, 1, 255, 256, 257, 1023, 1024, 1025, 8191, 8192, 8193, 16384, 16385];
    for (const kind of ['random', 'zeros'] as const) {
      for (const n of lens) {
        const data = makeData(kind, n, n);
        const ends = oneShot(cdc, data);
        checkChunks(SMALL, data, ends);
        if (n > 0 && n <= SMALL.minSize) expect(ends).toEqual([n]);
      }
    }
  });

  it('a gear table whose hash never matches cuts at exactly maxSize; one that always matches at minSize + 1', () => {
    // Every entry 0x80000000: the hash is always 0x80000000, whose top bit is in both masks.
    const never = new FastCdc(SMALL, new Uint32Array(256).fill(0x80000000));
    const data = prng(5, 5 * SMALL.maxSize + 123);
    const ends = oneShot(never, data);
    expect(ends).toEqual([8192, 16384, 24576, 32768, 40960, 40960 + 123]);
    expect(segmented(never, data, [1000, 5000], false)).toEqual(ends);
    // Every entry 0: the hash is always 0, so the first byte looked at (after minSize) cuts.
    const always = new FastCdc(SMALL, new Uint32Array(256));
    const ends0 = oneShot(always, prng(6, 1000));
    expect(ends0).toEqual([257, 514, 771, 1000]);
  });

  it('a non-final call never cuts at the end of the data unless a content cut or maxSize is reached', () => {
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 0, max: 40 * KiB }), (seed, n) => {
        const data = prng(seed, n);
        const { ends, tailStart } = cdc.cuts(data, 0, n, false);
        const finalEnds = oneShot(cdc, data);
        // Every cut of the non-final call is also a cut of the final one, and the tail is shorter than maxSize.
        expect(finalEnds.slice(0, ends.length)).toEqual(ends);
        expect(tailStart).toBe(ends.at(-1) ?? 0);
        expect(n - tailStart).toBeLessThan(SMALL.maxSize);
        // The unfinished tail holds no content cut: the final call only adds its end as the last cut.
        expect(finalEnds).toEqual(tailStart < n ? [...ends, n] : ends);
      }),
      { numRuns: 150 },
    );
  });

  it('cut points do not depend on how the stream is split into segments', () => {
    fc.assert(
      fc.property(
        kindArb,
        fc.nat(),
        fc.integer({ min: 0, max: 96 * KiB }),
        fc.array(fc.integer({ min: 1, max: 20 * KiB }), { minLength: 1, maxLength: 12 }),
        fc.boolean(),
        (kind, seed, n, sizes, trailingEmptyFinal) => {
          const data = makeData(kind, seed, n);
          expect(segmented(cdc, data, sizes, trailingEmptyFinal)).toEqual(oneShot(cdc, data));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('cut points do not depend on segmentation even with tiny segments (1..300 bytes)', () => {
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 0, max: 24 * KiB }), fc.array(fc.integer({ min: 1, max: 300 }), { minLength: 1, maxLength: 8 }), (seed, n, sizes) => {
        const data = prng(seed, n);
        expect(segmented(cdc, data, sizes, false)).toEqual(oneShot(cdc, data));
      }),
      { numRuns: 60 },
    );
  });

  it('cuts of a sub-range depend only on the bytes from its start on (offsets within a larger buffer)', () => {
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: 0, max: 4 * KiB }), fc.integer({ min: 0, max: 48 * KiB }), (seed, start, n) => {
        const buf = prng(seed, start + n + 777);
        const { ends } = cdc.cuts(buf, start, start + n, true);
        const alone = oneShot(cdc, buf.slice(start, start + n));
        expect(ends.map((e) => e - start)).toEqual(alone);
      }),
      { numRuns: 100 },
    );
  });

  it('an edit leaves earlier cuts unchanged and resynchronises soon after (byte flip or insertion)', () => {
    fc.assert(
      fc.property(
        fc.nat(),
        fc.integer({ min: 0, max: 96 * KiB }),
        fc.integer({ min: 0, max: 64 }),
        fc.integer({ min: 1, max: 255 }),
        (seed, pos, insertLen, flip) => {
          const n = 192 * KiB;
          const data = prng(seed, n);
          let edited: Uint8Array;
          if (insertLen === 0) {
            edited = data.slice();
            edited[pos] = edited[pos]! ^ flip;
          } else {
            edited = new Uint8Array(n + insertLen);
            edited.set(data.subarray(0, pos), 0);
            edited.set(prng(seed + 1, insertLen), pos);
            edited.set(data.subarray(pos), pos + insertLen);
          }
          const a = oneShot(cdc, data);
          const b = oneShot(cdc, edited);
          checkChunks(SMALL, edited, b);
          // A chunk ending at or before the edit never read the edited byte: identical cuts.
          const before = a.filter((e) => e <= pos);
          expect(b.slice(0, before.length)).toEqual(before);
          if (b.length > before.length) expect(b[before.length]!).toBeGreaterThan(pos);
          // After the edit, cuts (shifted back by the insertion) coincide from some point on.
          const afterA = a.filter((e) => e > pos);
          const shiftedB = new Set(b.filter((e) => e > pos + insertLen).map((e) => e - insertLen));
          const firstCommon = afterA.findIndex((e) => shiftedB.has(e));
          expect(firstCommon).toBeGreaterThanOrEqual(0);
          expect(afterA[firstCommon]! - pos).toBeLessThanOrEqual(64 * KiB);
          const tailA = afterA.slice(firstCommon);
          const tailB = b.filter((e) => e - insertLen >= tailA[0]!).map((e) => e - insertLen);
          expect(tailB).toEqual(tailA);
          // So most cuts after the edit are shared: all but those in the first 64 KiB.
          const shared = afterA.filter((e) => shiftedB.has(e)).length;
          expect(shared).toBeGreaterThanOrEqual(afterA.filter((e) => e > pos + 64 * KiB).length);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('a different gear table gives different cuts', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.nat(), (dataSeed, g1, g2) => {
        fc.pre(g1 !== g2);
        const data = prng(dataSeed, 64 * KiB);
        const a = oneShot(new FastCdc(SMALL, gearOf(g1)), data);
        const b = oneShot(new FastCdc(SMALL, gearOf(g2)), data);
        expect(a).not.toEqual(b);
        // Not merely shifted at the end: the sets of interior cuts differ substantially.
        const sb = new Set(b);
        const common = a.filter((e) => sb.has(e) && e !== data.length).length;
        expect(common).toBeLessThan(a.length / 2);
      }),
      { numRuns: 40 },
    );
  });

  it('the same gear key gives the same table and the same cuts', () => {
    const data = prng(7, 64 * KiB);
    expect(oneShot(new FastCdc(SMALL, gearOf(3)), data)).toEqual(oneShot(new FastCdc(SMALL, gearOf(3)), data));
    expect(Array.from(gearOf(3))).toEqual(Array.from(gearOf(3)));
  });

  it('deriveGear follows FORMAT.md: entry 8i+j is the j-th LE u32 of keyedBLAKE3(key, u32le(i))', () => {
    const key = gearKey(9);
    const gear = deriveGear(p.blake3, key);
    expect(gear.length).toBe(256);
    for (const i of [0, 1, 17, 31]) {
      const block = p.blake3.keyedHash(key, new Uint8Array([i, 0, 0, 0]));
      const view = new DataView(block.buffer, block.byteOffset, 32);
      for (let j = 0; j < 8; j++) expect(gear[8 * i + j]).toBe(view.getUint32(4 * j, true));
    }
    expect(new Set(gear).size).toBeGreaterThan(250);
  });

  it('mean chunk size on random data is within a factor 1.5 of avgSize', () => {
    const data = prng(11, 4 * MiB);
    const ends = oneShot(cdc, data);
    const mean = data.length / ends.length;
    expect(mean).toBeGreaterThan(SMALL.avgSize / 1.5);
    expect(mean).toBeLessThan(SMALL.avgSize * 1.5);
  });

  it('mean chunk size stays within a factor 1.5 of avgSize for other gear tables and averages', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.integer({ min: 9, max: 13 }), (dataSeed, g, log2avg) => {
        const avg = 2 ** log2avg;
        const params = { minSize: avg / 4, avgSize: avg, maxSize: avg * 8 };
        expect(validateChunkerParams(params)).toBeNull();
        const data = prng(dataSeed, 512 * avg);
        const ends = oneShot(new FastCdc(params, gearOf(g)), data);
        checkChunks(params, data, ends);
        const mean = data.length / ends.length;
        expect(mean).toBeGreaterThan(avg / 1.5);
        expect(mean).toBeLessThan(avg * 1.5);
      }),
      { numRuns: 20 },
    );
  });
});

describe('FastCdc with the default parameters (512 KiB / 1 MiB / 8 MiB)', () => {
  it('24 MiB of random data: lossless, bounded, mean near 1 MiB, and identical when fed in 2 MiB segments', () => {
    const cdc = new FastCdc(DEFAULT_CHUNKER, defaultGear);
    const data = prng(2024, 24 * MiB);
    const ends = oneShot(cdc, data);
    checkChunks(DEFAULT_CHUNKER, data, ends);
    const mean = data.length / ends.length;
    expect(mean).toBeGreaterThan(DEFAULT_CHUNKER.avgSize / 1.5);
    expect(mean).toBeLessThan(DEFAULT_CHUNKER.avgSize * 1.5);
    // The archiver's segmentation: 2 MiB of fresh data per segment plus the carried tail.
    expect(segmented(cdc, data, [2 * MiB], false)).toEqual(ends);
    // Odd segment sizes, and a file whose length is a multiple of the segment size (empty final read).
    expect(segmented(cdc, data, [3 * MiB + 17, 1 * MiB - 5, 777_777], false)).toEqual(ends);
    expect(segmented(cdc, data, [2 * MiB], true)).toEqual(ends);
  });

  it('long zero runs are cut at exactly maxSize or by content, never beyond', () => {
    const cdc = new FastCdc(DEFAULT_CHUNKER, defaultGear);
    const data = new Uint8Array(20 * MiB);
    const ends = oneShot(cdc, data);
    checkChunks(DEFAULT_CHUNKER, data, ends);
    expect(segmented(cdc, data, [2 * MiB], false)).toEqual(ends);
  });
});

describe('validateChunkerParams', () => {
  it('accepts the default and small parameters', () => {
    expect(validateChunkerParams(DEFAULT_CHUNKER)).toBeNull();
    expect(validateChunkerParams(SMALL)).toBeNull();
    expect(validateChunkerParams({ minSize: 64, avgSize: 128, maxSize: 129 })).toBeNull();
    expect(validateChunkerParams({ minSize: 1, avgSize: 2 ** 25, maxSize: 64 * MiB })).not.toBeNull();
    expect(validateChunkerParams({ minSize: 64, avgSize: 2 ** 25, maxSize: 64 * MiB })).toBeNull();
  });

  it('rejects bad parameters with a message', () => {
    const bad: ChunkerParams[] = [
      { minSize: 256, avgSize: 1000, maxSize: 8192 }, // avg not a power of two
      { minSize: 256, avgSize: 0, maxSize: 8192 },
      { minSize: 256, avgSize: -1024, maxSize: 8192 },
      { minSize: 256, avgSize: 1024.5, maxSize: 8192 },
      { minSize: 256, avgSize: Number.NaN, maxSize: 8192 },
      { minSize: 63, avgSize: 1024, maxSize: 8192 }, // min below 64
      { minSize: 1024, avgSize: 1024, maxSize: 8192 }, // min not below avg
      { minSize: 2048, avgSize: 1024, maxSize: 8192 },
      { minSize: 256.5, avgSize: 1024, maxSize: 8192 },
      { minSize: Number.NaN, avgSize: 1024, maxSize: 8192 },
      { minSize: 256, avgSize: 1024, maxSize: 1024 }, // max not above avg
      { minSize: 256, avgSize: 1024, maxSize: 512 },
      { minSize: 256, avgSize: 1024, maxSize: 64 * MiB + 1 }, // max above 64 MiB
      { minSize: 256, avgSize: 1024, maxSize: 4096.5 },
      { minSize: 256, avgSize: 1024, maxSize: Number.POSITIVE_INFINITY },
    ];
    for (const b of bad) {
      const msg = validateChunkerParams(b);
      expect(typeof msg, JSON.stringify(b)).toBe('string');
      expect(msg!.length).toBeGreaterThan(0);
    }
  });

  it('property: accepts exactly the parameters FORMAT.md allows', () => {
    const size = fc.oneof(
      fc.integer({ min: -10, max: 80 * MiB }),
      fc.integer({ min: 0, max: 27 }).map((k) => 2 ** k),
      fc.integer({ min: 0, max: 27 }).map((k) => 2 ** k + 1),
      fc.constantFrom(0.5, 1000.25, Number.NaN, Number.POSITIVE_INFINITY, 64, 63, 64 * MiB, 64 * MiB + 1),
    );
    fc.assert(
      fc.property(size, size, size, (minSize, avgSize, maxSize) => {
        const ok =
          Number.isInteger(avgSize) && avgSize > 0 && (avgSize & (avgSize - 1)) === 0 &&
          Number.isInteger(minSize) && minSize >= 64 && minSize < avgSize &&
          Number.isInteger(maxSize) && maxSize > avgSize && maxSize <= 64 * MiB;
        expect(validateChunkerParams({ minSize, avgSize, maxSize }) === null).toBe(ok);
      }),
      { numRuns: 2000 },
    );
  });

  it('masksFor: the small mask has two more bits than log2(avg), the large two fewer, from the top', () => {
    const popcount = (x: number): number => {
      let v = x >>> 0;
      let c = 0;
      while (v) {
        c += v & 1;
        v >>>= 1;
      }
      return c;
    };
    for (let k = 6; k <= 25; k++) {
      const m = masksFor(2 ** k);
      expect(popcount(m.small)).toBe(Math.min(31, k + 2));
      expect(popcount(m.large)).toBe(k - 2);
      // Top bits: the large mask is a subset of the small one, and both have bit 31 set.
      expect((m.small & m.large) >>> 0).toBe(m.large >>> 0);
      expect(m.small >>> 31).toBe(1);
    }
  });

  it('the FastCdc constructor rejects a gear table that does not have 256 entries', () => {
    expect(() => new FastCdc(SMALL, new Uint32Array(255))).toThrow(RangeError);
  });
});
