// Small byte helpers shared by adapters, vectors and tests.

export function fromHex(hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-f]*$/i.test(hex)) throw new TypeError('invalid hex string');
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/** Zero-copy Buffer view: some addons accept only Buffer. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * An uninitialised buffer that owns its ArrayBuffer. Buffer.allocUnsafe would hand out slices of
 * the shared pool for small sizes, and transferring such a result to a worker would detach the
 * pool; every output that leaves a primitive is allocated here instead.
 */
export function allocOwned(size: number): Buffer {
  return Buffer.allocUnsafeSlow(size);
}

/** Throws an Error naming the check when `actual` differs from `expected`. */
export function expectBytes(what: string, actual: Uint8Array | null, expected: Uint8Array): void {
  if (actual === null) throw new Error(`${what}: got null`);
  if (!bytesEqual(actual, expected)) throw new Error(`${what}: got ${short(actual)}, expected ${short(expected)}`);
}

function short(bytes: Uint8Array): string {
  const hex = toHex(bytes.subarray(0, 16));
  return bytes.length > 16 ? `${hex}... (${bytes.length} bytes)` : `${hex} (${bytes.length} bytes)`;
}

/** The BLAKE3 test-vector input pattern: byte i is i mod 251. */
export function patternBytes(length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = i % 251;
  return out;
}
