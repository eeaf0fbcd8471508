import type { Adapter } from '../adapter.js';
import type { Aead } from '../types.js';
import { selfTestAead } from '../aead-common.js';
import { loadSodiumXChaCha } from './native.js';
import { loadNobleXChaCha, loadNodeXChaCha } from './fallback.js';
import { XCHACHA_VECTORS } from './vectors.js';

export const xchacha20poly1305Adapter: Adapter<Aead> = {
  primitive: 'xchacha20poly1305',
  candidates: [
    { impl: 'sodium-native', kind: 'native', load: loadSodiumXChaCha },
    { impl: 'node:crypto+hchacha20', kind: 'js', load: loadNodeXChaCha },
    { impl: '@noble/ciphers', kind: 'js', load: loadNobleXChaCha },
  ],
  selfTest: async (aead) => selfTestAead(aead, XCHACHA_VECTORS),
};
