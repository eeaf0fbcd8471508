import type { Argon2Params } from '../types.js';

export const SALT_BYTES = 16;

// Bounds both implementations accept, so a repository's parameters work with either:
// libsodium needs t >= 1, memory >= 8 KiB, output >= 16 bytes and p = 1; hash-wasm refuses an
// empty password; WASM memory caps the fallback below 4 GiB, so memory stops at 2 GiB.
const MIN_T = 1;
const MAX_T = 0xffffffff;
const MIN_M_KIB = 8;
const MAX_M_KIB = 2 * 1024 * 1024;
const MIN_OUT = 16;
const MAX_OUT = 1024;

export function checkArgon2Args(password: Uint8Array, salt: Uint8Array, params: Argon2Params, outBytes: number): void {
  if (password.length === 0) throw new RangeError('Argon2id password must not be empty');
  if (salt.length !== SALT_BYTES) throw new RangeError(`Argon2id salt must be ${SALT_BYTES} bytes, got ${salt.length}`);
  if (params.p !== 1) throw new RangeError(`Argon2id parallelism must be 1, got ${String(params.p)}`);
  checkInt('iterations (t)', params.t, MIN_T, MAX_T);
  checkInt('memory (mKiB)', params.mKiB, MIN_M_KIB, MAX_M_KIB);
  checkInt('output length', outBytes, MIN_OUT, MAX_OUT);
}

function checkInt(what: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`Argon2id ${what} must be an integer in [${min}, ${max}], got ${value}`);
  }
}
