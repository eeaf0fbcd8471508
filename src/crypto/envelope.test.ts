// The sealed envelope: round trips for both suites with and without zstd, compression only when it
// pays, and every kind of damage (bit flips, truncation, wrong key, oversized payload) refused.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadPrimitives } from '../../native-bindings/index.js';
import { ErrorCode, isEngineError } from '../errors/engine-error.js';
import {
  Compression,
  ENVELOPE_VERSION,
  Suite,
  TAG_BYTES,
  envelopeOverhead,
  nonceBytes,
  open,
  openWithKey,
  seal,
  sealWithKey,
} from './envelope.js';
import { deriveRepoKeys } from './keys.js';

const { primitives: p } = await loadPrimitives(process.env.ENGINE_NATIVE === 'off' ? 'fallback' : 'auto');

const keys = deriveRepoKeys(p.blake3, randomBytes(32));
const otherKeys = deriveRepoKeys(p.blake3, randomBytes(32));

const SUITES = [
  { name: 'xchacha20-poly1305', suite: Suite.XCHACHA20_POLY1305 },
  { name: 'aes-256-gcm', suite: Suite.AES_256_GCM },
] as const;

const LEVELS = [null, 3] as const;

function compressible(n: number): Uint8Array {
  const line = new TextEncoder().encode('the quick brown fox jumps over the lazy dog 0123456789\n');
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = line[i % line.length]!;
  return out;
}

const PAYLOADS: { name: string; bytes: Uint8Array; shrinks: boolean }[] = [
  { name: 'empty', bytes: new Uint8Array(0), shrinks: false },
  { name: '1 byte', bytes: new Uint8Array([0x42]), shrinks: false },
  { name: 'incompressible 64 KiB', bytes: new Uint8Array(randomBytes(64 * 1024)), shrinks: false },
  { name: 'compressible 64 KiB', bytes: compressible(64 * 1024), shrinks: true },
  { name: 'compressible 1 MiB + 3', bytes: compressible(1024 * 1024 + 3), shrinks: true },
];

/** The error code `fn` throws, or 'none' when it returns. */
function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    return isEngineError(err) ? err.code : `non-engine error: ${String(err)}`;
  }
  return 'none';
}

/** Decrypts without decompressing, to see which compression byte the envelope carries. */
function innerPlain(sealed: Uint8Array): Uint8Array {
  const suite = sealed[1] as Suite;
  const nb = nonceBytes(suite);
  const aead = suite === Suite.XCHACHA20_POLY1305 ? p.xchacha20poly1305 : p.aes256gcm;
  const key = suite === Suite.XCHACHA20_POLY1305 ? keys.xchacha : keys.aes;
  const plain = aead.open(key, sealed.subarray(2, 2 + nb), sealed.subarray(2 + nb), sealed.subarray(0, 2));
  expect(plain).not.toBeNull();
  return plain!;
}

