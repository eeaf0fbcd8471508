// The look before compressing: random-looking payloads are stored raw without a zstd pass, and
// what that gives up is bounded (a payload judged incompressible does not shrink by 1% at level 3).
import { createCipheriv, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadPrimitives } from '../../native-bindings/index.js';
import type { Primitives, Zstd } from '../../native-bindings/types.js';
import { EnvelopeWorkspace, open, seal, Suite } from './envelope.js';
import { looksIncompressible, MIN_SAMPLED_PAYLOAD } from './incompressible.js';
import { deriveRepoKeys } from './keys.js';

const { primitives: p } = await loadPrimitives(process.env.ENGINE_NATIVE === 'off' ? 'fallback' : 'auto');
const keys = deriveRepoKeys(p.blake3, randomBytes(32));
const KiB = 1024;
const MiB = 1024 * KiB;

/** Deterministic pseudo-random bytes (AES-128-CTR keystream of a seed). */
function prng(seed: number, n: number): Uint8Array {
  const key = Buffer.alloc(16);
  key.writeUInt32LE(seed >>> 0, 0);
  key.write('incompressible', 4, 'latin1');
  return new Uint8Array(createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(n)));
}

function text(n: number, seed: number): Uint8Array {
  const words = ['backup', 'chunk', 'the', 'of', 'repository', 'index', 'snapshot', 'pack', 'zstd', 'key', String(seed)];
  const r = prng(seed, n);
  const out = new Uint8Array(n);
  let i = 0;
  for (let k = 0; i < n; k++) {
    const w = `${words[r[k % n]! % words.length]}${k % 13 === 0 ? '\n' : ' '}`;
    for (let j = 0; j < w.length && i < n; j++) out[i++] = w.charCodeAt(j);
  }
  return out;
}

/** Independent bytes drawn from a random distribution over `alphabet` values: flat or skewed histograms. */
function skewed(n: number, seed: number, alphabet: number, skew: number): Uint8Array {
  const r = prng(seed, n * 2);
  const weights = Array.from({ length: alphabet }, (_, v) => 1 + skew * ((r[v]! / 255) ** 3));
  const total = weights.reduce((a, b) => a + b, 0);
  const table = new Uint8Array(65536);
  let at = 0;
  weights.forEach((w, v) => {
    const end = v === alphabet - 1 ? 65536 : Math.min(65536, at + Math.round((w / total) * 65536));
    table.fill(v, at, end);
    at = end;
  });
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = table[r[2 * i]! | (r[2 * i + 1]! << 8)]!;
  return out;
}

function zstdShrinks(z: Zstd, data: Uint8Array, level: number): number {
  return z.compressInto(data, level, new Uint8Array(z.compressBound(data.length))) / data.length;
}

describe('looksIncompressible', () => {
  it('says so for random data of every size from MIN_SAMPLED_PAYLOAD on, and never below it', () => {
    for (const n of [MIN_SAMPLED_PAYLOAD, MIN_SAMPLED_PAYLOAD + 1, 100_000, 1 * MiB, 8 * MiB + 3]) {
      for (let seed = 0; seed < 4; seed++) expect(looksIncompressible(prng(seed + n, n)), `${n} bytes`).toBe(true);
    }
    for (const n of [0, 1, 4096, MIN_SAMPLED_PAYLOAD - 1]) expect(looksIncompressible(prng(n, n))).toBe(false);
  });

  it('does not for text, nor for random data holding a text run longer than the spacing of the samples', () => {
    expect(looksIncompressible(text(1 * MiB, 1))).toBe(false);
    // 1 MiB is sampled every ~70 KiB: a 72 KiB run holds a whole sampled piece wherever it lies.
    for (const at of [0, 300 * KiB + 123, 1 * MiB - 72 * KiB]) {
      const data = prng(at, 1 * MiB);
      data.set(text(72 * KiB, at), at);
      expect(looksIncompressible(data), `text at ${at}`).toBe(false);
    }
  });

  it('does not for data with a flat histogram but repeats (a byte counter; a random block over and over)', () => {
    expect(looksIncompressible(Uint8Array.from({ length: 1 * MiB }, (_, i) => i & 255))).toBe(false);
    const block = prng(3, 5000);
    expect(looksIncompressible(Uint8Array.from({ length: 1 * MiB }, (_, i) => block[i % block.length]!))).toBe(false);
  });

  it('does not for a skewed byte distribution (half the byte values)', () => {
    expect(looksIncompressible(skewed(1 * MiB, 5, 128, 0))).toBe(false);
  });

  it('property: a payload it calls incompressible does not shrink by 1% at zstd level 3', () => {
    fc.assert(
      fc.property(fc.nat(), fc.integer({ min: MIN_SAMPLED_PAYLOAD, max: 512 * KiB }), fc.integer({ min: 200, max: 256 }), fc.double({ min: 0, max: 1, noNaN: true }), (seed, n, alphabet, skew) => {
        const data = skewed(n, seed, alphabet, skew);
        if (looksIncompressible(data)) expect(zstdShrinks(p.zstd, data, 3)).toBeGreaterThan(0.99);
      }),
      { numRuns: 40 },
    );
  });
});

/** p with zstd's compress calls counted. */
function countingZstd(): { prims: Primitives; calls: () => number } {
  let calls = 0;
  const z = p.zstd;
  const zstd: Zstd = {
    impl: z.impl,
    compress: (input, level) => (calls++, z.compress(input, level)),
    compressInto: (input, level, out) => (calls++, z.compressInto(input, level, out)),
    compressBound: (n) => z.compressBound(n),
    decompress: (input, max) => z.decompress(input, max),
    decompressInto: (input, out) => z.decompressInto(input, out),
  };
  return { prims: { ...p, zstd }, calls: () => calls };
}

describe('sealing skips zstd for random-looking payloads', () => {
  it('seal() and sealInto() store a random payload raw without compressing it, and a text payload compressed', () => {
    const { prims, calls } = countingZstd();
    const ws = new EnvelopeWorkspace(prims, keys);
    const opts = { suite: Suite.XCHACHA20_POLY1305, zstdLevel: 3 };
    const random = prng(9, 1 * MiB);
    const sealed = seal(prims, keys, random, opts);
    const out = new Uint8Array(EnvelopeWorkspace.sealedBound(opts.suite, random.length));
    const n = ws.sealInto(random, opts, out);
    expect(calls()).toBe(0);
    expect(sealed.length).toBe(n);
    expect(n).toBe(EnvelopeWorkspace.sealedBound(opts.suite, random.length));
    expect(Buffer.from(open(p, keys, out.subarray(0, n), random.length, 'raw')).equals(random)).toBe(true);

    const words = text(1 * MiB, 2);
    const m = ws.sealInto(words, opts, new Uint8Array(EnvelopeWorkspace.sealedBound(opts.suite, words.length)));
    expect(calls()).toBe(1);
    expect(m).toBeLessThan(words.length / 2);
  });
});
