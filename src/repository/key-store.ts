// Creating and unlocking key files: the master key wrapped under Argon2id(password).
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { hostname, userInfo } from 'node:os';
import type { Argon2id, Argon2Params, Primitives } from '../../native-bindings/types.js';
import type { Backend } from '../backend/types.js';
import { openWithKey, sealWithKey } from '../crypto/envelope.js';
import { MASTER_KEY_BYTES } from '../crypto/keys.js';
import { BadCredentialsError, BudgetError, ErrorCode, IntegrityError, isDamageError, isEngineError } from '../errors/engine-error.js';
import { kdfFloor } from '../memory/planner.js';
import { formatBytes } from '../util/bytes.js';
import type { KeyId } from '../format/ids.js';
import { decodeKeyFile, encodeKeyFile, kdfCostProblem, type KeyFile } from '../format/key-file.js';
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

/** Key files larger than this are not key files (a real one is well under 1 KiB): never read whole. */
const MAX_KEY_FILE_BYTES = 64 * 1024;

export interface UnlockOptions {
  /** Told of key files skipped (named), even when another key opens the repository. */
  onWarning?: (message: string) => void;
  /** Told of each key tried, in order (for --verbose). */
  onTry?: (message: string) => void;
  /** The command's --mem-budget (bytes): a key whose Argon2id memory does not fit it is not run. */
  memBudgetBytes?: number;
  /** Keys whose cost (memory KiB × passes) is above this are left out silently (keyOpenedBy). */
  maxCost?: number;
}

/**
 * Where warnings go when the caller passes no onWarning: the CLI registers its output here when it
 * opens the storage (src/session/open-backend.ts), so every command reports skipped keys.
 */
export const keyStoreDefaults: { onWarning?: (message: string) => void; onTry?: (message: string) => void; memBudgetBytes?: number } = {};

/** What a budget must hold besides Argon2id while a key is tried (the planner's floor: src/memory/planner.ts kdfFloor). */
const KDF_FLOOR_EXTRA_BYTES = kdfFloor(0);

interface Candidate {
  name: string;
  file: KeyFile;
  cost: number;
}

/**
 * Tries the key files, cheapest Argon2id cost (memory × passes) first, and throws
 * BadCredentialsError when none opens with this password. Anyone who can write to the storage can
 * plant a key file, so a key file decides nothing about what a command spends: one whose cost is
 * above what `init` accepts (KDF_LIMITS), or above the command's memory budget, is skipped with a
 * warning naming it, as is a malformed one; a planted key within the limits is tried after the
 * owner's cheaper one. A key file whose bytes no longer hash to its name is damaged: it is
 * skipped, and when no other key file opens, the error names it (an integrity problem, exit 4)
 * instead of blaming the password.
 */
