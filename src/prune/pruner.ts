// `engine prune`: removes what no snapshot needs. Run under an exclusive lock (no backup adds
// data meanwhile, src/repository/locks.ts), in an order that keeps the repository valid if it is
// killed at any moment (FORMAT.md "Prune"):
//
//   1. find every blob a snapshot reaches (trees walked one at a time); a referenced blob missing
//      from the index stops prune before anything changes (`engine check` tells more);
//   2. classify packs: fully used (kept), unused (deleted), partly used (repacked when the unused
//      share of the repository exceeds --max-unused), not indexed (left by a killed run: deleted);
//   3. copy the used blobs of the packs to repack into new packs (each verified on the worker
//      pool first: damaged data is never carried over silently), written with their index;
//   4. write index objects naming every pack that stays, superseding every index read;
//   5. delete the superseded index objects, then the packs nothing names any more.
//
// A kill before 4 leaves extra packs and index entries (valid duplicates, cleaned by the next
// prune); between 4 and 5, old and new index objects both name existing packs; during 5, the
// packs being deleted are named by no index object left.
import { isNotFound } from '../backend/errors.js';
import { IntegrityError } from '../errors/engine-error.js';
import { type BlobId, BlobType, type IndexId, type PackId, type SnapshotId } from '../format/ids.js';
import { BLOBS_PER_INDEX, IndexPayloadBuilder, type IndexFile } from '../format/index-file.js';
import { CacheReplacement } from '../disk-index/cache-replacement.js';
import { mapLimit } from '../util/concurrency.js';
import type { WorkerPool } from '../worker-pool/pool.js';
import { treeEntries } from '../repository/tree-stream.js';
import type { BlobIndex } from '../repository/blob-index.js';
import { PackGrouper } from '../disk-index/pack-groups.js';
import { DEFAULT_SCAN_SCRATCH, ScanIndex, type ScanScratch } from '../disk-index/scan-index.js';
import { PackTable } from '../disk-index/pack-table.js';
import { RefJoin } from '../disk-index/ref-join.js';
import { BitSet } from '../util/bitset.js';
import { collectNow } from '../util/gc.js';
import type { Repository } from '../repository/repository.js';
import { UnsealStatus } from '../../workers/protocol.js';

export interface PruneOptions {
  /** Largest share of the stored bytes that may stay unused (0.05: 5%). */
  readonly maxUnused: number;
  readonly dryRun: boolean;
  /**
   * The worker pool, asked for only when there is something to repack: most prunes delete whole
   * packs and need no thread (and a pool closed while its threads still load their modules can
   * abort Node 20).
   */
  readonly pool: () => WorkerPool;
  /**
   * Ends the worker pool once the repack is done (its threads hold tens of MiB that the index
   * writing after it can use); a later `pool()` starts a new one. None: the pool lives on.
   */
  readonly closePool?: () => Promise<void>;
  readonly packTargetBytes: number;
  readonly sealedBytes: number;
  readonly writesInFlight: number;
  readonly onProgress?: (what: string) => void;
  readonly signal?: AbortSignal;
  /** Test hook: runs before each step that changes the repository (crash tests kill there). */
  readonly beforeStep?: (step: string) => Promise<void>;
  /** Test hook (cli/commands/check.ts maintenancePause): holds prune at a named stage. */
  readonly pause?: (stage: string) => Promise<void>;
  /** Throws when the exclusive lock prune relies on was lost: checked before every step that changes anything. */
  readonly assertLocked?: () => Promise<void>;
  /** Where and with how much memory the index is scanned (a temporary folder and 16 MiB when absent). */
  readonly scratch?: PruneScratch;
  /**
   * The repository's index cache folder (the one the off-heap index opens): rebuilt from the index
   * objects prune writes, so that the next command opens it warm. None: left to the next open.
   */
  readonly indexCacheDir?: string | null;
}


export interface PruneStats {
  snapshots: number;
  usedBlobs: number;
  packs: number;
  packsKept: number;
  packsDeleted: number;
  packsRepacked: number;
  strayPacksDeleted: number;
  packsWritten: number;
  blobsRepacked: number;
  bytesBefore: number;
  bytesAfter: number;
  unusedBytesAfter: number;
  indexObjectsDeleted: number;
  indexObjectsWritten: number;
}

/** Heap a blob waiting in the repack's uploader takes besides its bytes (its Buffer, id string and entry). */
const HEAP_PER_BLOB = 512;

/** Where prune keeps its view of the index off the heap (src/disk-index/scan-index.ts). */
export type PruneScratch = ScanScratch;

