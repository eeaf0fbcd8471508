import { CipherName } from '../../crypto/envelope.js';
import { UsageError } from '../../errors/engine-error.js';
import { Repository } from '../../repository/repository.js';
import { parseSize } from '../../util/bytes.js';
import { primitives, readPassword, repoLocation, type GlobalOptions } from '../context.js';
import { openBackend } from '../open-backend.js';
import type { Output } from '../output.js';

export interface InitFlags extends GlobalOptions {
  cipher?: string;
  packSize?: string;
  compressionLevel?: string;
}

export async function initCommand(flags: InitFlags, out: Output): Promise<number> {
  const location = repoLocation(flags);
  const cipher = flags.cipher ?? 'xchacha20-poly1305';
  if (!(cipher in CipherName)) throw new UsageError(`unknown cipher "${cipher}"`, { hint: 'use xchacha20-poly1305 (default) or aes-256-gcm' });
  const level = flags.compressionLevel === undefined ? 3 : Number(flags.compressionLevel);
  if (!Number.isInteger(level) || level < 1 || level > 19) throw new UsageError(`--compression-level ${flags.compressionLevel} is not a level from 1 to 19`);
  const packSizeBytes = flags.packSize === undefined ? undefined : parseSize(flags.packSize, '--pack-size');
  if (packSizeBytes !== undefined && (packSizeBytes < 1024 * 1024 || packSizeBytes > 1024 * 1024 * 1024)) throw new UsageError('--pack-size must be between 1M and 1G');
  const { backend } = await openBackend(location, flags, (m) => out.warn(m));
  const { primitives: p } = await primitives();
  const password = await readPassword(flags, 'new');
  const repo = await Repository.init(backend, p, password, {
    cipher: cipher as CipherName,
    zstdLevel: level,
    ...(packSizeBytes !== undefined ? { packSizeBytes } : {}),
  });
  if (out.json) out.data({ message_type: 'initialized', id: repo.config.id, repository: location, cipher });
  else out.result(`created repository ${repo.config.id.slice(0, 10)} at ${location} (cipher ${cipher})`);
  return 0;
}
