// The synthetic blobs of the scale benchmark: blob i's id and location come from a seeded
// AES-256-CTR keystream, so the harness can write ten million of them in one pass and a step can
// draw any sample back without storing them: id(i) = keystream bytes [32i, 32i + 32).
import { createCipheriv, createHash } from 'node:crypto';

export const BLOBS_PER_SYNTHETIC_PACK = 200;

function keyOf(seed: string): Buffer {
  return createHash('sha256').update(`engine scale ${seed}`).digest();
}

/** `count` ids starting at blob `first`, 32 bytes each, into `out`. */
export function syntheticIds(seed: string, first: number, count: number, out: Buffer = Buffer.alloc(32 * count)): Buffer {
  // 16-byte counter blocks: blob i starts at block 2i.
  const iv = Buffer.alloc(16);
  const block = BigInt(first) * 2n;
  iv.writeBigUInt64BE(block >> 64n, 0);
  iv.writeBigUInt64BE(block & 0xffff_ffff_ffff_ffffn, 8);
  const c = createCipheriv('aes-256-ctr', keyOf(seed), iv);
  const z = Buffer.alloc(32 * count);
  c.update(z).copy(out);
  return out;
}

/** The id of the synthetic pack holding blob i (also derived, from another stream). */
export function syntheticPackId(seed: string, pack: number): string {
  return syntheticIds(`${seed}/packs`, pack, 1).toString('hex');
}

/** Where the synthetic index says blob i is. */
export function syntheticLocation(i: number): { pack: number; offset: number; length: number; rawLength: number } {
  const k = i % BLOBS_PER_SYNTHETIC_PACK;
  return { pack: Math.floor(i / BLOBS_PER_SYNTHETIC_PACK), offset: k * 1000, length: 1000, rawLength: 4000 + (i % 97) };
}