/**
 * Per pack, in typed arrays indexed by the pack's number in the scan (the first number it got
 * when a pack is named by several index objects): a few dozen bytes per pack, nothing per blob.
 */
class PackTally {
  /** Stored size, -1 while not seen in the listing. */
  readonly size: Float64Array;
  /** Bytes of every blob the index lists in the pack (each once). */
  readonly listedBytes: Float64Array;
  /** Bytes of the used blobs whose kept copy is in this pack. */
  readonly usedBytes: Float64Array;
  readonly usedBlobs: Uint32Array;
  /** The packs' canonical numbers (src/disk-index/pack-table.ts). */
  readonly packs: PackTable;

  constructor(scan: ScanIndex) {
    const n = scan.packCount;
    this.size = new Float64Array(n).fill(-1);
    this.listedBytes = new Float64Array(n);
    this.usedBytes = new Float64Array(n);
    this.usedBlobs = new Uint32Array(n);
    this.packs = new PackTable(scan);
  }

  /** Unused bytes of a pack: its blobs no snapshot uses (or whose used copy is elsewhere); the header is the price of the pack, not waste. */
  unused(no: number): number {
    return this.listedBytes[no]! - this.usedBytes[no]!;
  }
}

/**
 * The index the repack's uploader adds the packs it writes to: their index objects are stored by
 * the uploader and stay (they are not superseded), so only their names are kept here.
 */
class WrittenIndex implements BlobIndex {
  readonly indexIds: IndexId[] = [];
  packs = 0;
  blobCount = 0;
  has(): boolean {
    // The blobs repacked are distinct (each used blob is copied once): nothing to deduplicate.
    return false;
  }
  lookup(): undefined {
    return undefined;
  }
  hasPack(): boolean {
    return false;
  }
  add(indexId: IndexId | null, file: IndexFile): void {
    if (indexId) this.indexIds.push(indexId);
    this.packs += file.packs.length;
    for (const p of file.packs) this.blobCount += p.blobs.length;
  }
}

export class Pruner {
  private readonly repo: Repository;
  private readonly opts: PruneOptions;
  private readonly scratch: PruneScratch;

  constructor(repo: Repository, opts: PruneOptions) {
    this.repo = repo;
    this.opts = opts;
    this.scratch = opts.scratch ?? DEFAULT_SCAN_SCRATCH;
  }

  private async step(name: string): Promise<void> {
    this.opts.signal?.throwIfAborted();
    await this.opts.beforeStep?.(name);
    await this.opts.assertLocked?.();
    // Both are awaits (a test's delay, a read of the lock): the step starts only if no signal came meanwhile.
    this.opts.signal?.throwIfAborted();
  }

  async run(): Promise<PruneStats> {
    this.opts.onProgress?.('loading index objects');
    const objects = await this.repo.listIndexObjects();
    const scan = await ScanIndex.build(
      this.repo,
      {
        tmpDir: this.scratch.tmpDir,
        sortMemBytes: this.scratch.sortMemBytes,
        pageCacheBytes: this.scratch.pageCacheBytes,
        readBytes: this.scratch.readBytes,
        readsInFlight: this.repo.metadataReads,
        ...(this.opts.signal ? { signal: this.opts.signal } : {}),
        ...(this.opts.onProgress ? { onProgress: this.opts.onProgress } : {}),
      },
      objects,
    );
    try {
      return await this.prune(scan, objects.map((o) => o.id));
    } finally {
      scan.close();
    }
  }

