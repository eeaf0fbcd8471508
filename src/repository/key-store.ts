// Creating and unlocking key files: the master key wrapped under Argon2id(password).
import { randomBytes } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import type { Argon2Params, Primitives } from '../../native-bindings/types.js';
import type { Backend } from '../backend/types.js';
import { openWithKey, sealWithKey } from '../crypto/envelope.js';
import { MASTER_KEY_BYTES } from '../crypto/keys.js';
import { BadCredentialsError, ErrorCode, IntegrityError, isDamageError, isEngineError } from '../errors/engine-error.js';
import type { KeyId } from '../format/ids.js';
import { decodeKeyFile, encodeKeyFile, type KeyFile } from '../format/key-file.js';
import { toHex } from '../util/hex.js';
import { KEYS_PREFIX, idOfName, keyName } from './layout.js';

/** libsodium's "moderate" cost (crypto_pwhash OPSLIMIT/MEMLIMIT_MODERATE is 3 / 256 MiB); 64 MiB keeps small boards in budget. */
export const DEFAULT_KDF: Argon2Params = { t: 3, mKiB: 64 * 1024, p: 1 };

export async function createKeyFile(p: Primitives, backend: Backend, password: Uint8Array, master: Uint8Array, kdf: Argon2Params = DEFAULT_KDF): Promise<KeyId> {
  const salt = randomBytes(16);
  const wrapKey = await p.argon2id.derive(password, salt, kdf, 32);
  const user = safeUser();
  const file: KeyFile = {
    version: 1,
    kdf: 'argon2id',
    t: kdf.t,
    m: kdf.mKiB,
    p: 1,
    salt: salt.toString('base64'),
    created: new Date().toISOString(),
    hostname: hostname(),
    username: user,
    data: Buffer.from(sealWithKey(p, wrapKey, master)).toString('base64'),
  };
  const bytes = encodeKeyFile(file);
  const id = toHex(p.blake3.hash(bytes)) as KeyId;
  await backend.save(keyName(id), bytes, { metadata: true });
  return id;
}

/**
 * Tries every key file; throws BadCredentialsError when none opens with this password. A key file
 * whose bytes no longer hash to its name is damaged: it is skipped, and when no other key file
 * opens, the error names it (an integrity problem, exit 4) instead of blaming the password.
 */
export async function unlockMasterKey(p: Primitives, backend: Backend, password: Uint8Array): Promise<{ keyId: KeyId; master: Uint8Array; kdf: Argon2Params }> {
  let seen = 0;
  const damaged: string[] = [];
  for await (const info of backend.list(KEYS_PREFIX)) {
    seen++;
    const bytes = await backend.load(info.name, undefined, { metadata: true });
    let file: KeyFile;
    try {
      if (toHex(p.blake3.hash(bytes)) !== idOfName(info.name)) throw new IntegrityError(`${info.name}: contents do not match the name`);
      file = decodeKeyFile(bytes, info.name);
    } catch (err) {
      if (!isDamageError(err)) throw err;
      damaged.push(info.name);
      continue;
    }
    const wrapKey = await p.argon2id.derive(password, Buffer.from(file.salt, 'base64'), { t: file.t, mKiB: file.m, p: 1 }, 32);
    try {
      const master = openWithKey(p, wrapKey, new Uint8Array(Buffer.from(file.data, 'base64')), MASTER_KEY_BYTES, info.name);
      if (master.length === MASTER_KEY_BYTES) return { keyId: idOfName(info.name) as KeyId, master, kdf: { t: file.t, mKiB: file.m, p: 1 } };
    } catch (err) {
      if (!isEngineError(err, ErrorCode.INTEGRITY)) throw err;
    }
  }
  if (seen === 0) throw new BadCredentialsError('the repository has no key files');
  if (damaged.length > 0) {
    throw new IntegrityError(`no key file opens with this password, and ${damaged.join(', ')} ${damaged.length === 1 ? 'is' : 'are'} damaged (contents do not match the name)`, {
      hint: 'if the password is right, the damaged key file was its key: restore that object from another copy of the repository',
      details: { objects: damaged },
    });
  }
  throw new BadCredentialsError();
}

export function newMasterKey(): Uint8Array {
  return new Uint8Array(randomBytes(MASTER_KEY_BYTES));
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return '';
  }
}
