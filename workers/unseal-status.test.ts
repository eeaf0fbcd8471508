// unseal's per-blob status is chosen from the error's code and details, never from its message.
import { describe, expect, it } from 'vitest';
import { loadPrimitives } from '../native-bindings/index.js';
import type { EnvelopeWorkspace } from '../src/crypto/envelope.js';
import { AuthenticationFailedError, IntegrityError } from '../src/errors/engine-error.js';
import { unseal } from './handlers.js';
import { UnsealStatus } from './protocol.js';

const { primitives: p } = await loadPrimitives(process.env.ENGINE_NATIVE === 'off' ? 'fallback' : 'auto');
const keys = { xchacha: new Uint8Array(32), aes: new Uint8Array(32), blobId: new Uint8Array(32) };

/** A workspace whose every open fails with `err`. */
function failingWith(err: Error): EnvelopeWorkspace {
  return {
    openInto: () => {
      throw err;
    },
  } as unknown as EnvelopeWorkspace;
}

function statusFor(err: Error): number {
  const input = { packBytes: new Uint8Array(64), blobs: [{ offset: 0, length: 64, rawLength: 10, id: '00'.repeat(32) }] };
  return new DataView(unseal(p, keys, input, failingWith(err))).getUint32(4, true);
}

describe('unseal status', () => {
  it('an authentication failure is AUTH_FAILED whatever its message says', () => {
    expect(statusFor(new AuthenticationFailedError('blob: the tag does not verify'))).toBe(UnsealStatus.AUTH_FAILED);
  });

  it('another integrity error is BAD_PAYLOAD even when its message mentions authentication', () => {
    expect(statusFor(new IntegrityError('blob: authentication failed, says this message'))).toBe(UnsealStatus.BAD_PAYLOAD);
  });
});
