// The CPU work of the pipeline as pure functions over buffers, so they can be tested without a pool.
import type { Primitives } from '../native-bindings/types.js';
import type { FastCdc } from '../src/chunker/fastcdc.js';
import { open as openEnvelope, seal as sealEnvelope, type Suite } from '../src/crypto/envelope.js';
import type { RepoKeys } from '../src/crypto/keys.js';
import { InternalError, isEngineError } from '../src/errors/engine-error.js';
import type { ChunkHashInput, ChunkHashOutput, SealInput, SpanChunks, UnsealInput } from './protocol.js';
import { UnsealStatus } from './protocol.js';

export function chunkHash(p: Primitives, cdc: FastCdc, blobIdKey: Uint8Array, input: ChunkHashInput): ChunkHashOutput {
  const seg = input.segment;
  const spans: SpanChunks[] = [];
  for (const span of input.spans) {
    const { ends, tailStart } = cdc.cuts(seg, span.start, span.end, span.final);
    const ids = new Uint8Array(32 * ends.length);
    let prev = span.start;
    for (let i = 0; i < ends.length; i++) {
      ids.set(p.blake3.keyedHash(blobIdKey, seg.subarray(prev, ends[i])), 32 * i);
      prev = ends[i]!;
    }
    spans.push({ ends, ids, tailStart });
  }
  return { spans };
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

export function seal(p: Primitives, keys: Pick<RepoKeys, 'xchacha' | 'aes' | 'blobId'>, suite: Suite, zstdLevel: number, verify: boolean, input: SealInput): ArrayBuffer {
  const count = input.ranges.length / 2;
  const sealed: Uint8Array[] = [];
  let total = 4 + 4 * count;
  for (let i = 0; i < count; i++) {
    const chunk = input.segment.subarray(input.ranges[2 * i]!, input.ranges[2 * i]! + input.ranges[2 * i + 1]!);
    const s = sealEnvelope(p, keys, chunk, { suite, zstdLevel });
    if (verify) {
      // Read back what would be stored before it can be deduplicated against: a fault in memory,
      // a miscompiled primitive or a bug must never put bad data under a good id.
      const id = input.ids.subarray(32 * i, 32 * i + 32);
      const back = openEnvelope(p, keys, s, chunk.length, 'verification');
      if (!equalBytes(back, chunk) || !equalBytes(p.blake3.keyedHash(keys.blobId, back), id)) {
        throw new InternalError(`sealed blob failed verification (chunk ${i} of ${count}): refusing to store it`);
      }
    }
    sealed.push(s);
    total += s.length;
  }
  const out = new ArrayBuffer(total);
  const view = new DataView(out);
  const bytes = new Uint8Array(out);
  view.setUint32(0, count, true);
  let pos = 4 + 4 * count;
  sealed.forEach((s, i) => {
    view.setUint32(4 + 4 * i, s.length, true);
    bytes.set(s, pos);
    pos += s.length;
  });
  return out;
}

export function unseal(p: Primitives, keys: Pick<RepoKeys, 'xchacha' | 'aes' | 'blobId'>, input: UnsealInput): ArrayBuffer {
  const n = input.blobs.length;
  const plains: (Uint8Array | null)[] = [];
  const statuses: number[] = [];
  let total = 4 + 8 * n;
  for (const b of input.blobs) {
    let plain: Uint8Array | null = null;
    let status: number = UnsealStatus.OK;
    try {
      plain = openEnvelope(p, keys, input.packBytes.subarray(b.offset, b.offset + b.length), b.rawLength, 'blob');
      if (plain.length !== b.rawLength) status = UnsealStatus.BAD_PAYLOAD;
      else if (Buffer.from(p.blake3.keyedHash(keys.blobId, plain)).toString('hex') !== b.id) status = UnsealStatus.ID_MISMATCH;
    } catch (err) {
      if (!isEngineError(err)) throw err;
      status = err.message.includes('authentication failed') ? UnsealStatus.AUTH_FAILED : UnsealStatus.BAD_PAYLOAD;
    }
    if (status !== UnsealStatus.OK) plain = null;
    plains.push(plain);
    statuses.push(status);
    total += plain?.length ?? 0;
  }
  const out = new ArrayBuffer(total);
  const view = new DataView(out);
  const bytes = new Uint8Array(out);
  view.setUint32(0, n, true);
  let pos = 4 + 8 * n;
  for (let i = 0; i < n; i++) {
    const pl = plains[i];
    view.setUint32(4 + 8 * i, statuses[i]!, true);
    view.setUint32(8 + 8 * i, pl?.length ?? 0, true);
    if (pl) {
      bytes.set(pl, pos);
      pos += pl.length;
    }
  }
  return out;
}
