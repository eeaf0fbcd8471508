import type { Argon2id } from '../types.js';
import { checkArgon2Args } from './params.js';

/** hash-wasm's Argon2id: about 3x slower than libsodium, and it runs on the calling thread. */
export async function loadHashWasmArgon2id(): Promise<Argon2id> {
  const { argon2id } = await import('hash-wasm');
  return {
    impl: 'hash-wasm',
    async derive(password, salt, params, outBytes) {
      checkArgon2Args(password, salt, params, outBytes);
      return argon2id({
        password,
        salt,
        parallelism: 1,
        iterations: params.t,
        memorySize: params.mKiB,
        hashLength: outBytes,
        outputType: 'binary',
      });
    },
  };
}
