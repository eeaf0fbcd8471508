// Every implementation of a primitive that loads on this machine must be interchangeable:
// identical bytes out (zstd: mutually decodable), identical refusals. Tests pass the policy
// explicitly, so they behave the same in both vitest projects (ENGINE_NATIVE=auto and off).
import { describe, it, expect } from 'vitest';
import * as crypto from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { itWhen } from '../test/support/it-when.js';
import type { Adapter, Aead } from './index.js';
import {
  ADAPTERS,
  choose,
  chosenImpls,
  DISABLED_REASON,
  loadChosenPrimitives,
  loadPrimitives,
  NoPrimitiveError,
  ZstdDecodeError,
} from './index.js';
import { fromHex, toHex } from './bytes.js';
import { hchacha20 } from './xchacha20poly1305/hchacha20.js';
import { HCHACHA20_VECTOR } from './xchacha20poly1305/vectors.js';
import { REFERENCE_VECTOR } from './argon2id/vectors.js';
import { GOLDEN_FRAME_SIZED, GOLDEN_FRAME_UNSIZED, GOLDEN_TEXT } from './zstd/vectors.js';

const SIZES = [0, 1, 63, 64, 65, (1 << 20) + 7];
/** node:crypto as typed for the newest Node; what an older one lacks is undefined. */
const nodeCrypto: Partial<typeof crypto> = crypto;

interface Loaded<T> {
  readonly impl: string;
  readonly value: T;
}

/** Candidates that load here (a missing optional addon is skipped, not failed). */
async function loadable<T>(adapter: Adapter<T>): Promise<Loaded<T>[]> {
  const out: Loaded<T>[] = [];
  for (const c of adapter.candidates) {
    try {
      out.push({ impl: c.impl, value: await c.load() });
    } catch {
      // reported by the selection tests' reasons; nothing to compare
    }
  }
  return out;
}

const blake3s = await loadable(ADAPTERS.blake3);
const xchachas = await loadable(ADAPTERS.xchacha20poly1305);
const aeses = await loadable(ADAPTERS.aes256gcm);
const argons = await loadable(ADAPTERS.argon2id);
const zstds = await loadable(ADAPTERS.zstd);

/** A view into a larger buffer, so implementations must honour byteOffset. */
function offsetView(bytes: Uint8Array): Uint8Array {
  const backing = new Uint8Array(bytes.length + 11);
  backing.set(bytes, 5);
  return backing.subarray(5, 5 + bytes.length);
}

function flipBit(bytes: Uint8Array, index: number): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy[index] = (copy[index] ?? 0) ^ 0x04;
  return copy;
}

describe('blake3', () => {
  it('has more than one implementation to compare', () => {
    expect(blake3s.length).toBeGreaterThanOrEqual(2);
  });

  it.each(blake3s.map((b) => [b.impl, b.value] as const))('%s passes the official test vectors', async (_, b) => {
    await ADAPTERS.blake3.selfTest(b);
  });

  it.each(SIZES)('all implementations agree on %i random bytes, plain and keyed', (size) => {
    const data = randomBytes(size);
    const key = randomBytes(32);
    const expected = blake3s.map((b) => [b.impl, toHex(b.value.hash(data)), toHex(b.value.keyedHash(key, data))]);
    const reference = expected[0];
    for (const row of expected) expect(row.slice(1)).toEqual(reference?.slice(1));
    // And through an offset view of the same bytes.
    for (const b of blake3s) expect(toHex(b.value.hash(offsetView(data)))).toBe(reference?.[1]);
  });

  it('keyed hashing switches keys correctly when interleaved', () => {
    const data = randomBytes(1000);
    const keys = [randomBytes(32), randomBytes(32), randomBytes(32)];
    for (let round = 0; round < 2; round++) {
      for (const key of keys) {
        const outs = new Set(blake3s.map((b) => toHex(b.value.keyedHash(key, data))));
        expect(outs.size).toBe(1);
      }
    }
  });

  it('every implementation refuses a key that is not 32 bytes', () => {
    for (const b of blake3s) {
      expect(() => b.value.keyedHash(new Uint8Array(31), new Uint8Array(1))).toThrow(RangeError);
      expect(() => b.value.keyedHash(new Uint8Array(33), new Uint8Array(1))).toThrow(RangeError);
    }
  });
});