describe.each(SUITES)('envelope, suite $name', ({ suite }) => {
  describe.each(LEVELS.map((zstdLevel) => ({ zstdLevel, label: zstdLevel === null ? 'uncompressed' : `zstd ${zstdLevel}` })))('$label', ({ zstdLevel }) => {
    it.each(PAYLOADS)('round-trips a $name payload', ({ bytes, shrinks }) => {
      const sealed = seal(p, keys, bytes, { suite, zstdLevel });
      expect(sealed[0]).toBe(ENVELOPE_VERSION);
      expect(sealed[1]).toBe(suite);
      const compressed = zstdLevel !== null && shrinks;
      if (compressed) {
        expect(sealed.length).toBeLessThan(bytes.length);
      } else {
        expect(sealed.length).toBe(bytes.length + envelopeOverhead(suite));
      }
      expect(sealed.length).toBeLessThanOrEqual(bytes.length + envelopeOverhead(suite));
      const inner = innerPlain(sealed);
      expect(inner[0]).toBe(compressed ? Compression.ZSTD : Compression.NONE);
      const back = open(p, keys, sealed, bytes.length, 'test');
      expect(Buffer.compare(back, bytes)).toBe(0);
    });
  });

  it('compression is kept only when it shrinks the payload', () => {
    // Short or random payloads grow under zstd: they are stored raw.
    for (const bytes of [new Uint8Array([1]), new Uint8Array(randomBytes(10)), new Uint8Array(randomBytes(4096))]) {
      const z = p.zstd.compress(bytes, 3);
      expect(z.length).toBeGreaterThanOrEqual(bytes.length);
      const sealed = seal(p, keys, bytes, { suite, zstdLevel: 3 });
      expect(innerPlain(sealed)[0]).toBe(Compression.NONE);
      expect(sealed.length).toBe(bytes.length + envelopeOverhead(suite));
    }
    // A compressible payload is stored compressed: the envelope is the zstd frame plus the overhead.
    const text = compressible(20_000);
    const sealed = seal(p, keys, text, { suite, zstdLevel: 3 });
    const inner = innerPlain(sealed);
    expect(inner[0]).toBe(Compression.ZSTD);
    expect(inner.length - 1).toBeLessThan(text.length);
    expect(sealed.length).toBe(inner.length - 1 + envelopeOverhead(suite));
    expect(Buffer.compare(p.zstd.decompress(inner.subarray(1), text.length), text)).toBe(0);
  });

  it('uses a fresh nonce per seal: the same payload seals to different bytes that both open', () => {
    const bytes = compressible(1000);
    const a = seal(p, keys, bytes, { suite, zstdLevel: null });
    const b = seal(p, keys, bytes, { suite, zstdLevel: null });
    expect(Buffer.compare(a, b)).not.toBe(0);
    expect(Buffer.compare(a.subarray(2, 2 + nonceBytes(suite)), b.subarray(2, 2 + nonceBytes(suite)))).not.toBe(0);
    expect(Buffer.compare(open(p, keys, a, 1000, 'a'), open(p, keys, b, 1000, 'b'))).toBe(0);
  });

  it.each(LEVELS)('flipping any single bit of a small envelope is refused (zstd level %s)', (zstdLevel) => {
    const sealed = seal(p, keys, new Uint8Array([7, 8, 9]), { suite, zstdLevel });
    expect(sealed.length).toBe(3 + envelopeOverhead(suite));
    for (let pos = 0; pos < sealed.length; pos++) {
      for (let bit = 0; bit < 8; bit++) {
        const bad = sealed.slice();
        bad[pos] = bad[pos]! ^ (1 << bit);
        const code = codeOf(() => open(p, keys, bad, 1 << 20, 'flip'));
        if (pos === 1) {
          // The suite byte: no single flip turns 1 into 2 or back, so the suite is unknown.
          // Refused either way; never decrypted under another cipher.
          expect([ErrorCode.INTEGRITY, ErrorCode.FORMAT_UNSUPPORTED], `byte ${pos} bit ${bit}`).toContain(code);
        } else {
          expect(code, `byte ${pos} bit ${bit}`).toBe(ErrorCode.INTEGRITY);
        }
      }
    }
  });

  it.each(LEVELS)('flipping a bit at sampled positions of a large envelope is refused (zstd level %s)', (zstdLevel) => {
    const payload = zstdLevel === null ? new Uint8Array(randomBytes(300_000)) : compressible(2_000_000);
    const sealed = seal(p, keys, payload, { suite, zstdLevel });
    const positions = new Set<number>([0, sealed.length - 1, sealed.length - TAG_BYTES, sealed.length - TAG_BYTES - 1]);
    for (let i = 2; i < 2 + nonceBytes(suite) + 4; i++) positions.add(i);
    const rnd = randomBytes(4 * 48);
    for (let k = 0; k < 48; k++) positions.add(2 + (rnd.readUInt32LE(4 * k) % (sealed.length - 2)));
    for (const pos of positions) {
      const bad = sealed.slice();
      bad[pos] = bad[pos]! ^ (1 << (pos % 8));
      expect(codeOf(() => open(p, keys, bad, payload.length, 'flip')), `byte ${pos}`).toBe(ErrorCode.INTEGRITY);
    }
    // The undamaged envelope still opens.
    expect(Buffer.compare(open(p, keys, sealed, payload.length, 'ok'), payload)).toBe(0);
  });

  it('a wrong key is refused with E_INTEGRITY', () => {
    for (const zstdLevel of LEVELS) {
      for (const { bytes } of PAYLOADS.slice(0, 4)) {
        const sealed = seal(p, keys, bytes, { suite, zstdLevel });
        expect(codeOf(() => open(p, otherKeys, sealed, 1 << 20, 'wrong key'))).toBe(ErrorCode.INTEGRITY);
      }
    }
    // The other suite's key of the same repository does not open it either.
    const sealed = seal(p, keys, compressible(100), { suite, zstdLevel: null });
    const swapped = { xchacha: keys.aes, aes: keys.xchacha };
    expect(codeOf(() => open(p, swapped, sealed, 1 << 20, 'swapped'))).toBe(ErrorCode.INTEGRITY);
  });

  it('a payload larger than maxPayload is refused with E_INTEGRITY, compressed or not', () => {
    const raw = new Uint8Array(randomBytes(1000));
    const sealedRaw = seal(p, keys, raw, { suite, zstdLevel: null });
    expect(open(p, keys, sealedRaw, 1000, 'exact').length).toBe(1000);
    expect(codeOf(() => open(p, keys, sealedRaw, 999, 'small max'))).toBe(ErrorCode.INTEGRITY);
    expect(codeOf(() => open(p, keys, sealedRaw, 0, 'zero max'))).toBe(ErrorCode.INTEGRITY);

    const text = compressible(64 * 1024);
    const sealedZ = seal(p, keys, text, { suite, zstdLevel: 3 });
    expect(innerPlain(sealedZ)[0]).toBe(Compression.ZSTD);
    expect(open(p, keys, sealedZ, text.length, 'exact').length).toBe(text.length);
    expect(codeOf(() => open(p, keys, sealedZ, text.length - 1, 'small max'))).toBe(ErrorCode.INTEGRITY);
    expect(codeOf(() => open(p, keys, sealedZ, 1024, 'much smaller max'))).toBe(ErrorCode.INTEGRITY);
  });

  it('a truncated or extended envelope is refused with E_INTEGRITY', () => {
    for (const zstdLevel of LEVELS) {
      const sealed = seal(p, keys, compressible(40), { suite, zstdLevel });
      for (let n = 0; n < sealed.length; n++) {
        expect(codeOf(() => open(p, keys, sealed.subarray(0, n), 1 << 20, 'truncated')), `length ${n}`).toBe(ErrorCode.INTEGRITY);
      }
      const longer = new Uint8Array(sealed.length + 1);
      longer.set(sealed);
      expect(codeOf(() => open(p, keys, longer, 1 << 20, 'extended'))).toBe(ErrorCode.INTEGRITY);
      // A view into a larger buffer opens like a copy (byteOffset honoured).
      const big = new Uint8Array(sealed.length + 10);
      big.set(sealed, 5);
      expect(Buffer.compare(open(p, keys, big.subarray(5, 5 + sealed.length), 1 << 20, 'view'), compressible(40))).toBe(0);
    }
  });
});

