import type { Blake3 } from '../../native-bindings/types.js';

/**
 * The 256-entry gear table, derived from the repository's gear key so that cut points depend on a
 * secret (FORMAT.md "Chunking"): entry 8*i+j is the j-th little-endian u32 of keyedBLAKE3(gearKey, u32le(i)).
 */
export function deriveGear(blake3: Blake3, gearKey: Uint8Array): Uint32Array {
  const gear = new Uint32Array(256);
  const counter = new Uint8Array(4);
  const view = new DataView(counter.buffer);
  for (let i = 0; i < 32; i++) {
    view.setUint32(0, i, true);
    const block = blake3.keyedHash(gearKey, counter);
    const words = new DataView(block.buffer, block.byteOffset, 32);
    for (let j = 0; j < 8; j++) gear[i * 8 + j] = words.getUint32(j * 4, true);
  }
  return gear;
}
