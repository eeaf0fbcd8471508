// EnvelopeWorkspace: the allocation-free seal and open of the workers must be byte for byte the
// envelope of seal() and open(), with one workspace reused across calls of every size, and must
// refuse damage exactly as open() does.
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadPrimitives } from '../../native-bindings/index.js';
import { isEngineError } from '../errors/engine-error.js';
import { EnvelopeWorkspace, Suite, nonceBytes, open, seal } from './envelope.js';
import { deriveRepoKeys } from './keys.js';

const { primitives: p } = await loadPrimitives(process.env.ENGINE_NATIVE === 'off' ? 'fallback' : 'auto');
const keys = deriveRepoKeys(p.blake3, randomBytes(32));

function textLike(n: number, seed: number): Uint8Array {
  const line = new TextEncoder().encode(`line ${seed}: the quick brown fox jumps over the lazy dog\n`);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = line[i % line.length]!;
  return out;
}

/** The error code `fn` throws ('none' when it returns). */
function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return isEngineError(err) ? err.code : `non-engine error: ${String(err)}`;
  }
  return 'none';
}

const payloadArb = fc.record({
  size: fc.oneof(fc.integer({ min: 0, max: 70 }), fc.integer({ min: 0, max: 300_000 })),
  compressible: fc.boolean(),
  suite: fc.constantFrom(Suite.XCHACHA20_POLY1305, Suite.AES_256_GCM),
  zstdLevel: fc.constantFrom(null, 1, 3),
  seed: fc.integer({ min: 0, max: 1000 }),
});

describe('EnvelopeWorkspace', () => {
  it('seals the same bytes as seal() and opens what seal() made, one workspace for every call', () => {
    const ws = new EnvelopeWorkspace(p, keys);
    fc.assert(
      fc.property(payloadArb, ({ size, compressible, suite, zstdLevel, seed }) => {
        const payload = compressible ? textLike(size, seed) : new Uint8Array(randomBytes(size));
        const nonce = new Uint8Array(randomBytes(24));
        const opts = { suite, zstdLevel, fixedNonceForTestVectors: nonce };
        const expected = seal(p, keys, payload, opts);
        // Into the middle of a larger buffer: the bytes around it stay untouched.
        const bound = EnvelopeWorkspace.sealedBound(suite, size);
        const backing = new Uint8Array(bound + 20).fill(0x5a);
        const n = ws.sealInto(payload, opts, backing.subarray(10, 10 + bound));
        expect(Buffer.from(backing.subarray(10, 10 + n)).equals(expected)).toBe(true);
        expect(backing.subarray(0, 10).every((b) => b === 0x5a) && backing.subarray(10 + bound).every((b) => b === 0x5a)).toBe(true);

        const out = new Uint8Array(size);
        expect(ws.openInto(expected, out, 'test')).toBe(size);
        expect(Buffer.from(out).equals(payload)).toBe(true);
        expect(Buffer.from(ws.openScratch(expected, size, 'test')).equals(payload)).toBe(true);
        // And what it sealed with a random nonce opens with plain open().
        const fresh = new Uint8Array(bound);
        const m = ws.sealInto(payload, { suite, zstdLevel }, fresh);
        expect(Buffer.from(open(p, keys, fresh.subarray(0, m), size, 'test')).equals(payload)).toBe(true);
      }),
      { numRuns: 120 },
    );
  });

  it('refuses damage, wrong keys and oversized payloads with the same error codes as open()', () => {
    const ws = new EnvelopeWorkspace(p, keys);
    const other = new EnvelopeWorkspace(p, deriveRepoKeys(p.blake3, randomBytes(32)));
    for (const suite of [Suite.XCHACHA20_POLY1305, Suite.AES_256_GCM]) {
      for (const zstdLevel of [null, 3]) {
        const payload = textLike(5000, suite);
        const sealed = seal(p, keys, payload, { suite, zstdLevel });
        const positions = [0, 1, 2, 2 + nonceBytes(suite), 2 + nonceBytes(suite) + 1, sealed.length - 1];
        for (const pos of positions) {
          const bad = sealed.slice();
          bad[pos] = bad[pos]! ^ 0x10;
          const want = codeOf(() => open(p, keys, bad, payload.length, 'flip'));
          expect(want).not.toBe('none');
          expect(codeOf(() => ws.openInto(bad, new Uint8Array(payload.length), 'flip')), `byte ${pos}`).toBe(want);
          expect(codeOf(() => ws.openScratch(bad, payload.length, 'flip')), `byte ${pos}`).toBe(want);
        }
        for (let n = 0; n < 40; n++) {
          expect(codeOf(() => ws.openInto(sealed.subarray(0, n), new Uint8Array(payload.length), 'cut'))).toBe(codeOf(() => open(p, keys, sealed.subarray(0, n), payload.length, 'cut')));
        }
        expect(codeOf(() => other.openInto(sealed, new Uint8Array(payload.length), 'wrong key'))).toBe(codeOf(() => open(p, deriveRepoKeys(p.blake3, randomBytes(32)), sealed, payload.length, 'k')));
        expect(codeOf(() => ws.openInto(sealed, new Uint8Array(payload.length - 1), 'small'))).toBe(codeOf(() => open(p, keys, sealed, payload.length - 1, 'small')));
        expect(codeOf(() => ws.openInto(sealed, new Uint8Array(payload.length - 1), 'small'))).not.toBe('none');
        // After all those refusals the workspace still works.
        expect(Buffer.from(ws.openScratch(sealed, payload.length, 'ok')).equals(payload)).toBe(true);
      }
    }
  });

  it('a payload bigger than the scratch it keeps works, and so do small ones after it', () => {
    const ws = new EnvelopeWorkspace(p, keys);
    for (const size of [1000, 17 * 1024 * 1024 + 5, 2000]) {
      const payload = textLike(size, size);
      const out = new Uint8Array(EnvelopeWorkspace.sealedBound(Suite.XCHACHA20_POLY1305, size));
      const n = ws.sealInto(payload, { suite: Suite.XCHACHA20_POLY1305, zstdLevel: 3 }, out);
      expect(n).toBeLessThan(size);
      expect(Buffer.from(open(p, keys, out.subarray(0, n), size, 'big')).equals(payload)).toBe(true);
      expect(Buffer.from(ws.openScratch(out.subarray(0, n), size, 'big')).equals(payload)).toBe(true);
    }
  });

  it('refuses an output buffer below the bound before sealing anything', () => {
    const ws = new EnvelopeWorkspace(p, keys);
    const payload = textLike(100, 1);
    expect(() => ws.sealInto(payload, { suite: Suite.AES_256_GCM, zstdLevel: 3 }, new Uint8Array(EnvelopeWorkspace.sealedBound(Suite.AES_256_GCM, 100) - 1))).toThrow(RangeError);
  });
});
