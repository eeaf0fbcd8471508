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
import { splitIndex, type IndexFile, type IndexPack } from '../format/index-file.js';
import { mapLimit } from '../util/concurrency.js';
import type { WorkerPool } from '../worker-pool/pool.js';
import { treeEntries } from '../repository/tree-stream.js';
import { MasterIndex } from '../repository/master-index.js';
import type { PackBlob } from '../repository/pack-store.js';
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

interface PackState {
  readonly packId: PackId;
  readonly size: number;
  /** Every blob the index lists in it. */
  readonly blobs: PackBlob[];
  /** The same, by id. */
  readonly byId: Map<string, PackBlob>;
  /** Bytes of the blobs whose kept copy is in this pack. */
  usedBytes: number;
  used: PackBlob[];
}

export class Pruner {
  private readonly repo: Repository;
  private readonly opts: PruneOptions;

  constructor(repo: Repository, opts: PruneOptions) {
    this.repo = repo;
    this.opts = opts;
  }

  private async step(name: string): Promise<void> {
    this.opts.signal?.throwIfAborted();
    await this.opts.beforeStep?.(name);
    await this.opts.assertLocked?.();
    // Both are awaits (a test's delay, a read of the lock): the step starts only if no signal came meanwhile.
    this.opts.signal?.throwIfAborted();
  }