function aeadSuite(name: string, impls: readonly Loaded<Aead>[], adapter: Adapter<Aead>): void {
  describe(name, () => {
    it('has an implementation', () => {
      expect(impls.length).toBeGreaterThanOrEqual(1);
    });

    it.each(impls.map((a) => [a.impl, a.value] as const))('%s passes the known-answer vectors', async (_, a) => {
      await adapter.selfTest(a);
    });

    it.each(SIZES)('all implementations seal %i bytes identically and open each other', (size) => {
      const nonceBytes = impls[0]?.value.nonceBytes ?? 0;
      for (const aadSize of [0, 13]) {
        const key = randomBytes(32);
        const nonce = randomBytes(nonceBytes);
        const aad = randomBytes(aadSize);
        const plaintext = randomBytes(size);
        const sealed = impls.map((a) => a.value.seal(key, nonce, plaintext, aad));
        for (const s of sealed) {
          expect(s.length).toBe(size + 16);
          expect(toHex(s)).toBe(toHex(sealed[0] ?? new Uint8Array()));
        }
        for (const a of impls) {
          const opened = a.value.open(offsetView(key), offsetView(nonce), offsetView(sealed[0] ?? new Uint8Array()), offsetView(aad));
          expect(opened).not.toBeNull();
          expect(Buffer.from(opened ?? []).equals(plaintext)).toBe(true);
        }
      }
    });

    it.each(impls.map((a) => [a.impl, a.value] as const))('%s returns null for any tampering, wrong key or short input', (_, a) => {
      for (const size of [0, 1, 100]) {
        const key = randomBytes(32);
        const nonce = randomBytes(a.nonceBytes);
        const aad = randomBytes(7);
        const sealed = a.seal(key, nonce, randomBytes(size), aad);
        if (size > 0) expect(a.open(key, nonce, flipBit(sealed, 0), aad)).toBeNull(); // ciphertext
        expect(a.open(key, nonce, flipBit(sealed, sealed.length - 1), aad)).toBeNull(); // tag
        expect(a.open(key, flipBit(nonce, nonce.length - 1), sealed, aad)).toBeNull(); // nonce
        expect(a.open(key, flipBit(nonce, 0), sealed, aad)).toBeNull(); // nonce (HChaCha20 part for XChaCha)
        expect(a.open(key, nonce, sealed, flipBit(aad, 3))).toBeNull(); // aad
        expect(a.open(key, nonce, sealed, new Uint8Array(0))).toBeNull(); // aad dropped
        expect(a.open(flipBit(key, 31), nonce, sealed, aad)).toBeNull(); // wrong key
        expect(a.open(key, nonce, sealed.subarray(0, sealed.length - 1), aad)).toBeNull(); // truncated
        expect(a.open(key, nonce, new Uint8Array(0), aad)).toBeNull();
        expect(a.open(key, nonce, sealed, aad)).not.toBeNull();
      }
    });

    it.each(SIZES)('sealInto and openInto write the same bytes as seal and open, %i bytes, in every implementation', (size) => {
      const nonceBytes = impls[0]?.value.nonceBytes ?? 0;
      const key = randomBytes(32);
      const nonce = randomBytes(nonceBytes);
      const aad = randomBytes(2);
      const plaintext = randomBytes(size);
      const expected = impls[0]!.value.seal(key, nonce, plaintext, aad);
      for (const a of impls) {
        // Into the middle of a larger buffer, whose neighbours must stay untouched.
        const backing = new Uint8Array(size + 16 + 10).fill(0xaa);
        a.value.sealInto(offsetView(key), offsetView(nonce), offsetView(plaintext), offsetView(aad), backing.subarray(5, 5 + size + 16));
        expect(toHex(backing.subarray(5, 5 + size + 16)), a.impl).toBe(toHex(expected));
        expect([...backing.subarray(0, 5), ...backing.subarray(5 + size + 16)].every((b) => b === 0xaa), a.impl).toBe(true);
        const back = new Uint8Array(size);
        expect(a.value.openInto(key, nonce, offsetView(expected), aad, back), a.impl).toBe(true);
        expect(Buffer.from(back).equals(plaintext), a.impl).toBe(true);
      }
    });

    it.each(impls.map((a) => [a.impl, a.value] as const))('%s openInto returns false and zeroes its output on tampering; wrong output sizes throw RangeError', (_, a) => {
      const key = randomBytes(32);
      const nonce = randomBytes(a.nonceBytes);
      const aad = randomBytes(2);
      const sealed = a.seal(key, nonce, randomBytes(100), aad);
      const out = new Uint8Array(100).fill(7);
      expect(a.openInto(key, nonce, flipBit(sealed, 3), aad, out)).toBe(false);
      expect(out.every((b) => b === 0)).toBe(true);
      expect(a.openInto(key, nonce, sealed.subarray(0, 15), aad, new Uint8Array(0))).toBe(false);
      expect(() => a.openInto(key, nonce, sealed, aad, new Uint8Array(99))).toThrow(RangeError);
      expect(() => a.sealInto(key, nonce, new Uint8Array(10), aad, new Uint8Array(25))).toThrow(RangeError);
      expect(() => a.sealInto(key, nonce, new Uint8Array(10), aad, new Uint8Array(27))).toThrow(RangeError);
    });

    it.each(impls.map((a) => [a.impl, a.value] as const))('%s throws RangeError for wrong key or nonce sizes', (_, a) => {
      const pt = new Uint8Array(4);
      expect(() => a.seal(new Uint8Array(16), new Uint8Array(a.nonceBytes), pt, pt)).toThrow(RangeError);
      expect(() => a.seal(new Uint8Array(32), new Uint8Array(a.nonceBytes - 1), pt, pt)).toThrow(RangeError);
      expect(() => a.open(new Uint8Array(31), new Uint8Array(a.nonceBytes), new Uint8Array(20), pt)).toThrow(RangeError);
    });

    it.each(impls.map((a) => [a.impl, a.value] as const))('%s returns results that own their memory', (_, a) => {
      const key = randomBytes(32);
      const nonce = randomBytes(a.nonceBytes);
      const sealed = a.seal(key, nonce, randomBytes(10), new Uint8Array(0));
      const opened = a.open(key, nonce, sealed, new Uint8Array(0));
      // Small Buffers from Buffer.allocUnsafe share a pool; transferring one would detach it.
      for (const out of [sealed, opened ?? new Uint8Array()]) expect(out.buffer.byteLength).toBe(out.length);
    });
  });
}

