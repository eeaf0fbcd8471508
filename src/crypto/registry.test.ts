// The suite and compression tables keyed by their on-disk bytes: the ids, sizes and keys each entry
// names, and unknown ids refused with the typed errors the envelope has always used.
import { describe, expect, it } from 'vitest';
import { loadPrimitives } from '../../native-bindings/index.js';
import { ErrorCode, FormatError, IntegrityError } from '../errors/engine-error.js';
import { Compression, codecFor } from './compression.js';
import { open, seal } from './envelope.js';
import { CipherName, cipherSuite, findSuite, Suite } from './suites.js';

const { primitives: p } = await loadPrimitives(process.env.ENGINE_NATIVE === 'off' ? 'fallback' : 'auto');
const keys = { xchacha: new Uint8Array(32).fill(1), aes: new Uint8Array(32).fill(2) };

describe('cipher suite registry', () => {
  it('names each suite byte with its sizes, its AEAD and its own key', () => {
    expect(cipherSuite(1)).toMatchObject({ id: Suite.XCHACHA20_POLY1305, name: 'xchacha20-poly1305', keyBytes: 32, nonceBytes: 24 });
    expect(cipherSuite(2)).toMatchObject({ id: Suite.AES_256_GCM, name: 'aes-256-gcm', keyBytes: 32, nonceBytes: 12 });
    expect(cipherSuite(1).aead(p)).toBe(p.xchacha20poly1305);
    expect(cipherSuite(2).aead(p)).toBe(p.aes256gcm);
    expect(cipherSuite(1).key(keys)).toBe(keys.xchacha);
    expect(cipherSuite(2).key(keys)).toBe(keys.aes);
    for (const [name, id] of Object.entries(CipherName)) expect(cipherSuite(id).name).toBe(name);
    for (const id of [1, 2]) expect(cipherSuite(id).nonceBytes).toBe(cipherSuite(id).aead(p).nonceBytes);
  });

  it('refuses to seal with an unknown suite (FORMAT_UNSUPPORTED)', () => {
    for (const id of [0, 3, 255]) {
      expect(findSuite(id)).toBeUndefined();
      expect(() => seal(p, keys, new Uint8Array(4), { suite: id as Suite, zstdLevel: null })).toThrow(FormatError);
      expect(() => cipherSuite(id)).toThrow(expect.objectContaining({ code: ErrorCode.FORMAT_UNSUPPORTED }));
    }
  });

  it('an envelope naming an unknown suite is damage (INTEGRITY)', () => {
    const sealed = seal(p, keys, new Uint8Array(40), { suite: Suite.AES_256_GCM, zstdLevel: null });
    sealed[1] = 7;
    expect(() => open(p, keys, sealed, 100, 'blob')).toThrow(/blob: unknown cipher suite 7 \(damaged data\)/);
  });
});

describe('compression registry', () => {
  it('names each compression byte', () => {
    expect(codecFor(0, 'x')).toMatchObject({ id: Compression.NONE, name: 'none', stored: true });
    expect(codecFor(1, 'x')).toMatchObject({ id: Compression.ZSTD, name: 'zstd', stored: false });
  });

  it('an unknown compression byte is damage (INTEGRITY)', () => {
    expect(() => codecFor(2, 'blob')).toThrow(IntegrityError);
    expect(() => codecFor(2, 'blob')).toThrow('blob: unknown compression 2');
  });

  it('the stored codec refuses a payload over the limit; zstd decodes within it', () => {
    expect(() => codecFor(0, 'x').decode(p, new Uint8Array(10), 9, 'blob')).toThrow('blob: payload of 10 bytes exceeds the expected 9');
    const raw = new Uint8Array(1000).fill(7);
    const frame = p.zstd.compress(raw, 3);
    expect(Buffer.from(codecFor(1, 'x').decode(p, frame, 1000, 'blob')).equals(raw)).toBe(true);
    expect(() => codecFor(1, 'x').decode(p, frame, 999, 'blob')).toThrow(/blob: cannot decompress/);
  });
});