  private async prune(scan: ScanIndex, indexIds: IndexId[]): Promise<PruneStats> {
    const { repo } = this;
    // Index objects another one supersedes (left by a prune killed before it deleted them, or
    // copied back from an older copy of the repository) count for nothing: their packs are not
    // looked for, and they are deleted below.
    const ignored = scan.supersededIds;
    const tally = new PackTally(scan);
    const stray: PackId[] = [];
    let bytesBefore = 0;
    let storedPacks = 0;
    for await (const { packId, size } of repo.packs.list()) {
      // Only pack names: anything else under data/ (left by another tool) is not prune's to delete.
      this.opts.signal?.throwIfAborted();
      bytesBefore += size;
      storedPacks++;
      const no = tally.packs.numberOf(packId);
      if (no < 0) stray.push(packId);
      else tally.size[no] = size;
    }
    for (const no of tally.packs.numbers) {
      if (tally.size[no]! < 0) throw new IntegrityError(`pack ${scan.packIdOf(no)} is named by the index but missing: prune would lose track of its blobs`, { hint: 'run `engine check`, then `engine repair index` and `engine repair snapshots`, before pruning' });
    }

    this.opts.onProgress?.('finding the blobs snapshots use');
    const { used, usedCount, snapshots } = await this.usedBlobs(scan);

    // One pass over every entry, in id order: the entries of a blob are adjacent, its kept copy
    // (the first in listing order, as every reader picks) first.
    tally.packs.forEachEntry((r, no, first) => {
      tally.listedBytes[no]! += r.length;
      if (first && used.has(r.position)) {
        tally.usedBytes[no]! += r.length;
        tally.usedBlobs[no]!++;
      }
    }, { signal: this.opts.signal });
    const packNos = [...tally.packs.numbers];
    const unusedPacks = packNos.filter((no) => tally.usedBlobs[no] === 0);
    const partly = packNos.filter((no) => tally.usedBlobs[no]! > 0 && tally.unused(no) > 0);
    const keptBytes = packNos.filter((no) => tally.usedBlobs[no]! > 0).reduce((n, no) => n + tally.size[no]!, 0);
    let unused = packNos.filter((no) => tally.usedBlobs[no]! > 0).reduce((n, no) => n + tally.unused(no), 0);
    // Repack the most wasteful packs first until the unused share is within the limit.
    partly.sort((a, b) => tally.unused(b) / tally.size[b]! - tally.unused(a) / tally.size[a]!);
    const repack: number[] = [];
    let total = keptBytes;
    for (const no of partly) {
      if (unused <= this.opts.maxUnused * total) break;
      repack.push(no);
      unused -= tally.unused(no);
      total -= tally.unused(no);
    }
    const stats: PruneStats = {
      snapshots,
      usedBlobs: usedCount,
      packs: storedPacks,
      packsKept: tally.packs.count - unusedPacks.length - repack.length,
      packsDeleted: unusedPacks.length,
      packsRepacked: repack.length,
      strayPacksDeleted: stray.length,
      packsWritten: 0,
      blobsRepacked: repack.reduce((n, no) => n + tally.usedBlobs[no]!, 0),
      bytesBefore,
      bytesAfter: 0,
      unusedBytesAfter: unused,
      indexObjectsDeleted: 0,
      indexObjectsWritten: 0,
    };
    await this.opts.pause?.('prune-planned');
    this.opts.signal?.throwIfAborted();
    if (this.opts.dryRun || (unusedPacks.length === 0 && repack.length === 0 && stray.length === 0)) {
      stats.bytesAfter = this.opts.dryRun ? keptBytes - repack.reduce((n, no) => n + tally.unused(no), 0) : bytesBefore;
      if (!this.opts.dryRun && ignored.length > 0) {
        // Nothing else to do, but superseded index objects are still there: the objects that
        // supersede them are stored, so they can go at once.
        await this.step('delete index');
        for (const id of ignored) {
          this.opts.signal?.throwIfAborted();
          await removeIfThere(() => repo.removeIndexObject(id));
          stats.indexObjectsDeleted++;
        }
      }
      return stats;
    }

    // A version 1 repository becomes version 2 before anything is deleted: older engines, which
    // would back up without looking at locks, refuse it from now on.
    await repo.upgradeConfig();
    const gone = new BitSet(scan.packCount);
    for (const no of [...unusedPacks, ...repack]) gone.add(no);
    if (repack.length > 0) {
      await this.step('repack');
      this.opts.onProgress?.(`repacking ${stats.blobsRepacked} blob(s) from ${repack.length} pack(s)`);
      const repackSet = new BitSet(scan.packCount);
      for (const no of repack) repackSet.add(no);
      const written = await this.repack(scan, tally, used, repackSet);
      stats.packsWritten = written.packs;
      await this.opts.closePool?.();
    }

    await this.step('write index');
    const cache = this.opts.indexCacheDir ? new CacheReplacement(repo, this.opts.indexCacheDir, scan.folder, Math.floor(this.scratch.sortMemBytes / 2)) : null;
    try {
      stats.indexObjectsWritten = await this.writeIndex(scan, tally, gone, indexIds, cache);

      await this.opts.pause?.('prune-delete');
      this.opts.signal?.throwIfAborted();
      await this.step('delete index');
      for (const id of indexIds) {
        // The object superseding them is stored: any subset of them may go (FORMAT.md "Prune").
        this.opts.signal?.throwIfAborted();
        await removeIfThere(() => repo.removeIndexObject(id));
        stats.indexObjectsDeleted++;
      }
      // The index is the objects just written now (and the repack's own): the cache follows.
      await cache?.install(this.opts.signal).catch((err: unknown) => {
        if (this.opts.signal?.aborted) throw err;
        this.opts.onProgress?.(`the local index cache could not be rebuilt (${err instanceof Error ? err.message : String(err)}): the next command rebuilds it`);
      });
    } finally {
      cache?.abandon();
    }
    await this.step('delete packs');
    const doomed = [...[...unusedPacks, ...repack].map((no) => scan.packIdOf(no)), ...stray];
    this.opts.onProgress?.(`deleting ${doomed.length} pack(s)`);
    await mapLimit(doomed, Math.max(1, Math.min(8, repo.readParallelism)), async (id) => {
      this.opts.signal?.throwIfAborted();
      await removeIfThere(() => repo.packs.remove(id));
    });
    let after = 0;
    for await (const o of repo.packs.listObjects()) {
      this.opts.signal?.throwIfAborted();
      after += o.size;
    }
    stats.bytesAfter = after;
    return stats;
  }