describe('hchacha20', () => {
  it('matches draft-irtf-cfrg-xchacha section 2.2.1', () => {
    const out = new Uint8Array(32);
    hchacha20(fromHex(HCHACHA20_VECTOR.key), fromHex(HCHACHA20_VECTOR.nonce), out);
    expect(toHex(out)).toBe(HCHACHA20_VECTOR.subkey);
  });
});

aeadSuite('xchacha20poly1305', xchachas, ADAPTERS.xchacha20poly1305);
aeadSuite('aes256gcm', aeses, ADAPTERS.aes256gcm);

describe('argon2id', () => {
  const utf8 = new TextEncoder();

  it.each(argons.map((a) => [a.impl, a.value] as const))('%s passes the known-answer vectors', async (_, a) => {
    await ADAPTERS.argon2id.selfTest(a);
  });

  it('hash-wasm matches the phc-winner-argon2 reference vector', async () => {
    const { argon2id } = await import('hash-wasm');
    const r = REFERENCE_VECTOR;
    const hex = await argon2id({
      password: r.password, salt: r.salt, iterations: r.t, memorySize: r.mKiB, parallelism: r.p, hashLength: 32, outputType: 'hex',
    });
    expect(hex).toBe(r.hash);
  });

  // Node's built-in takes the reference vector's 8-byte salt, which engine's adapters refuse.
  itWhen(typeof nodeCrypto.argon2Sync === 'function')('node:crypto argon2 matches the phc-winner-argon2 reference vector', () => {
    const r = REFERENCE_VECTOR;
    const out = nodeCrypto.argon2Sync!('argon2id', { message: r.password, nonce: r.salt, parallelism: r.p, tagLength: 32, memory: r.mKiB, passes: r.t });
    expect(out.toString('hex')).toBe(r.hash);
  });

  it('all implementations agree on random passwords and salts', async () => {
    for (const outBytes of [16, 32, 64, 65]) {
      const password = randomBytes(1 + (outBytes % 7) * 9);
      const salt = randomBytes(16);
      const params = { t: 1 + (outBytes % 3), mKiB: 64, p: 1 } as const;
      const outs = await Promise.all(argons.map(async (a) => toHex(await a.value.derive(offsetView(password), offsetView(salt), params, outBytes))));
      expect(new Set(outs).size).toBe(1);
      expect(outs[0]).toHaveLength(outBytes * 2);
    }
  });

  it.each(argons.map((a) => [a.impl, a.value] as const))('%s refuses parameters the other could not honour', async (_, a) => {
    const pw = utf8.encode('pw');
    const salt = new Uint8Array(16);
    const ok = { t: 1, mKiB: 8, p: 1 } as const;
    await expect(a.derive(pw, new Uint8Array(8), ok, 32)).rejects.toThrow(RangeError);
    await expect(a.derive(new Uint8Array(0), salt, ok, 32)).rejects.toThrow(RangeError);
    await expect(a.derive(pw, salt, { t: 0, mKiB: 8, p: 1 }, 32)).rejects.toThrow(RangeError);
    await expect(a.derive(pw, salt, { t: 1, mKiB: 7, p: 1 }, 32)).rejects.toThrow(RangeError);
    await expect(a.derive(pw, salt, ok, 15)).rejects.toThrow(RangeError);
  });
});

