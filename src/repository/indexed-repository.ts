// A repository together with the index of what it stores: the state every command works in once
// the index is open (rustic's "indexed repository"). Callers hold one value instead of passing a
// (repository, index) pair, and cannot read a tree or upload blobs without an index.
import type { BlobId, BlobType } from '../format/ids.js';
import type { Tree, TreeNode } from '../format/tree.js';
import type { BlobIndex } from './blob-index.js';
import type { BlobUploader, UploadedStats, UploaderOptions } from './blob-uploader.js';
import type { Repository } from './repository.js';
import { treeEntries, type TreeReadOptions } from './tree-stream.js';

export class IndexedRepository {
  readonly repo: Repository;
  readonly index: BlobIndex;

  constructor(repo: Repository, index: BlobIndex) {
    this.repo = repo;
    this.index = index;
  }

  /** Reads, authenticates and verifies one blob, trying its other locations when one fails. */
  loadBlob(type: BlobType, id: BlobId): Promise<Uint8Array> {
    return this.repo.loadBlob(this.index, type, id);
  }

  /** A whole directory at once: for small trees only (walks use treeEntries). */
  loadTree(id: BlobId): Promise<Tree> {
    return this.repo.loadTree(this.index, id);
  }

  /** The entries of a directory in name order, chunk by chunk: never the whole directory in memory. */
  treeEntries(id: BlobId, opts?: TreeReadOptions): AsyncGenerator<TreeNode> {
    return treeEntries(this.repo, this.index, id, opts);
  }

  /** Repository.withBlobUploader on this index: new blobs are added to it as their index objects are written. */
  withBlobUploader<T>(opts: UploaderOptions, fn: (uploader: BlobUploader) => Promise<T>): Promise<{ result: T; stats: UploadedStats }> {
    return this.repo.withBlobUploader(this.index, opts, fn);
  }
}