  /**
   * Every tree and data blob reachable from a snapshot, one bit per index entry; a referenced blob
   * the index lacks stops prune. Trees are looked up as they are met (to be read, and walked
   * once); data blobs are joined with the index afterwards in one sequential pass (ref-join.ts).
   */
  private async usedBlobs(scan: ScanIndex): Promise<{ used: BitSet; usedCount: number; snapshots: number }> {
    const used = new BitSet(scan.positions);
    let usedCount = 0;
    const ids: SnapshotId[] = await this.repo.listSnapshotIds();
    const missing = (id: string, what: string): IntegrityError => new IntegrityError(`${what} ${id} is referenced but not in the index: prune would delete data a snapshot needs to be repaired`, { hint: 'run `engine check`, then `engine repair snapshots`, before pruning' });
    const need = (id: string, what: string): boolean => {
      const at = scan.positionOf(id as BlobId);
      if (at < 0) throw missing(id, what);
      if (!used.addNew(at)) return false;
      usedCount++;
      return true;
    };
    const data = new RefJoin({ tmpDir: scan.folder, memBytes: this.scratch.sortMemBytes, tag: 'prune-used' });
    try {
      // A chunked directory's chunk blobs are used as much as its chunk list: each is needed (and
      // so kept) before it is read.
      const chunk = (id: BlobId): void => void need(id, 'tree chunk');
      const walk = async (treeId: BlobId): Promise<void> => {
        if (!need(treeId, 'tree')) return;
        for await (const node of treeEntries(this.repo, scan, treeId, { onChunk: chunk })) {
          this.opts.signal?.throwIfAborted();
          if (node.type === 'dir' && node.subtree) await walk(node.subtree);
          for (const b of node.content ?? []) data.add(b);
        }
      };
      for (const id of ids) {
        this.opts.signal?.throwIfAborted();
        const s = await this.repo.loadSnapshot(id);
        await walk(s.tree);
      }
      let n = 0;
      for (const ref of data.join([scan.records()])) {
        if ((++n & 0xffff) === 0) this.opts.signal?.throwIfAborted();
        if (!ref.record) throw missing(ref.buf.toString('hex', ref.at, ref.at + 32), 'data blob');
        if (used.addNew(ref.record.position)) usedCount++;
      }
    } finally {
      data.discard();
    }
    // The sort's buffers are garbage now, outside the V8 heap: collected before the next phase.
    collectNow();
    return { used, usedCount, snapshots: ids.length };
  }

  /**
   * Writes index objects naming every blob of every pack that stays, grouped by pack through an
   * external sort (one pack's entries on the heap at a time); the last one supersedes every index
   * object read. Returns how many were written.
   */
  private async writeIndex(scan: ScanIndex, tally: PackTally, gone: BitSet, indexIds: readonly IndexId[], cache: CacheReplacement | null): Promise<number> {
    const save = async (encoded: Uint8Array): Promise<void> => {
      const id = await this.repo.saveEncodedIndexObject(encoded);
      cache?.add(id, encoded);
    };
    // The cache's run is sorted at the same time (CacheReplacement): half the sort memory each.
    const grouper = new PackGrouper({ tmpDir: scan.folder, memBytes: Math.floor(this.scratch.sortMemBytes / 2), tag: 'prune-index' });
    let written = 0;
    try {
      tally.packs.forEachEntry((r, no) => {
        if (!gone.has(no)) grouper.add(no, r.buf, r.at, r);
      }, { signal: this.opts.signal });
      // Each object is built as bytes a pack at a time (no object per entry held until it is full).
      const cur = new IndexPayloadBuilder();
      // Stopping between two of them is safe: until the last one (which carries `supersedes`) is
      // stored, the old index objects all stand, and the new ones name packs that all exist.
      for (const g of grouper.groups()) {
        if (cur.packs > 0 && cur.blobs + g.blobs.length > BLOBS_PER_INDEX) {
          this.opts.signal?.throwIfAborted();
          await save(cur.finish([]));
          written++;
        }
        cur.addPack(scan.packIdOf(g.packNo), g.blobs);
      }
      this.opts.signal?.throwIfAborted();
      await save(cur.finish(indexIds));
      written++;
    } finally {
      grouper.discard();
    }
    collectNow();
    return written;
  }

