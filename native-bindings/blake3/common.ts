export const KEY_BYTES = 32;
export const OUT_BYTES = 32;

/** Every implementation rejects a wrong-size key the same way, before touching it. */
export function checkKey(key: Uint8Array): void {
  if (key.length !== KEY_BYTES) throw new RangeError(`BLAKE3 key must be ${KEY_BYTES} bytes, got ${key.length}`);
}
