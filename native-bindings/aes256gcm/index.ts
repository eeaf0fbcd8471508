import type { Adapter } from '../adapter.js';
import type { Aead } from '../types.js';
import { selfTestAead } from '../aead-common.js';
import { loadNodeAesGcm } from './native.js';
import { loadNobleAesGcm } from './fallback.js';
import { AES_GCM_VECTORS } from './vectors.js';

export const aes256gcmAdapter: Adapter<Aead> = {
  primitive: 'aes256gcm',
  candidates: [
    { impl: 'node:crypto', kind: 'js', load: loadNodeAesGcm },
    { impl: '@noble/ciphers', kind: 'js', load: loadNobleAesGcm },
  ],
  selfTest: async (aead) => selfTestAead(aead, AES_GCM_VECTORS),
};
