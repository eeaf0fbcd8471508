// check's walk of the snapshots: every snapshot loads, every tree blob it reaches (a chunked
// directory chunk by chunk, in order) is indexed as a tree in a stored pack and reads, and every
// data blob is indexed as one in a stored pack. Each problem is reported per object; the walk
// goes on past it.
import { type BlobId, BlobType, blobTypeName, type PackId, type SnapshotId } from '../format/ids.js';
import { compareNames, type TreeBlob, type TreeNode } from '../format/tree.js';
import { displayName } from '../fs/names.js';
import type { PositionedIndex } from '../repository/blob-index.js';
import { SeenBlobs } from '../repository/seen-blobs.js';
import type { Repository } from '../repository/repository.js';
import { loadChunk, loadTreeBlob } from '../repository/tree-stream.js';

/** Where the walk reports what it finds (the checker's report and fail). */
export interface FindingSink {
  report(severity: 'error' | 'warning', object: string, message: string): void;
  /** An error met while reading `object`: reported when it is about the data, thrown otherwise. */
  fail(object: string, err: unknown): void;
}

export interface WalkCounts {
  snapshots: number;
  trees: number;
  dataBlobs: number;
}

export class SnapshotWalk {
  private readonly repo: Repository;
  private readonly index: PositionedIndex;
  /** Which packs are stored. */
  private readonly stored: { has(id: PackId): boolean };
  private readonly sink: FindingSink;
  private readonly signal: AbortSignal | undefined;

  constructor(repo: Repository, index: PositionedIndex, stored: { has(id: PackId): boolean }, sink: FindingSink, signal?: AbortSignal) {
    this.repo = repo;
    this.index = index;
    this.stored = stored;
    this.sink = sink;
    this.signal = signal;
  }

  async run(): Promise<WalkCounts> {
    const index = this.index;
    const ids: SnapshotId[] = await this.repo.listSnapshotIds();
    this.signal?.throwIfAborted();
    const treesSeen = new SeenBlobs(index);
    const dataSeen = new SeenBlobs(index);
    for (const id of ids) {
      this.signal?.throwIfAborted();
      const name = this.repo.snapshotObjectName(id);
      let tree: BlobId;
      try {
        tree = (await this.repo.loadSnapshot(id)).tree;
      } catch (err) {
        this.sink.fail(name, err);
        continue;
      }
      await this.walkTree(index, name, tree, '/', treesSeen, dataSeen);
    }
    return { snapshots: ids.length, trees: treesSeen.count, dataBlobs: dataSeen.count };
  }

  /** Whether a tree blob (a directory, or one chunk of one) is indexed as a tree in a stored pack; reports it if not. */
  private treeBlobPresent(index: PositionedIndex, object: string, id: BlobId, where: string): boolean {
    const loc = index.lookup(id);
    if (!loc) {
      this.sink.report('error', object, `is missing from the index ${where}`);
      return false;
    }
    if (!this.stored.has(loc.packId)) {
      this.sink.report('error', object, `is lost with its pack ${loc.packId} ${where}`);
      return false;
    }
    if (loc.type !== BlobType.TREE) {
      this.sink.report('error', object, `is indexed as a ${blobTypeName(loc.type)} blob ${where}`);
      return false;
    }
    return true;
  }

  /** First and last names of each chunk checked: the order across chunks is checked without reading a shared chunk again. */
  private readonly chunkBounds = new Map<string, { first: string; last: string }>();

  /**
   * Depth-first, one directory at a time, a chunked directory one chunk at a time; each tree blob
   * (chunks included) is checked once, under the first path it was reached by. A damaged or
   * missing chunk is reported by its own id and the other chunks are still checked.
   */
  private async walkTree(index: PositionedIndex, snapshot: string, treeId: BlobId, path: string, treesSeen: SeenBlobs, dataSeen: SeenBlobs): Promise<void> {
    // One tree blob read per call: a large snapshot is many of them, each an await.
    this.signal?.throwIfAborted();
    if (!treesSeen.addNew(treeId)) return;
    const object = `tree ${treeId}`;
    const where = `(${displayName(path)} in ${snapshot})`;
    if (!this.treeBlobPresent(index, object, treeId, where)) return;
    let blob: TreeBlob;
    try {
      blob = await loadTreeBlob(this.repo, index, treeId);
    } catch (err) {
      this.sink.fail(object, err);
      return;
    }
    if (blob.kind === 'nodes') {
      await this.walkNodes(index, snapshot, object, blob.nodes, path, treesSeen, dataSeen);
      return;
    }
    let last: string | null = null;
    for (const chunkId of blob.chunks) {
      const chunkObject = `tree chunk ${chunkId}`;
      const chunkWhere = `(chunk of ${object}, ${displayName(path)} in ${snapshot})`;
      this.signal?.throwIfAborted();
      let bounds = this.chunkBounds.get(chunkId);
      if (!bounds) {
        if (!treesSeen.addNew(chunkId)) continue; // reported when first reached
        if (!this.treeBlobPresent(index, chunkObject, chunkId, chunkWhere)) continue;
        let nodes;
        try {
          nodes = await loadChunk(this.repo, index, treeId, chunkId);
        } catch (err) {
          this.sink.fail(chunkObject, err);
          continue;
        }
        bounds = { first: nodes[0]!.name, last: nodes[nodes.length - 1]!.name };
        this.chunkBounds.set(chunkId, bounds);
        await this.walkNodes(index, snapshot, chunkObject, nodes, path, treesSeen, dataSeen);
      }
      if (last !== null && compareNames(last, bounds.first) >= 0) this.sink.report('error', object, `its chunk ${chunkId} starts with "${displayName(bounds.first)}", not after "${displayName(last)}" that ends the chunk before it ${where}`);
      last = bounds.last;
    }
  }

  private async walkNodes(index: PositionedIndex, snapshot: string, object: string, nodes: readonly TreeNode[], path: string, treesSeen: SeenBlobs, dataSeen: SeenBlobs): Promise<void> {
    const where = `(${displayName(path)} in ${snapshot})`;
    for (const node of nodes) {
      const child = `${path}${node.name}`;
      if (node.type === 'dir') {
        if (!node.subtree) this.sink.report('error', object, `directory ${displayName(child)} has no subtree ${where}`);
        else await this.walkTree(index, snapshot, node.subtree, `${child}/`, treesSeen, dataSeen);
        continue;
      }
      for (const blob of node.content ?? []) {
        if (!dataSeen.addNew(blob)) continue;
        const b = index.lookup(blob);
        if (!b) this.sink.report('error', `data blob ${blob}`, `is missing from the index (file ${displayName(child)} in ${snapshot})`);
        else if (b.type !== BlobType.DATA) this.sink.report('error', `data blob ${blob}`, `is indexed as a tree blob (file ${displayName(child)} in ${snapshot})`);
        else if (!this.stored.has(b.packId)) this.sink.report('error', `data blob ${blob}`, `is lost with its pack ${b.packId} (file ${displayName(child)} in ${snapshot})`);
      }
    }
  }
}