export async function unlockMasterKey(p: Primitives, backend: Backend, password: Uint8Array, opts: UnlockOptions = {}): Promise<{ keyId: KeyId; master: Uint8Array; kdf: Argon2Params }> {
  const warn = opts.onWarning ?? keyStoreDefaults.onWarning ?? (() => undefined);
  const tell = opts.onTry ?? keyStoreDefaults.onTry ?? (() => undefined);
  const budget = opts.memBudgetBytes ?? keyStoreDefaults.memBudgetBytes;
  const maxMemoryKiB = budget === undefined ? undefined : Math.floor((budget - KDF_FLOOR_EXTRA_BYTES) / 1024);
  let seen = 0;
  const damaged: string[] = [];
  const overBudget: Candidate[] = [];
  const candidates: Candidate[] = [];
  for await (const info of backend.list(KEYS_PREFIX)) {
    seen++;
    if (info.size > MAX_KEY_FILE_BYTES) {
      warn(`${info.name} skipped: ${info.size} bytes is not a key file (remove it with \`engine key remove ${idOfName(info.name).slice(0, 8)}\` if you did not put it there)`);
      continue;
    }
    const bytes = await backend.load(info.name, undefined, { metadata: true });
    if (toHex(p.blake3.hash(bytes)) !== idOfName(info.name)) {
      damaged.push(info.name);
      continue;
    }
    let file: KeyFile;
    try {
      file = decodeKeyFile(bytes, info.name);
    } catch (err) {
      if (!isDamageError(err)) throw err;
      warn(`key file skipped: ${err.message}`);
      continue;
    }
    const problem = kdfCostProblem(file);
    if (problem) {
      warn(`${info.name} skipped: ${problem} (a key file planted by someone who can write to the storage? \`engine key remove ${idOfName(info.name).slice(0, 8)}\` removes it)`);
      continue;
    }
    const c = { name: info.name, file, cost: file.m * file.t };
    if (opts.maxCost !== undefined && c.cost > opts.maxCost) continue;
    if (maxMemoryKiB !== undefined && file.m > maxMemoryKiB) overBudget.push(c);
    else candidates.push(c);
  }
  // Cheapest first: a planted expensive key costs nothing while the owner's key opens.
  candidates.sort((a, b) => a.cost - b.cost || (a.name < b.name ? -1 : 1));
  for (const c of overBudget) warn(`${c.name} skipped: its Argon2id memory (${c.file.m >> 10} MiB) does not fit this command's --mem-budget`);
  for (const { name, file } of candidates) {
    tell(`trying ${name} (Argon2id ${file.m >> 10} MiB × ${file.t} passes)`);
    let wrapKey: Uint8Array;
    try {
      wrapKey = takePreparedWrapKey(name, file, password) ?? (await p.argon2id.derive(password, Buffer.from(file.salt, 'base64'), { t: file.t, mKiB: file.m, p: 1 }, 32));
    } catch (err) {
      // Parameters the implementation refuses (a salt of the wrong length...): this key cannot open.
      if (!(err instanceof RangeError)) throw err;
      warn(`${name} skipped: ${err.message}`);
      continue;
    }
    try {
      const master = openWithKey(p, wrapKey, new Uint8Array(Buffer.from(file.data, 'base64')), MASTER_KEY_BYTES, name);
      if (master.length === MASTER_KEY_BYTES) return { keyId: idOfName(name) as KeyId, master, kdf: { t: file.t, mKiB: file.m, p: 1 } };
    } catch (err) {
      if (!isDamageError(err)) throw err;
    }
  }
  if (seen === 0) throw new BadCredentialsError('the repository has no key files');
  if (overBudget.length > 0 && budget !== undefined) {
    // Worded as the planner words it: the budget is too small for this repository's keys.
    const need = Math.min(...overBudget.map((c) => c.file.m)) * 1024 + KDF_FLOOR_EXTRA_BYTES;
    throw new BudgetError(`--mem-budget ${formatBytes(budget)} is below the minimum of ${formatBytes(need)} that opening this repository needs (Argon2id memory of ${overBudget.map((c) => c.name).join(', ')}); no key within the budget opens with this password`, {
      hint: `give --mem-budget ${Math.ceil(need / (1024 * 1024))}M or more, or (with a larger budget once) lower the key's cost: \`engine key passwd --kdf-memory 32M\``,
    });
  }
  if (damaged.length > 0) {
    throw new IntegrityError(`no key file opens with this password, and ${damaged.join(', ')} ${damaged.length === 1 ? 'is' : 'are'} damaged (contents do not match the name)`, {
      hint: 'if the password is right, the damaged key file was its key: restore that object from another copy of the repository',
      details: { objects: damaged },
    });
  }
  throw new BadCredentialsError();
}

/**
 * A wrap key derived ahead of unlockMasterKey (prepareWrapKey), for one key file and one password.
 * Held in memory only, and only until unlockMasterKey takes it (or the process ends).
 */
interface PreparedWrapKey {
  name: string;
  salt: string;
  t: number;
  m: number;
  password: Uint8Array;
  key: Uint8Array;
}

