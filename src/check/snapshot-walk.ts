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
import { loadChunk, loadTreeBlob, treeEntries } from '../repository/tree-stream.js';
import { RefJoin } from '../disk-index/ref-join.js';
import type { ScanIndex } from '../disk-index/scan-index.js';

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
  private readonly index: ScanIndex;
  /** Which packs are stored. */
  private readonly stored: { has(id: PackId): boolean };
  private readonly sink: FindingSink;
  private readonly signal: AbortSignal | undefined;
  /** Data blobs met, joined with the index once the trees are walked (src/disk-index/ref-join.ts). */
  private readonly data: RefJoin;

  constructor(repo: Repository, index: ScanIndex, stored: { has(id: PackId): boolean }, sink: FindingSink, opts: { signal?: AbortSignal; sortMemBytes: number }) {
    this.repo = repo;
    this.index = index;
    this.stored = stored;
    this.sink = sink;
    this.signal = opts.signal;
    this.data = new RefJoin({ tmpDir: index.folder, memBytes: opts.sortMemBytes, tag: 'check-data' });
  }

  async run(): Promise<WalkCounts> {
    try {
      return await this.walkAll();
    } finally {
      this.data.discard();
    }
  }

  private async walkAll(): Promise<WalkCounts> {
    const index = this.index;
    const ids: SnapshotId[] = await this.repo.listSnapshotIds();
    this.signal?.throwIfAborted();
    const treesSeen = new SeenBlobs(index);
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
      await this.walkTree(index, name, tree, '/', treesSeen);
    }
    // Every data blob met, once: indexed as data, in a stored pack.
    const bad = new Map<string, string>();
    let dataBlobs = 0;
    for (const ref of this.data.join([index.records()])) {
      if ((++dataBlobs & 0xffff) === 0) this.signal?.throwIfAborted();
      const r = ref.record;
      const id = ref.buf.toString('hex', ref.at, ref.at + 32);
      if (!r) bad.set(id, 'is missing from the index');
      else if (r.type !== BlobType.DATA) bad.set(id, 'is indexed as a tree blob');
      else {
        const packId = index.packIdOf(r.packNo);
        if (!this.stored.has(packId)) bad.set(id, `is lost with its pack ${packId}`);
      }
    }
    if (bad.size > 0) await this.reportData(ids, bad);
    return { snapshots: ids.length, trees: treesSeen.count, dataBlobs };
  }

  /**
   * The data blobs found wanting, each reported once with the first file that holds it: a second
   * walk, only when there is damage (the first one keeps no path per blob).
   */
  private async reportData(ids: readonly SnapshotId[], bad: Map<string, string>): Promise<void> {
    const seen = new SeenBlobs(this.index);
    const walk = async (snapshot: string, treeId: BlobId, path: string): Promise<void> => {
      if (bad.size === 0 || !seen.addNew(treeId)) return;
      try {
        for await (const node of treeEntries(this.repo, this.index, treeId)) {
          this.signal?.throwIfAborted();
          const child = `${path}${node.name}`;
          if (node.type === 'dir' && node.subtree) await walk(snapshot, node.subtree, `${child}/`);
          for (const blob of node.content ?? []) {
            const why = bad.get(blob);
            if (why === undefined) continue;
            bad.delete(blob);
            this.sink.report('error', `data blob ${blob}`, `${why} (file ${displayName(child)} in ${snapshot})`);
          }
        }
      } catch (err) {
        // A tree that does not read was reported by the first walk.
        if (this.signal?.aborted) throw err;
      }
    };
    for (const id of ids) {
      this.signal?.throwIfAborted();
      const name = this.repo.snapshotObjectName(id);
      try {
        await walk(name, (await this.repo.loadSnapshot(id)).tree, '/');
      } catch (err) {
        if (this.signal?.aborted) throw err;
      }
    }
    for (const [blob, why] of bad) this.sink.report('error', `data blob ${blob}`, why);
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
  private async walkTree(index: PositionedIndex, snapshot: string, treeId: BlobId, path: string, treesSeen: SeenBlobs): Promise<void> {
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
      await this.walkNodes(index, snapshot, object, blob.nodes, path, treesSeen);
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
        await this.walkNodes(index, snapshot, chunkObject, nodes, path, treesSeen);
      }
      if (last !== null && compareNames(last, bounds.first) >= 0) this.sink.report('error', object, `its chunk ${chunkId} starts with "${displayName(bounds.first)}", not after "${displayName(last)}" that ends the chunk before it ${where}`);
      last = bounds.last;
    }
  }

  private async walkNodes(index: PositionedIndex, snapshot: string, object: string, nodes: readonly TreeNode[], path: string, treesSeen: SeenBlobs): Promise<void> {
    const where = `(${displayName(path)} in ${snapshot})`;
    for (const node of nodes) {
      const child = `${path}${node.name}`;
      if (node.type === 'dir') {
        if (!node.subtree) this.sink.report('error', object, `directory ${displayName(child)} has no subtree ${where}`);
        else await this.walkTree(index, snapshot, node.subtree, `${child}/`, treesSeen);
        continue;
      }
      // Checked once the walk is done, all at once (walkAll).
      for (const blob of node.content ?? []) this.data.add(blob);
    }
  }
}