  /**
   * Copies the used blobs of the packs to repack into new packs, verifying each first. Their kept
   * entries are gathered by pack through an external sort; the uploader stores the new packs'
   * index objects itself.
   */
  private async repack(scan: ScanIndex, tally: PackTally, used: BitSet, repackSet: BitSet): Promise<WrittenIndex> {
    const { repo } = this;
    // The repack's pipeline (pool, uploader) runs while its entries are read back: half the sort memory.
    const grouper = new PackGrouper({ tmpDir: scan.folder, memBytes: Math.floor(this.scratch.sortMemBytes / 2), tag: 'prune-repack' });
    const newIndex = new WrittenIndex();
    try {
      tally.packs.forEachEntry((r, no, first) => {
        if (first && repackSet.has(no) && used.has(r.position)) grouper.add(no, r.buf, r.at, r);
      }, { signal: this.opts.signal });
      const uploaderOptions = {
        packTargetBytes: this.opts.packTargetBytes,
        writesInFlight: this.opts.writesInFlight,
        indexEveryPacks: 16,
        sealedBytes: Math.max(this.opts.sealedBytes, 2 * this.opts.packTargetBytes),
        // Interrupted, the uploader stops at once: pack writes in flight are abandoned (a backend
        // leaves no partial object) and the packs it stored are left unindexed or indexed without
        // superseding anything: extra copies, which the next prune deletes.
        ...(this.opts.signal ? { signal: this.opts.signal } : {}),
      };
      await repo.withBlobUploader(newIndex, uploaderOptions, async (uploader) => {
        for (const group of grouper.groups()) {
          this.opts.signal?.throwIfAborted();
          const packId = scan.packIdOf(group.packNo);
          const bytes = await repo.packs.load(packId, this.opts.signal ? { signal: this.opts.signal } : undefined);
          await this.opts.pause?.('prune-repack');
          this.opts.signal?.throwIfAborted();
          // The worker opens each blob and checks it against its id; the sealed bytes are copied as
          // they are (no re-encryption: the envelope is self-contained). Only the used blobs are
          // copied out, before the pack's buffer goes to the worker.
          const blobs = group.blobs;
          const kept = blobs.map((b) => bytes.slice(b.offset, b.offset + b.length));
          const out = await this.opts.pool().unseal({ packBytes: bytes, blobs: blobs.map((b) => ({ offset: b.offset, length: b.length, rawLength: b.rawLength, id: b.id })) });
          this.opts.signal?.throwIfAborted();
          const view = new DataView(out);
          for (const [i, b] of blobs.entries()) {
            if (view.getUint32(4 + 8 * i, true) !== UnsealStatus.OK) {
              throw new IntegrityError(`${b.type === BlobType.TREE ? 'tree' : 'data'} blob ${b.id} in pack ${packId} is damaged: prune stops before changing anything that depends on it`, { hint: 'run `engine check --read-data` to see the damage' });
            }
            const sealed = kept[i]!;
            // The lease counts the blob's objects on the heap too: for tiny blobs they are most of it.
            const lease = sealed.length + HEAP_PER_BLOB;
            await uploader.sealedBudget.acquire(lease, this.opts.signal);
            await uploader.add(b.type, b.id, sealed, b.rawLength, lease);
          }
          // The pack's buffer and the blobs' objects are garbage now: collected before the next
          // pack is loaded. Packs of tiny blobs leave more garbage on the heap than in buffers, and
          // at --mem-budget 128M a repack of 166,808 blobs from 225 packs (1M-blob repository)
          // peaked 131-136 MiB when only the buffers counted towards the process-wide threshold
          // (gc.ts noteDropped), 128-129 collecting every 3 packs, 122-126 after each (3 s more
          // there, ~15 ms per pack: small beside loading and unsealing a pack).
          collectNow();
        }
      });
    } finally {
      grouper.discard();
    }
    collectNow();
    return newIndex;
  }
}

/** Runs a removal; an object that is gone already is not an error. */
async function removeIfThere(remove: () => Promise<void>): Promise<void> {
  try {
    await remove();
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}
