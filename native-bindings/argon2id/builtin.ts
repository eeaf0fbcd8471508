import * as crypto from 'node:crypto';
import type { Argon2id } from '../types.js';
import { allocOwned } from '../bytes.js';
import { needsNode } from '../builtin.js';
import { checkArgon2Args } from './params.js';

export const NODE_ARGON2 = 'node:crypto argon2';

/**
 * Argon2id built into Node (node:crypto, Node >= 24.7: OpenSSL's implementation). The callback
 * form runs on the libuv thread pool, like sodium-native's crypto_pwhash_async, so a derivation
 * does not stall the event loop; its memory is freed when the derivation ends.
 */
export async function loadNodeArgon2id(): Promise<Argon2id> {
  const c: Partial<typeof crypto> = crypto;
  const argon2 = c.argon2;
  if (typeof argon2 !== 'function') throw needsNode('node:crypto argon2', [[24, 7]]);
  return {
    impl: NODE_ARGON2,
    async derive(password, salt, params, outBytes) {
      checkArgon2Args(password, salt, params, outBytes);
      const parameters = { message: password, nonce: salt, parallelism: params.p, tagLength: outBytes, memory: params.mKiB, passes: params.t };
      return new Promise<Uint8Array>((resolve, reject) => {
        argon2('argon2id', parameters, (err, key) => {
          if (err) return reject(err);
          // Outputs own their ArrayBuffer (a 32-byte key from Node may be a slice of its pool).
          const out = allocOwned(key.length);
          key.copy(out);
          key.fill(0);
          resolve(out);
        });
      });
    },
  };
}