describe('envelope headers', () => {
  it('an unknown suite byte is an error, both when sealing and when opening', () => {
    const sealed = seal(p, keys, compressible(100), { suite: Suite.XCHACHA20_POLY1305, zstdLevel: null });
    for (const s of [0, 3, 4, 255]) {
      const bad = sealed.slice();
      bad[1] = s;
      const code = codeOf(() => open(p, keys, bad, 1 << 20, 'suite'));
      expect([ErrorCode.FORMAT_UNSUPPORTED, ErrorCode.INTEGRITY]).toContain(code);
    }
    expect(isEngineError((() => {
      try {
        seal(p, keys, new Uint8Array(1), { suite: 7 as Suite, zstdLevel: null });
      } catch (err) {
        return err;
      }
      return null;
    })())).toBe(true);
  });

  it('a suite byte changed to the other known suite fails authentication', () => {
    for (const { suite } of SUITES) {
      const sealed = seal(p, keys, compressible(100), { suite, zstdLevel: null });
      const bad = sealed.slice();
      bad[1] = suite === Suite.XCHACHA20_POLY1305 ? Suite.AES_256_GCM : Suite.XCHACHA20_POLY1305;
      expect(codeOf(() => open(p, keys, bad, 1 << 20, 'other suite'))).toBe(ErrorCode.INTEGRITY);
    }
  });

  it('an unknown envelope version is refused with E_INTEGRITY', () => {
    const sealed = seal(p, keys, compressible(100), { suite: Suite.AES_256_GCM, zstdLevel: 3 });
    for (const v of [0, 2, 255]) {
      const bad = sealed.slice();
      bad[0] = v;
      expect(codeOf(() => open(p, keys, bad, 1 << 20, 'version'))).toBe(ErrorCode.INTEGRITY);
    }
  });

  it('overhead is version + suite + nonce + tag + compression byte', () => {
    expect(envelopeOverhead(Suite.XCHACHA20_POLY1305)).toBe(2 + 24 + 16 + 1);
    expect(envelopeOverhead(Suite.AES_256_GCM)).toBe(2 + 12 + 16 + 1);
  });
});

describe('sealWithKey / openWithKey (key files)', () => {
  const key = new Uint8Array(randomBytes(32));

  it('round-trips under a non-repository key with suite 1 and no compression', () => {
    for (const payload of [new Uint8Array(0), new Uint8Array(randomBytes(32)), compressible(5000)]) {
      const sealed = sealWithKey(p, key, payload);
      expect(sealed[0]).toBe(ENVELOPE_VERSION);
      expect(sealed[1]).toBe(Suite.XCHACHA20_POLY1305);
      expect(sealed.length).toBe(payload.length + envelopeOverhead(Suite.XCHACHA20_POLY1305));
      expect(Buffer.compare(openWithKey(p, key, sealed, payload.length, 'key'), payload)).toBe(0);
    }
  });

  it('a wrong password key or a flipped byte is refused with E_INTEGRITY', () => {
    const sealed = sealWithKey(p, key, new Uint8Array(randomBytes(32)));
    expect(codeOf(() => openWithKey(p, new Uint8Array(randomBytes(32)), sealed, 32, 'key'))).toBe(ErrorCode.INTEGRITY);
    for (let pos = 2; pos < sealed.length; pos++) {
      const bad = sealed.slice();
      bad[pos] = bad[pos]! ^ 0x01;
      expect(codeOf(() => openWithKey(p, key, bad, 32, 'key')), `byte ${pos}`).toBe(ErrorCode.INTEGRITY);
    }
  });
});