describe('zstd', () => {
  const text = new TextEncoder().encode(GOLDEN_TEXT);
  /** Text-like bytes, so frames contain real sequences and not just raw blocks. */
  const compressible = (size: number): Uint8Array => {
    const words = ['alpha ', 'beta ', 'gamma ', 'delta ', '\n', '{"id":', '}, '].map((w) => new TextEncoder().encode(w));
    const picks = randomBytes(size);
    const out = new Uint8Array(size);
    let pos = 0;
    for (let i = 0; pos < size; i++) {
      const word = words[(picks[i] ?? 0) % words.length] ?? new Uint8Array(1);
      out.set(word.subarray(0, size - pos), pos);
      pos += word.length;
    }
    return out;
  };

  it('has more than one implementation to compare', () => {
    expect(zstds.length).toBeGreaterThanOrEqual(2);
  });

  it.each(zstds.map((z) => [z.impl, z.value] as const))('%s passes the self-test', async (_, z) => {
    await ADAPTERS.zstd.selfTest(z);
  });

  it.each(SIZES)('every implementation decodes every other one\'s frames of %i bytes', (size) => {
    for (const input of [randomBytes(size), compressible(size)]) {
      for (const level of [1, 3, 9]) {
        for (const enc of zstds) {
          const frame = enc.value.compress(offsetView(input), level);
          for (const dec of zstds) {
            const out = dec.value.decompress(offsetView(frame), input.length);
            expect(Buffer.from(out).equals(input), `${enc.impl} L${level} -> ${dec.impl}`).toBe(true);
          }
        }
      }
    }
  });

  it.each(SIZES)('compressInto and decompressInto interoperate with every implementation, %i bytes', (size) => {
    for (const input of [randomBytes(size), compressible(size)]) {
      for (const enc of zstds) {
        const bound = enc.value.compressBound(input.length);
        // Every implementation states the same bound: it is zstd's formula, not a build's choice.
        for (const other of zstds) expect(other.value.compressBound(input.length)).toBe(bound);
        const frame = new Uint8Array(bound);
        const n = enc.value.compressInto(offsetView(input), 3, frame);
        expect(n).toBeLessThanOrEqual(bound);
        for (const dec of zstds) {
          expect(Buffer.from(dec.value.decompress(frame.subarray(0, n), input.length)).equals(input), `${enc.impl} -> ${dec.impl}`).toBe(true);
          const out = new Uint8Array(input.length + 3);
          const produced = dec.value.decompressInto(offsetView(frame.subarray(0, n)), out);
          expect(produced).toBe(input.length);
          expect(Buffer.from(out.subarray(0, produced)).equals(input), `${enc.impl} -> ${dec.impl} (into)`).toBe(true);
        }
      }
    }
  });

  it.each(zstds.map((z) => [z.impl, z.value] as const))('%s compressInto refuses an output below the bound; decompressInto enforces its output length', (_, z) => {
    const input = compressible(5000);
    expect(() => z.compressInto(input, 3, new Uint8Array(z.compressBound(input.length) - 1))).toThrow(RangeError);
    const sized = fromHex(GOLDEN_FRAME_SIZED);
    const unsized = fromHex(GOLDEN_FRAME_UNSIZED);
    for (const frame of [sized, unsized]) {
      expect(() => z.decompressInto(frame, new Uint8Array(text.length - 1))).toThrow(expect.objectContaining({ code: 'E_ZSTD_TOO_LARGE' }));
      expect(z.decompressInto(frame, new Uint8Array(text.length))).toBe(text.length);
    }
  });

  it.each(zstds.map((z) => [z.impl, z.value] as const))('%s enforces maxOutput', (_, z) => {
    const sized = fromHex(GOLDEN_FRAME_SIZED);
    const unsized = fromHex(GOLDEN_FRAME_UNSIZED);
    expect(z.decompress(sized, text.length)).toHaveLength(text.length);
    expect(z.decompress(unsized, text.length)).toHaveLength(text.length);
    for (const frame of [sized, unsized]) {
      expect(() => z.decompress(frame, text.length - 1)).toThrow(expect.objectContaining({ code: 'E_ZSTD_TOO_LARGE' }));
      expect(() => z.decompress(frame, 0)).toThrow(ZstdDecodeError);
    }
    // A header claiming 1 TiB is refused before anything is allocated.
    const claimsHuge = fromHex('28b52ffde0' + '0000000000010000' + '01000000');
    expect(() => z.decompress(claimsHuge, 1 << 20)).toThrow(expect.objectContaining({ code: 'E_ZSTD_TOO_LARGE' }));
    expect(() => z.decompress(sized, -1)).toThrow(RangeError);
    expect(() => z.decompress(sized, 2 ** 40)).toThrow(RangeError);
  });

  it.each(zstds.map((z) => [z.impl, z.value] as const))('%s throws on corrupt frames', (_, z) => {
    const frame = z.compress(compressible(5000), 3);
    const corrupt = [
      new Uint8Array(0),
      frame.subarray(0, 3),
      flipBit(frame, 0), // magic
      frame.subarray(0, frame.length - 1), // truncated
      flipBit(frame, 6), // first block header
      Uint8Array.from([...frame, 0x00]), // trailing garbage
    ];
    // zstd-napi's own high-level decompress() returns a truncated unsized frame's partial output
    // without an error; ours must not.
    const unsized = fromHex(GOLDEN_FRAME_UNSIZED);
    corrupt.push(unsized.subarray(0, unsized.length - 4));
    for (const bad of corrupt) {
      expect(() => z.decompress(bad, 1 << 20)).toThrow(expect.objectContaining({ code: 'E_ZSTD_CORRUPT' }));
    }
  });

  it('every implementation decodes every other one\'s frames at every level engine accepts', () => {
    const input = compressible(70_000);
    for (let level = -7; level <= 19; level++) {
      for (const enc of zstds) {
        const frame = enc.value.compress(input, level);
        for (const dec of zstds) {
          expect(Buffer.from(dec.value.decompress(frame, input.length)).equals(input), `${enc.impl} L${level} -> ${dec.impl}`).toBe(true);
        }
      }
    }
  });

  it('all implementations treat concatenated and skippable frames alike', () => {
    const a = zstds[0]!.value.compress(text, 3);
    const unsized = fromHex(GOLDEN_FRAME_UNSIZED);
    const skippable = fromHex('502a4d18' + '03000000' + 'abcdef');
    const cases: Record<string, Uint8Array> = {
      'unsized then sized': Uint8Array.from([...unsized, ...a]),
      'sized then sized': Uint8Array.from([...a, ...a]),
      'unsized then skippable': Uint8Array.from([...unsized, ...skippable]),
      'unsized then a truncated skippable': Uint8Array.from([...unsized, ...skippable.subarray(0, 9)]),
      'unsized then 4 garbage bytes': Uint8Array.from([...unsized, 1, 2, 3, 4]),
    };
    for (const [what, input] of Object.entries(cases)) {
      const outcomes = zstds.map((z) => {
        try {
          return `ok ${toHex(z.value.decompress(input, 1 << 20))}`;
        } catch (err) {
          return `error ${(err as { code?: string }).code ?? String(err)}`;
        }
      });
      expect(new Set(outcomes).size, `${what}: ${zstds.map((z, i) => `${z.impl} ${outcomes[i]?.slice(0, 40)}`).join('; ')}`).toBe(1);
    }
  });

  it.each(zstds.map((z) => [z.impl, z.value] as const))('%s refuses levels outside [-7, 19]', (_, z) => {
    for (const level of [-8, 20, 22, 1.5, Number.NaN]) expect(() => z.compress(text, level)).toThrow(RangeError);
    for (const level of [-7, 0, 19]) expect(z.decompress(z.compress(text, level), text.length)).toHaveLength(text.length);
  });
});