let prepared: PreparedWrapKey | null = null;

/**
 * Derives, ahead of the repository's opening, the wrap key of the key file unlockMasterKey will
 * try first (the cheapest within `memBudgetBytes`), with `argon2id` alone: the CLI calls it while
 * the process is still small (before the pipeline's modules and the other primitives are loaded),
 * so the Argon2id memory (64 MiB by default) is held on top of ~55 MiB instead of ~65 MiB, and is
 * gone before the pipeline starts (docs/MEMORY.md "The budget floor and the key's Argon2id
 * memory"). Nothing is decided here: unlockMasterKey checks the key file as always and uses the
 * prepared key only for the same file, parameters and password. `password` is asked for only when
 * there is a key file to try. Returns whether a key was derived.
 */
export async function prepareWrapKey(argon2id: Argon2id, backend: Backend, password: () => Promise<Uint8Array>, memBudgetBytes?: number): Promise<boolean> {
  const maxMemoryKiB = memBudgetBytes === undefined ? undefined : Math.floor((memBudgetBytes - KDF_FLOOR_EXTRA_BYTES) / 1024);
  let best: { name: string; file: KeyFile; cost: number } | null = null;
  for await (const info of backend.list(KEYS_PREFIX)) {
    if (info.size > MAX_KEY_FILE_BYTES) continue;
    let file: KeyFile;
    try {
      file = decodeKeyFile(await backend.load(info.name, undefined, { metadata: true }), info.name);
    } catch {
      continue;
    }
    if (kdfCostProblem(file) || (maxMemoryKiB !== undefined && file.m > maxMemoryKiB)) continue;
    const cost = file.m * file.t;
    if (!best || cost < best.cost || (cost === best.cost && info.name < best.name)) best = { name: info.name, file, cost };
  }
  if (!best) return false;
  const pw = await password();
  const key = await argon2id.derive(pw, Buffer.from(best.file.salt, 'base64'), { t: best.file.t, mKiB: best.file.m, p: 1 }, 32);
  forgetPreparedWrapKey();
  prepared = { name: best.name, salt: best.file.salt, t: best.file.t, m: best.file.m, password: Uint8Array.from(pw), key };
  return true;
}

/** The prepared wrap key for this key file and password, taken (it serves once), or null. */
function takePreparedWrapKey(name: string, file: KeyFile, password: Uint8Array): Uint8Array | null {
  const k = prepared;
  if (!k || k.name !== name || k.salt !== file.salt || k.t !== file.t || k.m !== file.m) return null;
  const same = k.password.length === password.length && timingSafeEqual(k.password, password);
  if (!same) return null;
  const key = Uint8Array.from(k.key);
  forgetPreparedWrapKey();
  return key;
}

/** Drops (and zeroes) a prepared wrap key that was not used. */
export function forgetPreparedWrapKey(): void {
  if (!prepared) return;
  prepared.key.fill(0);
  prepared.password.fill(0);
  prepared = null;
}

/**
 * The key file this password opens, or null: `key add` and `key passwd` refuse a password that
 * already opens a key (two keys with one password: changing it on one leaves the other working).
 */
export async function keyOpenedBy(p: Primitives, backend: Backend, password: Uint8Array, current: Argon2Params): Promise<KeyId | null> {
  // Only keys engine could have made here are tried (init's cost or key add's default): a new
  // password opens none, so every key tried costs its full Argon2id, and a planted expensive key
  // must not make `key add` slow.
  const maxCost = Math.max(current.mKiB * current.t, DEFAULT_KDF.mKiB * DEFAULT_KDF.t);
  try {
    return (await unlockMasterKey(p, backend, password, { onWarning: () => undefined, onTry: () => undefined, maxCost })).keyId;
  } catch (err) {
    if (isEngineError(err, ErrorCode.BAD_CREDENTIALS) || isDamageError(err) || isEngineError(err, ErrorCode.BUDGET)) return null;
    throw err;
  }
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
