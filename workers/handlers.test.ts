// The worker task handlers as pure functions, without a pool: chunkHash (cuts and keyed ids),
// seal (with and without read-back verification) and unseal (per-blob status, never a throw for
// damaged data).
import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadPrimitives } from '../native-bindings/index.js';
import { type ChunkerParams, FastCdc } from '../src/chunker/fastcdc.js';
import { deriveGear } from '../src/chunker/gear.js';
import { EnvelopeWorkspace, Suite, envelopeOverhead } from '../src/crypto/envelope.js';
import { deriveRepoKeys } from '../src/crypto/keys.js';
import { ErrorCode, isEngineError } from '../src/errors/engine-error.js';
import { chunkHash, seal, sealedLayoutBound, sealInto, unseal, unsealedLayoutBytes, unsealInto, verifyPack } from './handlers.js';
import { type UnsealBlob, UnsealStatus } from './protocol.js';

const { primitives: p } = await loadPrimitives(process.env.ENGINE_NATIVE === 'off' ? 'fallback' : 'auto');

const keys = deriveRepoKeys(p.blake3, randomBytes(32));
const SMALL: ChunkerParams = { minSize: 256, avgSize: 1024, maxSize: 8192 };
const cdc = new FastCdc(SMALL, deriveGear(p.blake3, keys.gear));

function prng(seed: number, n: number): Uint8Array {
  const key = Buffer.alloc(16);
  key.writeUInt32LE(seed, 0);
  const out = createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(n));
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** Random data with compressible stretches, so that zstd is kept for some chunks and not others. */
function mixed(n: number): Uint8Array {
  const out = prng(1, n);
  const text = new TextEncoder().encode('lorem ipsum dolor sit amet, consectetur adipiscing elit. ');
  for (let start = 0; start < n; start += 6000) {
    for (let i = start; i < Math.min(n, start + 3000); i++) out[i] = text[i % text.length]!;
  }
  return out;
}

const toHex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.length).toString('hex');

/** Parses the seal output: u32le count | count × u32le length | blobs back to back. */
function parseSealed(buf: ArrayBuffer): Uint8Array[] {
  const view = new DataView(buf);
  const count = view.getUint32(0, true);
  const out: Uint8Array[] = [];
  let pos = 4 + 4 * count;
  for (let i = 0; i < count; i++) {
    const len = view.getUint32(4 + 4 * i, true);
    out.push(new Uint8Array(buf, pos, len));
    pos += len;
  }
  expect(pos).toBeLessThanOrEqual(buf.byteLength);
  return out;
}

/** Parses the unseal output: u32le count | count × (u32le status, u32le length) | plaintexts back to back. */
function parseUnsealed(buf: ArrayBuffer): { status: number; bytes: Uint8Array }[] {
  const view = new DataView(buf);
  const count = view.getUint32(0, true);
  const out: { status: number; bytes: Uint8Array }[] = [];
  let pos = 4 + 8 * count;
  for (let i = 0; i < count; i++) {
    const status = view.getUint32(4 + 8 * i, true);
    const len = view.getUint32(8 + 8 * i, true);
    if (status !== UnsealStatus.OK) expect(len).toBe(0);
    out.push({ status, bytes: new Uint8Array(buf, pos, len) });
    pos += len;
  }
  expect(pos).toBeLessThanOrEqual(buf.byteLength);
  return out;
}

interface Chunked {
  segment: Uint8Array;
  ranges: Uint32Array;
  ids: Uint8Array;
  chunks: Uint8Array[];
}

function chunked(data: Uint8Array): Chunked {
  const out = chunkHash(p, cdc, keys.blobId, { segment: data, spans: [{ start: 0, end: data.length, final: true }] });
  const span = out.spans[0]!;
  const ranges = new Uint32Array(2 * span.ends.length);
  const chunks: Uint8Array[] = [];
  let prev = 0;
  span.ends.forEach((e, i) => {
    ranges[2 * i] = prev;
    ranges[2 * i + 1] = e - prev;
    chunks.push(data.subarray(prev, e));
    prev = e;
  });
  return { segment: out.segment, ranges, ids: span.ids, chunks };
}

/** A pack of the sealed blobs, `lead` bytes in, and the unseal descriptors of each. */
function packOf(sealedBlobs: Uint8Array[], chunks: Uint8Array[], ids: Uint8Array, lead = 7): { packBytes: Uint8Array; blobs: UnsealBlob[] } {
  const total = lead + sealedBlobs.reduce((n, s) => n + s.length, 0);
  const packBytes = new Uint8Array(total + 5);
  const blobs: UnsealBlob[] = [];
  let pos = lead;
  sealedBlobs.forEach((s, i) => {
    packBytes.set(s, pos);
    blobs.push({ offset: pos, length: s.length, rawLength: chunks[i]!.length, id: toHex(ids.subarray(32 * i, 32 * i + 32)) });
    pos += s.length;
  });
  return { packBytes, blobs };
}

