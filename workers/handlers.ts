// The CPU work of the pipeline as pure functions over buffers, so they can be tested without a pool.
import type { Primitives } from '../native-bindings/types.js';
import type { FastCdc } from '../src/chunker/fastcdc.js';
import { EnvelopeWorkspace, type Suite } from '../src/crypto/envelope.js';
import type { RepoKeys } from '../src/crypto/keys.js';
import { InternalError, isAuthenticationFailure, isEngineError } from '../src/errors/engine-error.js';
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
  return { segment: seg, spans };
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(a, b) === 0;
}

/**
 * The result buffer is allocated up front at its largest possible size (each blob at most its
 * length plus the envelope overhead, since compression is only kept when it pays), and every blob
 * is sealed straight into it: the workspace's scratch serves every chunk, so nothing chunk-sized
 * is allocated per blob (see EnvelopeWorkspace for why that matters).
 */
export function seal(
  p: Primitives,
  keys: Pick<RepoKeys, 'xchacha' | 'aes' | 'blobId'>,
  suite: Suite,
  zstdLevel: number,
  verify: boolean,
  input: SealInput,
  ws: EnvelopeWorkspace = new EnvelopeWorkspace(p, keys),
): ArrayBuffer {
  const out = new ArrayBuffer(sealedLayoutBound(suite, input.ranges));
  // The unused tail travels back too: copying the used part out would leave one more dead buffer.
  sealLayoutInto(p, keys, suite, zstdLevel, verify, input, ws, new Uint8Array(out));
  return out;
}

/**
 * seal() into the caller's region (the sealed arena, in shared memory): nothing is allocated and
 * nothing travels back but the task's completion. The region was sized by the caller with
 * sealedLayoutBound, so a shorter one is a bug, not a case to fall back from.
 */
export function sealInto(
  p: Primitives,
  keys: Pick<RepoKeys, 'xchacha' | 'aes' | 'blobId'>,
  suite: Suite,
  zstdLevel: number,
  verify: boolean,
  input: SealInput,
  out: Uint8Array,
  ws: EnvelopeWorkspace = new EnvelopeWorkspace(p, keys),
): void {
  const bound = sealedLayoutBound(suite, input.ranges);
  if (out.length < bound) throw new InternalError(`seal output region of ${out.length} bytes is below its bound of ${bound}`);
  sealLayoutInto(p, keys, suite, zstdLevel, verify, input, ws, out);
}

/** The most bytes a seal result takes (its layout: protocol.ts SealOutput). */
export function sealedLayoutBound(suite: Suite, ranges: Uint32Array): number {
  const count = ranges.length / 2;
  let bound = 4 + 4 * count;
  for (let i = 0; i < count; i++) bound += EnvelopeWorkspace.sealedBound(suite, ranges[2 * i + 1]!);
  return bound;
}

function sealLayoutInto(
  p: Primitives,
  keys: Pick<RepoKeys, 'xchacha' | 'aes' | 'blobId'>,
  suite: Suite,
  zstdLevel: number,
  verify: boolean,
  input: SealInput,
  ws: EnvelopeWorkspace,
  bytes: Uint8Array,
): void {
  const count = input.ranges.length / 2;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  view.setUint32(0, count, true);
  let pos = 4 + 4 * count;
  for (let i = 0; i < count; i++) {
    const chunk = input.segment.subarray(input.ranges[2 * i]!, input.ranges[2 * i]! + input.ranges[2 * i + 1]!);
    const length = ws.sealInto(chunk, { suite, zstdLevel }, bytes.subarray(pos, pos + EnvelopeWorkspace.sealedBound(suite, chunk.length)));
    if (verify) {
      // Read back what would be stored before it can be deduplicated against: a fault in memory,
      // a miscompiled primitive or a bug must never put bad data under a good id.
      const id = input.ids.subarray(32 * i, 32 * i + 32);
      const back = ws.openScratch(bytes.subarray(pos, pos + length), chunk.length, 'verification');
      if (!equalBytes(back, chunk) || !equalBytes(p.blake3.keyedHash(keys.blobId, back), id)) {
        throw new InternalError(`sealed blob failed verification (chunk ${i} of ${count}): refusing to store it`);
      }
    }
    view.setUint32(4 + 4 * i, length, true);
    pos += length;
  }
}

/** The bytes an unseal result takes (its layout: protocol.ts UnsealOutput). */
export function unsealedLayoutBytes(blobs: readonly { readonly rawLength: number }[]): number {
  return 4 + 8 * blobs.length + blobs.reduce((t, b) => t + b.rawLength, 0);
}

