// Where the commands that write trees again outside a backup (repair snapshots, rewrite) store
// them: each tree blob hashed, stored once (a blob already stored or claimed is not sealed again),
// sealed on this thread (trees are small) under the uploader's sealed budget. In a dry run only
// the id is computed. The first chunked folder raises the repository's format (chunkedTreeGuard).
import { BlobType } from '../format/ids.js';
import type { BlobUploader } from './blob-uploader.js';
import type { Repository } from './repository.js';
import { chunkedTreeGuard, type TreeStore } from './tree-stream.js';

export function uploaderTreeStore(repo: Repository, uploader: BlobUploader, opts: { dryRun?: boolean; signal?: AbortSignal } = {}): TreeStore {
  return {
    save: async (bytes) => {
      const id = repo.blobIdOf(bytes);
      if (opts.dryRun || !uploader.claim(id)) return id;
      const sealed = repo.sealBlob(bytes);
      await uploader.sealedBudget.acquire(sealed.length, opts.signal);
      await uploader.add(BlobType.TREE, id, sealed, bytes.length, sealed.length);
      return id;
    },
    // A folder written in chunks needs version 3: older engines must refuse the repository.
    beforeChunked: opts.dryRun ? async () => undefined : chunkedTreeGuard(repo),
  };
}
