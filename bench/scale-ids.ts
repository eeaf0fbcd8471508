// The synthetic data blobs of the scale benchmark and the record of where some of them were put.
//
// Blob i's plaintext is derived from i alone (its number, then a pattern): 16-64 bytes, or
// CHURNED_PLAINTEXT_BYTES that do not compress for the blobs of churned files (bench/scale-layout.ts:
// the files whose blobs prune repacks must weigh enough against the benchmark's own backups for
// the default --max-unused to be exceeded). Every blob is distinct and its id is whatever the
// repository's keyed BLAKE3 makes of it: the synthesis writes real blobs, and
// `check --read-data-subset` verifies them like any others.
// Where blob i lands (its pack's id is the BLAKE3 of the pack's bytes, random nonces included)
// cannot be derived, so the synthesis records a sample of locations (SAMPLE_RECORD_BYTES each)
// that the index step looks up.
import type { BlobId, PackId } from '../src/format/ids.js';

export const MIN_PLAINTEXT_BYTES = 16;
export const SMALL_PLAINTEXT_BYTES = 64;
export const CHURNED_PLAINTEXT_BYTES = 512;
export const MAX_PLAINTEXT_BYTES = CHURNED_PLAINTEXT_BYTES;

/**
 * The plaintext of data blob i, written into `scratch` (at least MAX_PLAINTEXT_BYTES); returns the
 * part used. A churned blob's bytes after its number are a xorshift stream: zstd finds nothing in them.
 */
export function plaintextOf(i: number, churned: boolean, scratch: Buffer): Buffer {
  scratch.writeDoubleLE(i, 0);
  if (churned) {
    let x = (i ^ 0x9e3779b9) >>> 0 || 1;
    for (let j = 8; j < CHURNED_PLAINTEXT_BYTES; j += 4) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      scratch.writeUInt32LE(x >>> 0, j);
    }
    return scratch.subarray(0, CHURNED_PLAINTEXT_BYTES);
  }
  const len = MIN_PLAINTEXT_BYTES + (i % (SMALL_PLAINTEXT_BYTES - MIN_PLAINTEXT_BYTES + 1));
  for (let j = 8; j < len; j++) scratch[j] = (i * 31 + j * 7) & 0xff;
  return scratch.subarray(0, len);
}

/** One sampled blob: id (32) | pack id (32) | offset u32le | sealed length u32le | raw length u32le. */
export const SAMPLE_RECORD_BYTES = 32 + 32 + 12;

export interface SampledBlob {
  readonly id: BlobId;
  readonly packId: PackId;
  readonly offset: number;
  readonly length: number;
  readonly rawLength: number;
}

/** Writes record `k` of a sample buffer. */
export function writeSampleRecord(out: Buffer, k: number, id: Uint8Array, packId: Uint8Array, offset: number, length: number, rawLength: number): void {
  const at = k * SAMPLE_RECORD_BYTES;
  out.set(id, at);
  out.set(packId, at + 32);
  out.writeUInt32LE(offset, at + 64);
  out.writeUInt32LE(length, at + 68);
  out.writeUInt32LE(rawLength, at + 72);
}

export function readSampleRecord(buf: Buffer, k: number): SampledBlob {
  const at = k * SAMPLE_RECORD_BYTES;
  return {
    id: buf.toString('hex', at, at + 32) as BlobId,
    packId: buf.toString('hex', at + 32, at + 64) as PackId,
    offset: buf.readUInt32LE(at + 64),
    length: buf.readUInt32LE(at + 68),
    rawLength: buf.readUInt32LE(at + 72),
  };
}