describe('chunkHash', () => {
  it('returns the chunker cuts and, per chunk, the keyed BLAKE3 of its bytes', () => {
    const data = mixed(100_000);
    const out = chunkHash(p, cdc, keys.blobId, { segment: data, spans: [{ start: 0, end: data.length, final: true }] });
    expect(out.segment).toBe(data);
    expect(out.spans).toHaveLength(1);
    const span = out.spans[0]!;
    expect(span.ends).toEqual(cdc.cuts(data, 0, data.length, true).ends);
    expect(span.tailStart).toBe(data.length);
    expect(span.ids.length).toBe(32 * span.ends.length);
    expect(span.ends.length).toBeGreaterThan(20);
    let prev = 0;
    span.ends.forEach((e, i) => {
      const expected = p.blake3.keyedHash(keys.blobId, data.subarray(prev, e));
      expect(toHex(span.ids.subarray(32 * i, 32 * i + 32))).toBe(toHex(expected));
      // Keyed, not a plain hash: the provider cannot test for known content.
      expect(toHex(span.ids.subarray(32 * i, 32 * i + 32))).not.toBe(toHex(p.blake3.hash(data.subarray(prev, e))));
      prev = e;
    });
  });

  it('a non-final span stops before its unfinished tail; carrying the tail reproduces the one-shot chunks', () => {
    const data = prng(2, 60_000);
    const whole = chunkHash(p, cdc, keys.blobId, { segment: data, spans: [{ start: 0, end: data.length, final: true }] }).spans[0]!;
    const ends: number[] = [];
    const ids: Uint8Array[] = [];
    let carry = new Uint8Array(0);
    let base = 0; // stream offset of carry[0]
    for (let pos = 0; ; ) {
      const fresh = data.subarray(pos, Math.min(data.length, pos + 7000));
      pos += fresh.length;
      const final = pos >= data.length;
      const seg = new Uint8Array(carry.length + fresh.length);
      seg.set(carry);
      seg.set(fresh, carry.length);
      const span = chunkHash(p, cdc, keys.blobId, { segment: seg, spans: [{ start: 0, end: seg.length, final }] }).spans[0]!;
      if (final) {
        expect(span.tailStart).toBe(seg.length);
      } else {
        // The tail starts where the last complete chunk ends, and holds less than a maximal chunk.
        expect(span.tailStart).toBe(span.ends.at(-1) ?? 0);
        expect(seg.length - span.tailStart).toBeLessThan(SMALL.maxSize);
        // It holds no cut yet: chunking it alone, non-final, finds nothing.
        expect(cdc.cuts(seg, span.tailStart, seg.length, false).ends).toEqual([]);
      }
      span.ends.forEach((e, i) => {
        ends.push(base + e);
        ids.push(span.ids.subarray(32 * i, 32 * i + 32));
      });
      if (final) break;
      base += span.tailStart;
      carry = seg.slice(span.tailStart);
    }
    expect(ends).toEqual(whole.ends);
    expect(toHex(Buffer.concat(ids))).toBe(toHex(whole.ids));
  });

  it('a non-final span shorter than the minimum chunk yields no chunk and the whole span as tail', () => {
    const data = prng(3, 1000);
    const out = chunkHash(p, cdc, keys.blobId, { segment: data, spans: [{ start: 100, end: 300, final: false }] });
    expect(out.spans[0]).toEqual({ ends: [], ids: new Uint8Array(0), tailStart: 100 });
    const fin = chunkHash(p, cdc, keys.blobId, { segment: data, spans: [{ start: 100, end: 300, final: true }] }).spans[0]!;
    expect(fin.ends).toEqual([300]);
    expect(toHex(fin.ids)).toBe(toHex(p.blake3.keyedHash(keys.blobId, data.subarray(100, 300))));
    const empty = chunkHash(p, cdc, keys.blobId, { segment: data, spans: [{ start: 500, end: 500, final: true }] }).spans[0]!;
    expect(empty).toEqual({ ends: [], ids: new Uint8Array(0), tailStart: 500 });
  });

  it('several spans in one segment (small files) are chunked independently, with absolute offsets', () => {
    const data = mixed(40_000);
    const spans = [
      { start: 0, end: 100, final: true },
      { start: 100, end: 12_000, final: true },
      { start: 12_000, end: 12_001, final: true },
      { start: 12_001, end: 40_000, final: false },
    ];
    const out = chunkHash(p, cdc, keys.blobId, { segment: data, spans });
    expect(out.spans).toHaveLength(spans.length);
    spans.forEach((s, k) => {
      const got = out.spans[k]!;
      const alone = data.slice(s.start, s.end);
      const ref = chunkHash(p, cdc, keys.blobId, { segment: alone, spans: [{ start: 0, end: alone.length, final: s.final }] }).spans[0]!;
      expect(got.ends).toEqual(ref.ends.map((e) => e + s.start));
      expect(got.tailStart).toBe(ref.tailStart + s.start);
      expect(toHex(got.ids)).toBe(toHex(ref.ids));
      if (s.final) expect(got.ends.at(-1)).toBe(s.end);
    });
  });
});

