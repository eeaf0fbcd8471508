import { CipherName } from '../../crypto/envelope.js';
import { UsageError } from '../../errors/engine-error.js';
import type { Argon2Params } from '../../../native-bindings/types.js';
import { KDF_LIMITS } from '../../format/key-file.js';
import { DEFAULT_KDF } from '../../repository/key-store.js';
import { type InitOptions, Repository } from '../../repository/repository.js';
import { parseSize } from '../../util/bytes.js';
import { fromRepoLocation, nativePolicy, primitives, readFromPassword, readPassword, repoLocation, type FromRepoOptions, type GlobalOptions } from '../context.js';
import { openBackend } from '../../session/open-backend.js';
import { openSession } from '../../session/open-session.js';
import type { Output } from '../output.js';

export interface InitFlags extends GlobalOptions, FromRepoOptions {
  copyChunkerParams?: boolean;
  cipher?: string;
  packSize?: string;
  compressionLevel?: string;
  kdfMemory?: string;
  kdfTime?: string;
}

export async function initCommand(flags: InitFlags, out: Output): Promise<number> {
  const location = repoLocation(flags);
  const cipher = flags.cipher ?? 'xchacha20-poly1305';
  if (!(cipher in CipherName)) throw new UsageError(`unknown cipher "${cipher}"`, { hint: 'use xchacha20-poly1305 (default) or aes-256-gcm' });
  const level = flags.compressionLevel === undefined ? 3 : Number(flags.compressionLevel);
  if (!Number.isInteger(level) || level < 1 || level > 19) throw new UsageError(`--compression-level ${flags.compressionLevel} is not a level from 1 to 19`);
  const packSizeBytes = flags.packSize === undefined ? undefined : parseSize(flags.packSize, '--pack-size');
  if (packSizeBytes !== undefined && (packSizeBytes < 1024 * 1024 || packSizeBytes > 1024 * 1024 * 1024)) throw new UsageError('--pack-size must be between 1M and 1G');
  const kdf = kdfFlags(flags);
  const shared = await chunkingToShare(flags, out);
  const { backend } = await openBackend(location, flags, (m) => out.warn(m));
  const { primitives: p } = await primitives();
  const password = await readPassword(flags, 'new');
  const repo = await Repository.init(backend, p, password, {
    cipher: cipher as CipherName,
    zstdLevel: level,
    ...(packSizeBytes !== undefined ? { packSizeBytes } : {}),
    kdf,
    ...(shared ? { chunker: shared.chunker, idKeys: shared.idKeys } : {}),
  });
  if (out.json) out.data({ message_type: 'initialized', id: repo.config.id, repository: location, cipher });
  else out.result(`created repository ${repo.config.id.slice(0, 10)} at ${location} (cipher ${cipher}${shared ? `; chunks cut and named as in ${fromRepoLocation(flags)}` : ''})`);
  return 0;
}

/**
 * restic's `init --from-repo SRC --copy-chunker-params`: the chunker parameters and the keys that
 * cut and name chunks (K_gear, K_id) of SRC, so that the new repository (format version 5) gives
 * every chunk the id SRC gives it and `engine copy` from SRC moves only what is missing
 * (docs/FORMAT.md "Versions"). Opening SRC takes its password (--from-password-file,
 * ENGINE_FROM_PASSWORD); nothing in it is changed.
 */
async function chunkingToShare(flags: InitFlags, out: Output): Promise<Pick<InitOptions, 'chunker' | 'idKeys'> | null> {
  const from = fromRepoLocation(flags);
  if (!flags.copyChunkerParams) {
    if (flags.fromRepo !== undefined) throw new UsageError('--from-repo is used by `init` only with --copy-chunker-params', { hint: 'add --copy-chunker-params to cut and name chunks as that repository does (then `engine copy` moves only what is missing), or leave out --from-repo' });
    return null;
  }
  if (from === undefined) throw new UsageError('--copy-chunker-params needs the repository to take them from', { hint: 'pass --from-repo PATH (or set ENGINE_FROM_REPOSITORY)' });
  if (from === repoLocation(flags)) throw new UsageError('--from-repo names the repository being created');
  const source = await openSession(from, { ...flags, policy: nativePolicy() }, () => readFromPassword(flags), (m) => out.warn(m));
  const { minSize, avgSize, maxSize } = source.repo.config.chunker;
  return { chunker: { minSize, avgSize, maxSize }, idKeys: source.repo.idKeysToShare() };
}

/**
 * Argon2id cost of the first key (`--kdf-memory`, `--kdf-time`). Its memory is held while any
 * command opens the repository, so it is part of the smallest --mem-budget that can open it:
 * about 70 MiB plus this. The default, 64 MiB and 3 passes, suits boards of 1 GB and more; on a
 * smaller board, less memory and more passes keep the cost for an attacker close (docs/MEMORY.md).
 */
export function kdfFlags(flags: { kdfMemory?: string; kdfTime?: string }): Argon2Params {
  // The bounds are KDF_LIMITS: what every command accepts in a key file (a key above them is skipped).
  const mem = flags.kdfMemory === undefined ? DEFAULT_KDF.mKiB * 1024 : parseSize(flags.kdfMemory, '--kdf-memory');
  if (mem < KDF_LIMITS.minMemoryKiB * 1024 || mem > KDF_LIMITS.maxMemoryKiB * 1024) throw new UsageError(`--kdf-memory ${flags.kdfMemory}: give a size from 8M to 1G`, { hint: 'the default is 64M' });
  const t = flags.kdfTime === undefined ? DEFAULT_KDF.t : Number(flags.kdfTime);
  if (!Number.isInteger(t) || t < KDF_LIMITS.minPasses || t > KDF_LIMITS.maxPasses) throw new UsageError(`--kdf-time ${flags.kdfTime}: give a number of passes from 1 to 100`, { hint: 'the default is 3' });
  return { mKiB: Math.floor(mem / 1024), t, p: 1 };
}
