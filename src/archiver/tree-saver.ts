// Directory trees: the tree saver. Hands out the writers that turn a directory's entries (in name
// order) into tree blobs, chunked when the directory is big, and stores each tree blob once:
// hashed, deduplicated against what is stored or claimed, sealed here on the main thread (trees
// are small) under the sealed budget, and given to the uploader. The first chunked directory
// raises the repository to format version 3 (chunkedTreeGuard).
import { type BlobId, BlobType } from '../format/ids.js';
import { compareNames, type TreeNode } from '../format/tree.js';
import type { ByteBudget } from '../util/concurrency.js';
import type { BlobUploader } from '../repository/blob-uploader.js';
import type { Repository } from '../repository/repository.js';
import { chunkedTreeGuard, TreeWriter, type TreeStore } from '../repository/tree-stream.js';
import type { RunState } from './run-state.js';

export class TreeSaver {
  private readonly repo: Repository;
  private readonly uploader: BlobUploader;
  private readonly sealedBudget: ByteBudget;
  private readonly state: RunState;
  private readonly flushSmall: () => void;
  /** Where trees go; the first chunked directory raises the repository to format version 3. */
  private readonly treeStore: TreeStore;

  /** `flushSmall` sends on the small files waiting in their batch: run before waiting for sealed budget. */
  constructor(repo: Repository, uploader: BlobUploader, sealedBudget: ByteBudget, state: RunState, flushSmall: () => void) {
    this.repo = repo;
    this.uploader = uploader;
    this.sealedBudget = sealedBudget;
    this.state = state;
    this.flushSmall = flushSmall;
    // A dry run stores nothing, so it does not raise the format either.
    this.treeStore = { save: (bytes) => this.saveTreeBlob(bytes), beforeChunked: uploader.dryRun ? async () => undefined : chunkedTreeGuard(repo) };
  }

  /** A writer for one directory's tree: entries in name order in, the tree's id out. */
  writer(): TreeWriter {
    return new TreeWriter(this.treeStore);
  }

  /** Writes the top-level tree of the snapshot from its entries (sorted here); returns its id. */
  async saveRoot(nodes: TreeNode[]): Promise<BlobId> {
    nodes.sort((a, b) => compareNames(a.name, b.name));
    const writer = new TreeWriter(this.treeStore);
    for (const n of nodes) await writer.add(n);
    return await writer.finish();
  }

  /** Stores a tree blob (a directory, a chunk of one, or a chunk list) unless it is stored or claimed; returns its id. */
  private async saveTreeBlob(bytes: Uint8Array): Promise<BlobId> {
    this.state.check();
    const id = this.repo.blobIdOf(bytes);
    if (!this.uploader.claim(id)) return id;
    const sealed = this.repo.sealBlob(bytes);
    if (!this.sealedBudget.tryAcquire(sealed.length)) {
      // Small files waiting in the batch may be what the open packs need to fill up and free room.
      this.flushSmall();
      await this.sealedBudget.acquire(sealed.length, this.state.signal);
    }
    this.state.check();
    await this.uploader.add(BlobType.TREE, id, sealed, bytes.length, sealed.length);
    return id;
  }
}
