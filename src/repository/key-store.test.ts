// The wrap key derived ahead of the opening (prepareWrapKey, the CLI's early key derivation):
// the opening uses it instead of deriving again, only for the same key file and password, once.
import { describe, expect, it } from 'vitest';
import type { Argon2id, Primitives } from '../../native-bindings/types.js';
import { testRepository } from '../../test/support/test-repository.js';
import { forgetPreparedWrapKey, prepareWrapKey, unlockMasterKey } from './key-store.js';

/** The primitives with an Argon2id that counts its derivations. */
function counting(p: Primitives): { p: Primitives; argon2id: Argon2id; derivations: () => number } {
  let n = 0;
  const argon2id: Argon2id = {
    impl: p.argon2id.impl,
    derive: (...args) => {
      n++;
      return p.argon2id.derive(...args);
    },
  };
  return { p: { ...p, argon2id }, argon2id, derivations: () => n };
}

describe('prepareWrapKey', () => {
  it('derives the key once: the opening takes the prepared key, and a second opening derives again', async () => {
    const { repo, backend, primitives, password } = await testRepository();
    const c = counting(primitives);
    let asked = 0;
    expect(await prepareWrapKey(c.argon2id, backend, () => Promise.resolve((asked++, password)))).toBe(true);
    expect([asked, c.derivations()]).toEqual([1, 1]);
    const first = await unlockMasterKey(c.p, backend, password);
    expect(first.keyId).toBe(repo.keyId);
    expect(c.derivations()).toBe(1);
    await unlockMasterKey(c.p, backend, password);
    expect(c.derivations()).toBe(2);
  });

  it('a prepared key serves only the password it was derived from', async () => {
    const { backend, primitives, password } = await testRepository();
    const c = counting(primitives);
    await prepareWrapKey(c.argon2id, backend, () => Promise.resolve(new TextEncoder().encode('another password')));
    const opened = await unlockMasterKey(c.p, backend, password);
    expect(opened.master.length).toBeGreaterThan(0);
    // Prepared (1), then derived again for the right password (2).
    expect(c.derivations()).toBe(2);
    forgetPreparedWrapKey();
  });

  it('asks for no password and derives nothing when there is no key file within the budget', async () => {
    const { backend, primitives } = await testRepository({ kdf: { t: 1, mKiB: 64 * 1024, p: 1 } });
    const c = counting(primitives);
    let asked = 0;
    const ok = await prepareWrapKey(c.argon2id, backend, () => Promise.resolve((asked++, new Uint8Array([1]))), 64 * 1024 * 1024);
    expect([ok, asked, c.derivations()]).toEqual([false, 0, 0]);
  });
});