describe('seal and unseal', () => {
  const data = mixed(120_000);
  const c = chunked(data);

  it.each([
    { suite: Suite.XCHACHA20_POLY1305, zstdLevel: 3 },
    { suite: Suite.XCHACHA20_POLY1305, zstdLevel: 1 },
    { suite: Suite.AES_256_GCM, zstdLevel: 3 },
    { suite: Suite.AES_256_GCM, zstdLevel: 19 },
  ])('round-trips every chunk (suite $suite, zstd $zstdLevel)', ({ suite, zstdLevel }) => {
    expect(c.chunks.length).toBeGreaterThan(20);
    const out = seal(p, keys, suite, zstdLevel, false, { segment: c.segment, ranges: c.ranges, ids: c.ids });
    const sealedBlobs = parseSealed(out);
    expect(sealedBlobs).toHaveLength(c.chunks.length);
    // Compression is kept only when it pays: no blob exceeds its chunk plus the envelope overhead,
    // and the compressible stretches make some blobs smaller than their chunks.
    sealedBlobs.forEach((s, i) => expect(s.length).toBeLessThanOrEqual(c.chunks[i]!.length + envelopeOverhead(suite)));
    expect(sealedBlobs.some((s, i) => s.length < c.chunks[i]!.length)).toBe(true);
    expect(sealedBlobs.every((s) => s[0] === 1 && s[1] === suite)).toBe(true);

    const { packBytes, blobs } = packOf(sealedBlobs, c.chunks, c.ids);
    const back = parseUnsealed(unseal(p, keys, { packBytes, blobs }));
    expect(back).toHaveLength(c.chunks.length);
    back.forEach((b, i) => {
      expect(b.status, `blob ${i}`).toBe(UnsealStatus.OK);
      expect(Buffer.compare(b.bytes, c.chunks[i]!), `blob ${i}`).toBe(0);
    });
  });

  it('seal with verify=true succeeds and its blobs unseal', () => {
    for (const suite of [Suite.XCHACHA20_POLY1305, Suite.AES_256_GCM]) {
      const out = seal(p, keys, suite, 3, true, { segment: c.segment, ranges: c.ranges, ids: c.ids });
      const sealedBlobs = parseSealed(out);
      expect(sealedBlobs).toHaveLength(c.chunks.length);
      const { packBytes, blobs } = packOf(sealedBlobs, c.chunks, c.ids, 0);
      const back = parseUnsealed(unseal(p, keys, { packBytes, blobs }));
      expect(back.map((b) => b.status)).toEqual(c.chunks.map(() => UnsealStatus.OK));
      expect(Buffer.compare(Buffer.concat(back.map((b) => b.bytes)), data)).toBe(0);
    }
  });

  it('one workspace serves many tasks of both suites, as in a worker, with the same results', () => {
    const ws = new EnvelopeWorkspace(p, keys);
    const other = chunked(mixed(60_000).map((b) => b ^ 0x33));
    for (const suite of [Suite.XCHACHA20_POLY1305, Suite.AES_256_GCM, Suite.XCHACHA20_POLY1305]) {
      for (const input of [c, other]) {
        const sealedBlobs = parseSealed(seal(p, keys, suite, 3, true, { segment: input.segment, ranges: input.ranges, ids: input.ids }, ws));
        const { packBytes, blobs } = packOf(sealedBlobs, input.chunks, input.ids, 3);
        const back = parseUnsealed(unseal(p, keys, { packBytes, blobs }, ws));
        expect(back.map((b) => b.status)).toEqual(input.chunks.map(() => UnsealStatus.OK));
        back.forEach((b, i) => expect(Buffer.compare(b.bytes, input.chunks[i]!), `blob ${i}`).toBe(0));
      }
    }
  });

  it('sealInto writes the same layout into a region of shared memory, leaving the bytes around it alone', () => {
    const bound = sealedLayoutBound(Suite.XCHACHA20_POLY1305, c.ranges);
    const shared = new Uint8Array(new SharedArrayBuffer(bound + 100)).fill(0xee);
    const region = shared.subarray(37, 37 + bound);
    sealInto(p, keys, Suite.XCHACHA20_POLY1305, 3, true, { segment: c.segment, ranges: c.ranges, ids: c.ids }, region);
    expect(shared.subarray(0, 37).every((b) => b === 0xee)).toBe(true);
    expect(shared.subarray(37 + bound).every((b) => b === 0xee)).toBe(true);
    const copy = new Uint8Array(region).buffer;
    const sealedBlobs = parseSealed(copy);
    expect(sealedBlobs).toHaveLength(c.chunks.length);
    const { packBytes, blobs } = packOf(sealedBlobs, c.chunks, c.ids, 0);
    const back = parseUnsealed(unseal(p, keys, { packBytes, blobs }));
    expect(Buffer.compare(Buffer.concat(back.map((b) => b.bytes)), data)).toBe(0);
    // A region below the bound is a caller's bug, refused before anything is written.
    expect(() => sealInto(p, keys, Suite.XCHACHA20_POLY1305, 3, true, { segment: c.segment, ranges: c.ranges, ids: c.ids }, region.subarray(0, bound - 1))).toThrow(/below its bound/);
  });

  it('unsealInto writes the same result as unseal into a region of shared memory, leaving the bytes around it alone', () => {
    const sealedBlobs = parseSealed(seal(p, keys, Suite.XCHACHA20_POLY1305, 3, false, { segment: c.segment, ranges: c.ranges, ids: c.ids }));
    const { packBytes, blobs } = packOf(sealedBlobs, c.chunks, c.ids);
    const size = unsealedLayoutBytes(blobs);
    const shared = new Uint8Array(new SharedArrayBuffer(size + 64)).fill(0xee);
    const region = shared.subarray(29, 29 + size);
    unsealInto(p, keys, { packBytes, blobs }, region);
    expect(shared.subarray(0, 29).every((b) => b === 0xee)).toBe(true);
    expect(shared.subarray(29 + size).every((b) => b === 0xee)).toBe(true);
    expect(Buffer.compare(region, new Uint8Array(unseal(p, keys, { packBytes, blobs })))).toBe(0);
    expect(() => unsealInto(p, keys, { packBytes, blobs }, region.subarray(0, size - 1))).toThrow(/below/);
  });

  it('seal with verify=true refuses a chunk whose id does not match its bytes', () => {
    const ids = c.ids.slice();
    ids[32 * 3] = ids[32 * 3]! ^ 1;
    let err: unknown;
    try {
      seal(p, keys, Suite.XCHACHA20_POLY1305, 3, true, { segment: c.segment, ranges: c.ranges, ids });
    } catch (e) {
      err = e;
    }
    expect(isEngineError(err, ErrorCode.INTERNAL)).toBe(true);
    expect((err as Error).message).toContain('chunk 3');
    // Without verification the id is not looked at.
    expect(parseSealed(seal(p, keys, Suite.XCHACHA20_POLY1305, 3, false, { segment: c.segment, ranges: c.ranges, ids }))).toHaveLength(c.chunks.length);
  });

  it('seals an empty range list and zero-length chunks', () => {
    const none = seal(p, keys, Suite.AES_256_GCM, 3, true, { segment: data, ranges: new Uint32Array(0), ids: new Uint8Array(0) });
    expect(parseSealed(none)).toEqual([]);
    const emptyId = p.blake3.keyedHash(keys.blobId, new Uint8Array(0));
    const one = parseSealed(seal(p, keys, Suite.AES_256_GCM, 3, true, { segment: data, ranges: new Uint32Array([10, 0]), ids: emptyId }));
    expect(one).toHaveLength(1);
    expect(one[0]!.length).toBe(envelopeOverhead(Suite.AES_256_GCM));
    const back = parseUnsealed(unseal(p, keys, { packBytes: one[0]!, blobs: [{ offset: 0, length: one[0]!.length, rawLength: 0, id: toHex(emptyId) }] }));
    expect(back).toEqual([{ status: UnsealStatus.OK, bytes: new Uint8Array(0) }]);
  });

  describe('damaged blobs are reported per blob, without throwing', () => {
    const sealedBlobs = parseSealed(seal(p, keys, Suite.XCHACHA20_POLY1305, 3, false, { segment: c.segment, ranges: c.ranges, ids: c.ids }));

    function unsealWith(edit: (pack: Uint8Array, blobs: UnsealBlob[]) => UnsealBlob[]): { status: number; bytes: Uint8Array }[] {
      const { packBytes, blobs } = packOf(sealedBlobs, c.chunks, c.ids);
      const edited = edit(packBytes, blobs);
      let out: ArrayBuffer | undefined;
      expect(() => {
        out = unseal(p, keys, { packBytes, blobs: edited });
      }).not.toThrow();
      const back = parseUnsealed(out!);
      // verifyPack (check --read-data) gives the same verdict per blob, and the pack's BLAKE3.
      const verdict = verifyPack(p, keys, { packBytes, blobs: edited });
      const view = new DataView(verdict);
      expect(view.getUint32(0, true)).toBe(edited.length);
      expect(edited.map((_, i) => view.getUint32(4 + 4 * i, true))).toEqual(back.map((b) => b.status));
      expect(toHex(new Uint8Array(verdict, 4 + 4 * edited.length, 32))).toBe(toHex(p.blake3.hash(packBytes)));
      return back;
    }

    function expectOthersOk(back: { status: number; bytes: Uint8Array }[], bad: number): void {
      back.forEach((b, i) => {
        if (i === bad) return;
        expect(b.status, `blob ${i}`).toBe(UnsealStatus.OK);
        expect(Buffer.compare(b.bytes, c.chunks[i]!), `blob ${i}`).toBe(0);
      });
    }

    it('a wrong id gives ID_MISMATCH', () => {
      // The right id with one bit flipped (another chunk's id could be the same: repeated content).
      const wrong = c.ids.slice(32 * 2, 32 * 2 + 32);
      wrong[31] = wrong[31]! ^ 0x80;
      const back = unsealWith((_, blobs) => blobs.map((b, i) => (i === 2 ? { ...b, id: toHex(wrong) } : b)));
      expect(back[2]!.status).toBe(UnsealStatus.ID_MISMATCH);
      expect(back[2]!.bytes.length).toBe(0);
      expectOthersOk(back, 2);
    });

    it('a flipped ciphertext or tag byte gives AUTH_FAILED', () => {
      for (const where of ['first ciphertext byte', 'middle', 'last tag byte'] as const) {
        const back = unsealWith((pack, blobs) => {
          const b = blobs[4]!;
          const pos = where === 'first ciphertext byte' ? b.offset + 2 + 24 : where === 'middle' ? b.offset + Math.floor(b.length / 2) : b.offset + b.length - 1;
          pack[pos] = pack[pos]! ^ 0x10;
          return blobs;
        });
        expect(back[4]!.status, where).toBe(UnsealStatus.AUTH_FAILED);
        expectOthersOk(back, 4);
      }
    });

    it('a flipped header byte gives AUTH_FAILED or BAD_PAYLOAD', () => {
      for (const off of [0, 1, 2]) {
        const back = unsealWith((pack, blobs) => {
          const pos = blobs[1]!.offset + off;
          pack[pos] = pack[pos]! ^ 0x01;
          return blobs;
        });
        expect([UnsealStatus.AUTH_FAILED, UnsealStatus.BAD_PAYLOAD], `header byte ${off}`).toContain(back[1]!.status);
        expect(back[1]!.bytes.length).toBe(0);
        expectOthersOk(back, 1);
      }
    });

    it('a wrong raw length gives BAD_PAYLOAD', () => {
      for (const delta of [-1, +1]) {
        const back = unsealWith((_, blobs) => blobs.map((b, i) => (i === 0 ? { ...b, rawLength: b.rawLength + delta } : b)));
        expect(back[0]!.status, `rawLength ${delta}`).toBe(UnsealStatus.BAD_PAYLOAD);
        expectOthersOk(back, 0);
      }
    });

    it('a truncated blob gives AUTH_FAILED or BAD_PAYLOAD', () => {
      for (const length of [0, 1, 10, sealedBlobs[3]!.length - 1]) {
        const back = unsealWith((_, blobs) => blobs.map((b, i) => (i === 3 ? { ...b, length } : b)));
        expect([UnsealStatus.AUTH_FAILED, UnsealStatus.BAD_PAYLOAD], `length ${length}`).toContain(back[3]!.status);
        expectOthersOk(back, 3);
      }
    });

    it('blobs sealed under another repository key give AUTH_FAILED', () => {
      const other = deriveRepoKeys(p.blake3, randomBytes(32));
      const { packBytes, blobs } = packOf(sealedBlobs, c.chunks, c.ids);
      const back = parseUnsealed(unseal(p, other, { packBytes, blobs }));
      expect(back.every((b) => b.status === UnsealStatus.AUTH_FAILED)).toBe(true);
    });
  });
});