export function unseal(
  p: Primitives,
  keys: Pick<RepoKeys, 'xchacha' | 'aes' | 'blobId'>,
  input: UnsealInput,
  ws: EnvelopeWorkspace = new EnvelopeWorkspace(p, keys),
): ArrayBuffer {
  const out = new ArrayBuffer(unsealedLayoutBytes(input.blobs));
  unsealLayoutInto(p, keys, input, ws, new Uint8Array(out));
  return out;
}

/**
 * unseal() into the caller's region (the shared arena): nothing pack- or plaintext-sized is
 * allocated or sent back. The region was sized with unsealedLayoutBytes; a shorter one is a bug.
 */
export function unsealInto(
  p: Primitives,
  keys: Pick<RepoKeys, 'xchacha' | 'aes' | 'blobId'>,
  input: UnsealInput,
  out: Uint8Array,
  ws: EnvelopeWorkspace = new EnvelopeWorkspace(p, keys),
): void {
  const need = unsealedLayoutBytes(input.blobs);
  if (out.length < need) throw new InternalError(`unseal output region of ${out.length} bytes is below its ${need}`);
  unsealLayoutInto(p, keys, input, ws, out);
}

function unsealLayoutInto(p: Primitives, keys: Pick<RepoKeys, 'xchacha' | 'aes' | 'blobId'>, input: UnsealInput, ws: EnvelopeWorkspace, bytes: Uint8Array): void {
  const n = input.blobs.length;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  view.setUint32(0, n, true);
  let pos = 4 + 8 * n;
  input.blobs.forEach((b, i) => {
    let status: number = UnsealStatus.OK;
    let len = 0;
    try {
      // Opened straight into its place in the result; a blob that fails leaves its bytes behind
      // for the next one to overwrite.
      const slot = bytes.subarray(pos, pos + b.rawLength);
      const produced = ws.openInto(input.packBytes.subarray(b.offset, b.offset + b.length), slot, 'blob');
      if (produced !== b.rawLength) status = UnsealStatus.BAD_PAYLOAD;
      else if (!equalBytes(p.blake3.keyedHash(keys.blobId, slot), Buffer.from(b.id, 'hex'))) status = UnsealStatus.ID_MISMATCH;
      else {
        pos += produced;
        len = produced;
      }
    } catch (err) {
      if (!isEngineError(err)) throw err;
      status = isAuthenticationFailure(err) ? UnsealStatus.AUTH_FAILED : UnsealStatus.BAD_PAYLOAD;
    }
    view.setUint32(4 + 8 * i, status, true);
    view.setUint32(8 + 8 * i, len, true);
  });
}

/**
 * What check --read-data needs of a pack: each blob's verdict (authentication, decoding, length,
 * id, as unseal gives it) and the BLAKE3 of the whole pack (its name), and no plaintext. Blobs are
 * opened into the workspace's scratch, so nothing pack-sized is allocated or sent back: the main
 * thread receives a few bytes per blob instead of the pack's plaintext (which it only dropped).
 */
export function verifyPack(
  p: Primitives,
  keys: Pick<RepoKeys, 'xchacha' | 'aes' | 'blobId'>,
  input: UnsealInput,
  ws: EnvelopeWorkspace = new EnvelopeWorkspace(p, keys),
): ArrayBuffer {
  const n = input.blobs.length;
  const out = new ArrayBuffer(4 + 4 * n + 32);
  const view = new DataView(out);
  view.setUint32(0, n, true);
  input.blobs.forEach((b, i) => {
    let status: number = UnsealStatus.OK;
    try {
      const back = ws.openScratch(input.packBytes.subarray(b.offset, b.offset + b.length), b.rawLength, 'blob');
      if (back.length !== b.rawLength) status = UnsealStatus.BAD_PAYLOAD;
      else if (!equalBytes(p.blake3.keyedHash(keys.blobId, back), Buffer.from(b.id, 'hex'))) status = UnsealStatus.ID_MISMATCH;
    } catch (err) {
      if (!isEngineError(err)) throw err;
      status = isAuthenticationFailure(err) ? UnsealStatus.AUTH_FAILED : UnsealStatus.BAD_PAYLOAD;
    }
    view.setUint32(4 + 4 * i, status, true);
  });
  new Uint8Array(out, 4 + 4 * n, 32).set(p.blake3.hash(input.packBytes));
  return out;
}