describe('selection', () => {
  const names = Object.keys(ADAPTERS) as (keyof typeof ADAPTERS)[];

  it("'fallback' chooses no addon and no Node built-in, and reports each as disabled", async () => {
    const { primitives, report } = await loadPrimitives('fallback');
    expect(report.map((r) => r.primitive).sort()).toEqual([...names].sort());
    for (const r of report) {
      const adapter = ADAPTERS[r.primitive];
      const natives = adapter.candidates.filter((c) => c.kind === 'native' || c.kind === 'builtin').map((c) => c.impl);
      if (natives.length === adapter.candidates.length) {
        expect(r.note).toMatch(/ENGINE_NATIVE=off/); // native-only primitive: used anyway, and said so
      } else {
        expect(['wasm', 'js']).toContain(r.kind);
        for (const impl of natives) expect(r.rejected).toContainEqual({ impl, reason: DISABLED_REASON });
      }
      expect(primitives[r.primitive].impl).toBe(r.chosen);
    }
  });

  it("'auto' takes the first candidate that loads and passes its self-test", async () => {
    const { primitives, report } = await loadPrimitives('auto');
    for (const r of report) {
      const order = ADAPTERS[r.primitive].candidates.map((c) => c.impl);
      const loaded = [blake3s, xchachas, aeses, argons, zstds][names.indexOf(r.primitive)]?.map((l) => l.impl) ?? [];
      expect(r.chosen).toBe(order.find((impl) => loaded.includes(impl)));
      expect(primitives[r.primitive].impl).toBe(r.chosen);
      for (const rej of r.rejected) expect(rej.reason).not.toBe(DISABLED_REASON);
    }
  });

  it('loads once per thread and policy', async () => {
    expect(await loadPrimitives('auto')).toBe(await loadPrimitives('auto'));
    const a = await loadPrimitives('auto');
    const b = await loadChosenPrimitives(chosenImpls(a.report));
    expect(b.blake3).toBe(a.primitives.blake3);
  });

  it('loadChosenPrimitives loads exactly the named implementations', async () => {
    const { report } = await loadPrimitives('fallback');
    const chosen = chosenImpls(report);
    const p = await loadChosenPrimitives(chosen);
    for (const name of names) expect(p[name].impl).toBe(chosen[name]);
    // Every implementation that loads here can be requested by name.
    const p2 = await loadChosenPrimitives({ ...chosen, blake3: 'hash-wasm', xchacha20poly1305: '@noble/ciphers' });
    expect(p2.blake3.impl).toBe('hash-wasm');
    expect(p2.xchacha20poly1305.impl).toBe('@noble/ciphers');
  });

  it('loadChosenPrimitives throws NoPrimitiveError instead of substituting', async () => {
    const { report } = await loadPrimitives('auto');
    const err = await loadChosenPrimitives({ ...chosenImpls(report), zstd: 'zstd-js-that-does-not-exist' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoPrimitiveError);
    expect(err).toMatchObject({ code: 'E_NO_PRIMITIVE', primitive: 'zstd' });
    expect((err as Error).message).toContain('zstd-js-that-does-not-exist');
  });

  describe('with synthetic adapters', () => {
    const ok = { impl: 'ok' };
    const failingLoad = { impl: 'broken-addon', kind: 'native' as const, load: () => Promise.reject(new Error('Cannot find module')) };
    const wrongAnswers = { impl: 'wrong', kind: 'wasm' as const, load: () => Promise.resolve({ impl: 'wrong' }) };
    const selfTest = async (v: { impl: string }): Promise<void> => {
      if (v.impl !== 'ok') throw new Error('hash mismatch');
    };

    it('collects a reason for every rejected candidate', async () => {
      const adapter: Adapter<{ impl: string }> = {
        primitive: 'blake3',
        candidates: [failingLoad, wrongAnswers, { impl: 'ok', kind: 'js', load: () => Promise.resolve(ok) }],
        selfTest,
      };
      const choice = await choose(adapter, 'auto');
      expect(choice.value).toBe(ok);
      expect(choice.report).toEqual({
        primitive: 'blake3',
        chosen: 'ok',
        kind: 'js',
        rejected: [
          { impl: 'broken-addon', reason: 'load failed: Cannot find module' },
          { impl: 'wrong', reason: 'self-test failed: hash mismatch' },
        ],
      });
    });

    it('throws NoPrimitiveError naming the primitive and every reason', async () => {
      const adapter: Adapter<{ impl: string }> = { primitive: 'zstd', candidates: [failingLoad, wrongAnswers], selfTest };
      const err = await choose(adapter, 'fallback').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NoPrimitiveError);
      const e = err as NoPrimitiveError;
      expect(e.code).toBe('E_NO_PRIMITIVE');
      expect(e.message).toContain('zstd');
      expect(e.message).toContain(`broken-addon: ${DISABLED_REASON}`);
      expect(e.message).toContain('wrong: self-test failed: hash mismatch');
      expect(e.hint.length).toBeGreaterThan(0);
    });

    it("uses a native-only primitive under 'fallback' and notes it", async () => {
      const adapter: Adapter<{ impl: string }> = {
        primitive: 'aes256gcm',
        candidates: [{ impl: 'ok', kind: 'native', load: () => Promise.resolve(ok) }],
        selfTest,
      };
      const choice = await choose(adapter, 'fallback');
      expect(choice.report.chosen).toBe('ok');
      expect(choice.report.kind).toBe('native');
      expect(choice.report.note).toMatch(/no non-native implementation/);
    });
  });
});