  async run(): Promise<PruneStats> {
    const { repo } = this;
    this.opts.onProgress?.('loading index objects');
    const indexIds = await repo.listIndexIds();
    const packs = new Map<PackId, PackState>();
    const index = new MasterIndex();
    const files: { id: IndexId; file: IndexFile }[] = [];
    for (const id of indexIds) {
      this.opts.signal?.throwIfAborted();
      const file = await repo.loadIndexObject(id);
      index.add(id, file);
      files.push({ id, file });
    }
    // Index objects another one supersedes (left by a prune killed before it deleted them, or
    // copied back from an older copy of the repository) count for nothing: their packs are not
    // looked for, and they are deleted below.
    const ignored = indexIds.filter((id) => index.isSuperseded(id));
    for (const { id, file } of files.splice(0)) {
      if (index.isSuperseded(id)) continue;
      for (const p of file.packs) {
        let st = packs.get(p.packId);
        if (!st) {
          st = { packId: p.packId, size: 0, blobs: [], byId: new Map(), usedBytes: 0, used: [] };
          packs.set(p.packId, st);
        }
        for (const b of p.blobs) {
          if (st.byId.has(b.id)) continue;
          st.byId.set(b.id, b);
          st.blobs.push(b);
        }
      }
    }
    const stored = new Map<PackId, number>();
    for await (const { packId, size } of repo.packs.list()) {
      // Only pack names: anything else under data/ (left by another tool) is not prune's to delete.
      this.opts.signal?.throwIfAborted();
      stored.set(packId, size);
    }
    for (const [id, st] of packs) {
      const size = stored.get(id);
      if (size === undefined) throw new IntegrityError(`pack ${id} is named by the index but missing: prune would lose track of its blobs`, { hint: 'run `engine check`, then `engine repair index` and `engine repair snapshots`, before pruning' });
      packs.set(id, { ...st, size });
    }

    this.opts.onProgress?.('finding the blobs snapshots use');
    const { used, snapshots } = await this.usedBlobs(index);

    // The kept copy of each used blob: its first location in the index (as every reader picks).
    for (const id of used) {
      const loc = index.lookup(id as BlobId)!;
      const st = packs.get(loc.packId)!;
      const blob = st.byId.get(id)!;
      st.used.push(blob);
      st.usedBytes += blob.length;
    }
    const bytesBefore = [...stored.values()].reduce((n, s) => n + s, 0);
    const stray = [...stored.keys()].filter((id) => !packs.has(id));
    const unusedPacks = [...packs.values()].filter((p) => p.used.length === 0);
    // Unused bytes of a pack: its blobs that no snapshot uses (or whose used copy is elsewhere);
    // the header is the price of the pack, not waste.
    const unusedOf = (p: PackState): number => p.blobs.reduce((n, b) => n + b.length, 0) - p.usedBytes;
    const partly = [...packs.values()].filter((p) => p.used.length > 0 && unusedOf(p) > 0);
    const keptBytes = [...packs.values()].filter((p) => p.used.length > 0).reduce((n, p) => n + p.size, 0);
    let unused = [...packs.values()].filter((p) => p.used.length > 0).reduce((n, p) => n + unusedOf(p), 0);
    // Repack the most wasteful packs first until the unused share is within the limit.
    partly.sort((a, b) => unusedOf(b) / b.size - unusedOf(a) / a.size);
    const repack: PackState[] = [];
    let total = keptBytes;
    for (const p of partly) {
      if (unused <= this.opts.maxUnused * total) break;
      repack.push(p);
      unused -= unusedOf(p);
      total -= unusedOf(p);
    }
    const stats: PruneStats = {
      snapshots,
      usedBlobs: used.size,
      packs: stored.size,
      packsKept: packs.size - unusedPacks.length - repack.length,
      packsDeleted: unusedPacks.length,
      packsRepacked: repack.length,
      strayPacksDeleted: stray.length,
      packsWritten: 0,
      blobsRepacked: repack.reduce((n, p) => n + p.used.length, 0),
      bytesBefore,
      bytesAfter: 0,
      unusedBytesAfter: unused,
      indexObjectsDeleted: 0,
      indexObjectsWritten: 0,
    };
    await this.opts.pause?.('prune-planned');
    this.opts.signal?.throwIfAborted();
    if (this.opts.dryRun || (unusedPacks.length === 0 && repack.length === 0 && stray.length === 0)) {
      stats.bytesAfter = this.opts.dryRun ? keptBytes - repack.reduce((n, p) => n + unusedOf(p), 0) : bytesBefore;
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
    const gone = new Set<PackId>([...unusedPacks, ...repack].map((p) => p.packId));
    const newIndex = new MasterIndex();
    const newPacks: IndexPack[] = [];
    if (repack.length > 0) {
      await this.step('repack');
      this.opts.onProgress?.(`repacking ${stats.blobsRepacked} blob(s) from ${repack.length} pack(s)`);
      const written = await this.repack(repack, newIndex);
      newPacks.push(...written);
      stats.packsWritten = written.length;
    }

    await this.step('write index');
    const keep: IndexPack[] = [...packs.values()].filter((p) => !gone.has(p.packId)).map((p) => ({ packId: p.packId, blobs: p.blobs }));
    keep.push(...newPacks);
    const superseded = [...indexIds, ...newIndex.indexIds];
    for (const file of splitIndex(keep, superseded)) {
      // Stopping between two of them is safe: until the last one (which carries `supersedes`) is
      // stored, the old index objects all stand, and the new ones name packs that all exist.
      this.opts.signal?.throwIfAborted();
      await repo.saveIndexObject(file);
      stats.indexObjectsWritten++;
    }

    await this.opts.pause?.('prune-delete');
    this.opts.signal?.throwIfAborted();
    await this.step('delete index');
    for (const id of superseded) {
      // The object superseding them is stored: any subset of them may go (FORMAT.md "Prune").
      this.opts.signal?.throwIfAborted();
      await removeIfThere(() => repo.removeIndexObject(id));
      stats.indexObjectsDeleted++;
    }
    await this.step('delete packs');
    this.opts.onProgress?.(`deleting ${gone.size + stray.length} pack(s)`);
    await mapLimit([...gone, ...stray], Math.max(1, Math.min(8, repo.readParallelism)), async (id) => {
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

  /** Every tree and data blob reachable from a snapshot; a referenced blob the index lacks stops prune. */
  private async usedBlobs(index: MasterIndex): Promise<{ used: Set<string>; snapshots: number }> {
    const used = new Set<string>();
    const ids: SnapshotId[] = await this.repo.listSnapshotIds();
    const need = (id: string, what: string): boolean => {
      if (!index.has(id as BlobId)) throw new IntegrityError(`${what} ${id} is referenced but not in the index: prune would delete data a snapshot needs to be repaired`, { hint: 'run `engine check`, then `engine repair snapshots`, before pruning' });
      if (used.has(id)) return false;
      used.add(id);
      return true;
    };
    // A chunked directory's chunk blobs are used as much as its chunk list: each is needed (and
    // so kept) before it is read.
    const chunk = (id: BlobId): void => void need(id, 'tree chunk');
    const walk = async (treeId: BlobId): Promise<void> => {
      if (!need(treeId, 'tree')) return;
      for await (const node of treeEntries(this.repo, index, treeId, { onChunk: chunk })) {
        this.opts.signal?.throwIfAborted();
        if (node.type === 'dir' && node.subtree) await walk(node.subtree);
        for (const b of node.content ?? []) need(b, 'data blob');
      }
    };
    for (const id of ids) {
      this.opts.signal?.throwIfAborted();
      const s = await this.repo.loadSnapshot(id);
      await walk(s.tree);
    }
    return { used, snapshots: ids.length };
  }

  /** Copies the used blobs of `packs` into new packs, verifying each first; returns the new packs. */
  private async repack(packs: PackState[], newIndex: MasterIndex): Promise<IndexPack[]> {
    const { repo } = this;
    const written: IndexPack[] = [];
    const uploaderOptions = {
      packTargetBytes: this.opts.packTargetBytes,
      writesInFlight: this.opts.writesInFlight,
      indexEveryPacks: 16,
      sealedBytes: Math.max(this.opts.sealedBytes, 2 * this.opts.packTargetBytes),
      onIndexed: (indexed: readonly IndexPack[]) => written.push(...indexed),
      // Interrupted, the uploader stops at once: pack writes in flight are abandoned (a backend
      // leaves no partial object) and the packs it stored are left unindexed or indexed without
      // superseding anything: extra copies, which the next prune deletes.
      ...(this.opts.signal ? { signal: this.opts.signal } : {}),
    };
    await repo.withBlobUploader(newIndex, uploaderOptions, async (uploader) => {
      for (const pack of packs) {
        this.opts.signal?.throwIfAborted();
        const bytes = await repo.packs.load(pack.packId, this.opts.signal ? { signal: this.opts.signal } : undefined);
        await this.opts.pause?.('prune-repack');
        this.opts.signal?.throwIfAborted();
        // The worker opens each blob and checks it against its id; the sealed bytes are copied as
        // they are (no re-encryption: the envelope is self-contained). Only the used blobs are
        // copied out, before the pack's buffer goes to the worker.
        const kept = pack.used.map((b) => bytes.slice(b.offset, b.offset + b.length));
        const out = await this.opts.pool().unseal({ packBytes: bytes, blobs: pack.used.map((b) => ({ offset: b.offset, length: b.length, rawLength: b.rawLength, id: b.id })) });
        this.opts.signal?.throwIfAborted();
        const view = new DataView(out);
        for (const [i, b] of pack.used.entries()) {
          if (view.getUint32(4 + 8 * i, true) !== UnsealStatus.OK) {
            throw new IntegrityError(`${b.type === BlobType.TREE ? 'tree' : 'data'} blob ${b.id} in pack ${pack.packId} is damaged: prune stops before changing anything that depends on it`, { hint: 'run `engine check --read-data` to see the damage' });
          }
          const sealed = kept[i]!;
          await uploader.sealedBudget.acquire(sealed.length, this.opts.signal);
          await uploader.add(b.type, b.id, sealed, b.rawLength, sealed.length);
        }
      }
    });
    return written;
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
