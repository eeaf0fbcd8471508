// The cipher suites an envelope may name in its suite byte (FORMAT.md "Envelope"), in one table
// keyed by that byte: adding a suite is one entry here (and a format version, see checkHeader in
// envelope.ts), not a branch in every function that seals or opens.
import type { Aead, Primitives } from '../../native-bindings/types.js';
import { ErrorCode, FormatError } from '../errors/engine-error.js';
import type { RepoKeys } from './keys.js';

/** The suite byte of an envelope. The values are on disk: never renumber them. */
export const Suite = { XCHACHA20_POLY1305: 1, AES_256_GCM: 2 } as const;
export type Suite = (typeof Suite)[keyof typeof Suite];

/** The names config files and `engine init --cipher` use for each suite. */
export const CipherName = { 'xchacha20-poly1305': Suite.XCHACHA20_POLY1305, 'aes-256-gcm': Suite.AES_256_GCM } as const;
export type CipherName = keyof typeof CipherName;

export type SuiteKeys = Pick<RepoKeys, 'xchacha' | 'aes'>;

export interface CipherSuite {
  readonly id: Suite;
  readonly name: CipherName;
  readonly keyBytes: number;
  readonly nonceBytes: number;
  /** Its seal/open implementation among the primitives this process loaded. */
  aead(p: Primitives): Aead;
  /** Each suite has its own repository key, so that no key is ever used with two ciphers. */
  key(keys: SuiteKeys): Uint8Array;
}

const SUITES: ReadonlyMap<number, CipherSuite> = new Map<number, CipherSuite>(
  [
    {
      id: Suite.XCHACHA20_POLY1305,
      name: 'xchacha20-poly1305',
      keyBytes: 32,
      nonceBytes: 24,
      aead: (p: Primitives) => p.xchacha20poly1305,
      key: (keys: SuiteKeys) => keys.xchacha,
    },
    {
      id: Suite.AES_256_GCM,
      name: 'aes-256-gcm',
      keyBytes: 32,
      nonceBytes: 12,
      aead: (p: Primitives) => p.aes256gcm,
      key: (keys: SuiteKeys) => keys.aes,
    },
  ].map((s) => [s.id, s as CipherSuite]),
);

/** The suite with this id, or undefined: for readers, which decide what an unknown id means. */
export function findSuite(id: number): CipherSuite | undefined {
  return SUITES.get(id);
}

/** The suite to seal with; an id this engine does not know is refused. */
export function cipherSuite(id: number): CipherSuite {
  const suite = SUITES.get(id);
  if (!suite) throw new FormatError(ErrorCode.FORMAT_UNSUPPORTED, `unknown cipher suite ${id}`, { hint: 'this object was written by a newer engine; upgrade engine' });
  return suite;
}
