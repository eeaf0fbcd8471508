// Adopting packs that a run stored and could not index (killed, or its storage failed for good),
// so the next backup reuses their data instead of uploading it again.
import { isNotFound } from '../backend/errors.js';
import { isDamageError } from '../errors/engine-error.js';
import type { IndexFile, IndexPack } from '../format/index-file.js';
import { mapLimit } from '../util/concurrency.js';
import { toHex } from '../util/hex.js';
import type { StoredPack } from './pack-store.js';
import type { IndexedRepository } from './indexed-repository.js';

/**
 * Packs stored by a run that ended before it could index them (killed, or its storage failed
 * for good): each is downloaded whole and adopted only if its contents hash to its name and
 * its header authenticates; then one index object names them, so they are reused instead of
 * being uploaded again. Downloading is the price of never deduplicating against a pack whose
 * body the storage mangled (only the header would otherwise be checked). Returns how many
 * packs were adopted.
 */
export async function indexStrayPacks(indexed: IndexedRepository, signal?: AbortSignal): Promise<number> {
  const { repo, index } = indexed;
  const stray: StoredPack[] = [];
  for await (const pack of repo.packs.list()) if (!index.hasPack(pack.packId)) stray.push(pack);
  if (stray.length === 0) return 0;
  const packs: IndexPack[] = [];
  // Two at a time: each is held whole while it is checked (before the pipeline starts).
  await mapLimit(stray, 2, async ({ packId }) => {
    signal?.throwIfAborted();
    try {
      const bytes = await repo.packs.load(packId, signal ? { signal } : undefined);
      if (toHex(repo.p.blake3.hash(bytes)) !== packId) return;
      packs.push({ packId, blobs: repo.packs.headerOfWhole(packId, bytes) });
    } catch (err) {
      // A pack that is gone again or cannot be read is left alone: nothing references it,
      // and `check` reports it.
      const skip = isNotFound(err) || isDamageError(err);
      if (!skip) throw err;
    }
  });
  if (packs.length === 0) return 0;
  const file: IndexFile = { supersedes: [], packs };
  const id = await repo.saveIndexObject(file);
  index.add(id, file);
  return packs.length;
}
