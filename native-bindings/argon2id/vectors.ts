import type { Argon2Params } from '../types.js';

export interface Argon2Vector {
  readonly name: string;
  /** UTF-8 */
  readonly password: string;
  /** UTF-8, 16 bytes */
  readonly salt: string;
  readonly params: Argon2Params;
  readonly outBytes: number;
  readonly hash: string;
}

// Computed on this machine with libsodium (sodium-native 5.1.0) and hash-wasm 4.13.0,
// which agreed. The public reference vectors (phc-winner-argon2 test.c) use an 8-byte salt that
// libsodium refuses; parity.test.ts checks hash-wasm against one of them, tying these to it.
// Small parameters keep the start-up self-test around a millisecond.
export const ARGON2_VECTORS: readonly Argon2Vector[] = [
  {
    name: 't=2 m=256KiB 32-byte output',
    password: 'password',
    salt: 'somesaltsomesalt',
    params: { t: 2, mKiB: 256, p: 1 },
    outBytes: 32,
    hash: 'cab746b4621993fdc91ec50787980b414a90a692f0bc68dfe19f9c25b3cba9ec',
  },
  {
    // Minimum memory, and an output longer than 64 bytes, which takes Argon2's H' chaining path.
    name: 't=1 m=8KiB 100-byte output',
    password: 'p',
    salt: '0123456789abcdef',
    params: { t: 1, mKiB: 8, p: 1 },
    outBytes: 100,
    hash:
      'bcef1a89f71afe7a8dcdcbbe4afd4812e8d65cb663bd6deba4b0f5270eb0fd9505198c14abd47bd6bb627761e23dd285' +
      '5a2864d4717083d791652f905ce174552bbf4f0f29b9013fee2fc020f785bf85c455ed370973260aad378419e06b376d509c98a5',
  },
];

/** phc-winner-argon2 src/test.c, Argon2id v1.3 (8-byte salt: only usable with hash-wasm directly). */
export const REFERENCE_VECTOR = {
  password: 'password',
  salt: 'somesalt',
  t: 2,
  mKiB: 256,
  p: 1,
  hash: '9dfeb910e80bad0311fee20f9c0e2b12c17987b4cac90c2ef54d5b3021c68bfe',
} as const;
