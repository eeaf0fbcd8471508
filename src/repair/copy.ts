// `engine copy` (restic's): snapshots of one repository saved in another, with every blob they
// need, for an off-site copy. Blob ids are keyed (FORMAT.md "Blobs and their ids"), so what moves
// depends on whether the two repositories name chunks alike:
//
// - Same K_id (the destination was made with `init --from-repo SRC --copy-chunker-params`): a
//   blob's id is the same in both, so a blob the destination has is skipped by its id, and a
//   missing one is opened and sealed again under the destination's keys. Trees are stored byte
//   for byte: the copy's root tree id is the source's.
// - Different K_id: every data blob of a copied file is read and named again under the
//   destination's K_id (stored when the destination lacks it), and the trees are written again
//   with the new ids (as `rewrite` writes them, chunked folders staying chunked).
//
// Either way each folder is streamed (never held whole), a bounded memo spares a folder already
// copied in this run (unchanged folders of the next snapshots), and a snapshot whose copy the
// destination already holds (`copiedFrom`) is not copied again. The blobs and the index naming
// them are stored before the snapshot (FORMAT.md write ordering).
import type { BlobId, PackId, SnapshotId } from '../format/ids.js';
import { BlobType } from '../format/ids.js';
import type { Snapshot } from '../format/snapshot.js';
import type { TreeNode } from '../format/tree.js';
import { REPO_VERSION } from '../format/config.js';
import type { BlobUploader } from '../repository/blob-uploader.js';
import type { IndexedRepository } from '../repository/indexed-repository.js';
import type { ListedSnapshot } from '../repository/snapshot-filter.js';
import { TreeWriter, type TreeStore } from '../repository/tree-stream.js';
import { uploaderTreeStore } from '../repository/uploader-tree-store.js';
import type { BlobLocation } from '../repository/blob-index.js';
import { Concurrency } from '../util/concurrency.js';

export interface CopyOptions {
  packTargetBytes: number;
  /** Sealed blobs not yet stored (the uploader's budget). */
  sealedBytes: number;
  /** Ranged reads of the source's packs in flight. */
  readsInFlight: number;
  /** Plaintext (and sealed bytes) of the source's blobs read in one batch. */
  batchBytes: number;
  signal?: AbortSignal;
  /** Say what would be copied; write nothing. */
  dryRun?: boolean;
  /** Throws when a lock the command relies on was lost: checked before each snapshot is saved. */
  assertLocked?: () => Promise<void>;
  /** Each snapshot as it is decided: copied (with its new id), or already in the destination. */
  onSnapshot?: (event: CopyEvent) => void;
}

export type CopyEvent = { kind: 'copied'; source: SnapshotId; copy: SnapshotId } | { kind: 'present'; source: SnapshotId; copy: SnapshotId } | { kind: 'would-copy'; source: SnapshotId };

export interface CopyResult {
  copied: { source: SnapshotId; copy: SnapshotId }[];
  /** Source snapshots the destination already holds a copy of. */
  present: { source: SnapshotId; copy: SnapshotId }[];
  /** Blobs stored in the destination, and their plaintext bytes. */
  blobsAdded: number;
  bytesAdded: number;
  /** True when the two repositories name chunks alike (the fast path). */
  sharedIds: boolean;
}

/** Folders remembered as copied (source tree id -> destination tree id): about 200 bytes each. */
const TREE_MEMO_ENTRIES = 16_384;

export async function copySnapshots(source: IndexedRepository, dest: IndexedRepository, selected: readonly ListedSnapshot[], opts: CopyOptions): Promise<CopyResult> {
  const sharedIds = source.repo.idKeysToShare().blobId === dest.repo.idKeysToShare().blobId;
  const result: CopyResult = { copied: [], present: [], blobsAdded: 0, bytesAdded: 0, sharedIds };
  const already = await copiesInDestination(dest, sharedIds);
  const todo: ListedSnapshot[] = [];
  for (const s of selected) {
    const copy = already.find(s);
    if (copy) {
      result.present.push({ source: s.id, copy });
      opts.onSnapshot?.({ kind: 'present', source: s.id, copy });
    } else todo.push(s);
  }
  if (opts.dryRun) {
    for (const s of todo) opts.onSnapshot?.({ kind: 'would-copy', source: s.id });
    return result;
  }
  if (todo.length === 0) return result;
  // Trees copied byte for byte may be chunked (version 3) or hold byte names (version 4): a
  // destination of an older version is raised first, as a backup that writes them would.
  if (dest.repo.config.version < REPO_VERSION && source.repo.config.version > dest.repo.config.version) await dest.repo.upgradeConfig();

  const uploaderOptions = { packTargetBytes: opts.packTargetBytes, writesInFlight: 2, indexEveryPacks: 16, sealedBytes: opts.sealedBytes, ...(opts.signal ? { signal: opts.signal } : {}) };
  const { stats } = await dest.withBlobUploader(uploaderOptions, async (uploader) => {
    const copier = new TreeCopier(source, dest, uploader, sharedIds, opts);
    for (const { id, snapshot } of todo) {
      opts.signal?.throwIfAborted();
      const tree = await copier.copyTree(snapshot.tree);
      // The blobs and trees, with the index naming them, before the snapshot (FORMAT.md write ordering).
      await uploader.flush();
      opts.signal?.throwIfAborted();
      // The destination's blobs this copy skipped are its data only while prune cannot run: a
      // lost lock means they may be gone, and the snapshot is not saved (as backup).
      await opts.assertLocked?.();
      const { parent: _parent, ...rest } = snapshot;
      // `parent` names a snapshot of the source: it means nothing here (as restic drops it).
      const next: Snapshot = { ...rest, tree, original: snapshot.original ?? id, copiedFrom: id };
      const saved = await dest.repo.saveSnapshot(next);
      result.copied.push({ source: id, copy: saved });
      opts.onSnapshot?.({ kind: 'copied', source: id, copy: saved });
    }
  });
  result.blobsAdded = stats.blobsAdded;
  result.bytesAdded = stats.bytesAddedRaw;
  return result;
}

/**
 * The destination's copy of a source snapshot, if it has one:
 * - a snapshot copied from it (`copiedFrom`);
 * - the snapshot it was copied from (copying back), or another copy of that one (a copy of a copy);
 * - when ids are shared, the same snapshot by content (same root tree, time, host and paths: a
 *   copy made by other means).
 * `rewrite` and `repair snapshots` drop `copiedFrom`: a changed copy is no copy, and the source's
 * snapshot is copied again.
 */
async function copiesInDestination(dest: IndexedRepository, sharedIds: boolean): Promise<{ find(s: ListedSnapshot): SnapshotId | undefined }> {
  const byCopiedFrom = new Map<string, SnapshotId>();
  const ids = new Set<string>();
  const bySameness = new Map<string, SnapshotId>();
  const sameness = (s: Snapshot): string => JSON.stringify([s.tree, s.time, s.hostname, s.paths]);
  for (const { id, snapshot } of await dest.repo.listSnapshots()) {
    ids.add(id);
    if (snapshot.copiedFrom) byCopiedFrom.set(snapshot.copiedFrom, id);
    if (sharedIds) bySameness.set(sameness(snapshot), id);
  }
  return {
    find: (s) => {
      const from = s.snapshot.copiedFrom;
      return (
        byCopiedFrom.get(s.id) ??
        (from !== undefined ? (ids.has(from) ? (from as SnapshotId) : byCopiedFrom.get(from)) : undefined) ??
        (sharedIds ? bySameness.get(sameness(s.snapshot)) : undefined)
      );
    },
  };
}

/** Files whose nodes wait for their blobs before they are written to the folder's tree. */
const MAX_PENDING_FILES = 1024;

/** Copies folders (and what they hold) from the source into the destination's uploader. */
class TreeCopier {
  private readonly memo = new Map<BlobId, BlobId>();
  private readonly store: TreeStore;
  private readonly source: IndexedRepository;
  private readonly dest: IndexedRepository;
  private readonly uploader: BlobUploader;
  private readonly sharedIds: boolean;
  private readonly opts: CopyOptions;
  private readonly batch: BlobBatch;
  /** Different ids: the destination's id of each source data blob read for the files pending. */
  private readonly renamed = new Map<BlobId, BlobId>();

  constructor(source: IndexedRepository, dest: IndexedRepository, uploader: BlobUploader, sharedIds: boolean, opts: CopyOptions) {
    this.source = source;
    this.dest = dest;
    this.uploader = uploader;
    this.sharedIds = sharedIds;
    this.opts = opts;
    this.store = uploaderTreeStore(dest.repo, uploader, opts.signal ? { signal: opts.signal } : {});
    this.batch = new BlobBatch(source, opts.batchBytes, opts.readsInFlight);
  }

  /** The destination's id of source folder `id`, once it and everything below it are stored. */
  async copyTree(id: BlobId): Promise<BlobId> {
    const known = this.memo.get(id);
    if (known !== undefined) {
      // Refreshed: the memo forgets the folder used longest ago.
      this.memo.delete(id);
      this.memo.set(id, known);
      return known;
    }
    const copied = await this.copyFolder(id);
    if (this.memo.size >= TREE_MEMO_ENTRIES) this.memo.delete(this.memo.keys().next().value!);
    this.memo.set(id, copied);
    return copied;
  }

  /**
   * One folder: its files' missing data blobs read in batches (grouped by pack), its subfolders
   * copied, then its own tree: stored byte for byte when ids are shared, else written again
   * with the new ids, entry by entry (a file waits until its blobs are named here).
   */
  private async copyFolder(id: BlobId): Promise<BlobId> {
    const chunks: BlobId[] = [];
    const writer = this.sharedIds ? null : new TreeWriter(this.store);
    const pending: TreeNode[] = [];
    const addPending = async (): Promise<void> => {
      await this.readBatch();
      if (writer) for (const node of pending) await writer.add(node.content ? { ...node, content: node.content.map((b) => this.renamed.get(b)!) } : node);
      pending.length = 0;
      this.renamed.clear();
    };
    for await (const node of this.source.treeEntries(id, { onChunk: (c) => chunks.push(c) })) {
      this.opts.signal?.throwIfAborted();
      if (node.type === 'dir' && node.subtree) {
        await addPending();
        const subtree = await this.copyTree(node.subtree);
        await writer?.add({ ...node, subtree });
        continue;
      }
      for (const blob of node.content ?? []) {
        const wanted = this.sharedIds ? this.uploader.claim(blob) : !this.renamed.has(blob);
        if (wanted && this.batch.add(blob)) await this.readBatch();
      }
      pending.push(node);
      if (pending.length >= MAX_PENDING_FILES) await addPending();
    }
    await addPending();
    if (writer) return writer.finish();
    for (const chunk of chunks) await this.copyTreeBlob(chunk);
    await this.copyTreeBlob(id);
    return id;
  }

  /** Reads the blobs batched and stores them here: as they are, or named again under this repository's key. */
  private async readBatch(): Promise<void> {
    await this.batch.read(async (blob, bytes) => {
      let id = blob;
      if (!this.sharedIds) {
        id = this.dest.repo.blobIdOf(bytes);
        this.renamed.set(blob, id);
        if (!this.uploader.claim(id)) return;
      }
      await this.add(BlobType.DATA, id, bytes);
    });
  }

  /** A tree blob stored as it is, unless the destination has it. */
  private async copyTreeBlob(blob: BlobId): Promise<void> {
    if (!this.uploader.claim(blob)) return;
    await this.add(BlobType.TREE, blob, await this.source.loadBlob(BlobType.TREE, blob));
  }

  private async add(type: BlobType, id: BlobId, bytes: Uint8Array): Promise<void> {
    const sealed = this.dest.repo.sealBlob(bytes);
    await this.uploader.sealedBudget.acquire(sealed.length, this.opts.signal);
    await this.uploader.add(type, id, sealed, bytes.length, sealed.length);
  }
}

/** Blobs read together are at most this far apart in a pack, and one read spans at most READ_SPAN. */
const READ_GAP = 1024 * 1024;
export const READ_SPAN = 8 * 1024 * 1024;

/**
 * Data blobs of the source to read, gathered until their plaintext fills `limitBytes`, then read
 * pack by pack in ranged requests (a few in flight) rather than one request per blob: at a
 * million tiny blobs, one request each is most of the time.
 */
class BlobBatch {
  private readonly source: IndexedRepository;
  private readonly limitBytes: number;
  private readonly reads: Concurrency;
  private readonly wanted = new Map<BlobId, BlobLocation | undefined>();
  private bytes = 0;

  constructor(source: IndexedRepository, limitBytes: number, readsInFlight: number) {
    this.source = source;
    this.limitBytes = limitBytes;
    this.reads = new Concurrency(readsInFlight);
  }

  /** Adds a blob (once); true when the batch is full and should be read. */
  add(id: BlobId): boolean {
    if (this.wanted.has(id)) return false;
    const loc = this.source.index.lookup(id);
    this.wanted.set(id, loc);
    this.bytes += loc ? loc.rawLength + loc.length : 0;
    return this.bytes >= this.limitBytes;
  }

  /** Reads every blob added, handing each to `take` (one at a time), and empties the batch. */
  async read(take: (id: BlobId, bytes: Uint8Array) => Promise<void>): Promise<void> {
    if (this.wanted.size === 0) return;
    const byPack = new Map<PackId, { id: BlobId; type: BlobType; loc: BlobLocation }[]>();
    const unindexed: BlobId[] = [];
    for (const [id, loc] of this.wanted) {
      if (!loc) {
        unindexed.push(id);
        continue;
      }
      let list = byPack.get(loc.packId);
      if (!list) byPack.set(loc.packId, (list = []));
      list.push({ id, type: BlobType.DATA, loc });
    }
    this.wanted.clear();
    this.bytes = 0;
    // loadBlob names a blob the index lacks as missing data, as every reader does.
    for (const id of unindexed) await take(id, await this.source.loadBlob(BlobType.DATA, id));
    const ranges: { packId: PackId; blobs: { id: BlobId; type: BlobType; loc: BlobLocation }[] }[] = [];
    for (const [packId, blobs] of byPack) {
      blobs.sort((a, b) => a.loc.offset - b.loc.offset);
      let current: (typeof ranges)[number] | null = null;
      let start = 0;
      let end = 0;
      for (const b of blobs) {
        if (current && b.loc.offset - end <= READ_GAP && b.loc.offset + b.loc.length - start <= READ_SPAN) {
          current.blobs.push(b);
          end = Math.max(end, b.loc.offset + b.loc.length);
        } else {
          current = { packId, blobs: [b] };
          ranges.push(current);
          start = b.loc.offset;
          end = b.loc.offset + b.loc.length;
        }
      }
    }
    // Ranges read a few at a time; each one's blobs handed over as it arrives (in order within
    // it). After a failure the ranges not yet read are not, and nothing more is handed over; the
    // failure is thrown once every range has settled (no read outlives the batch).
    let handing = Promise.resolve();
    let failure: { err: unknown } | null = null;
    await Promise.all(
      ranges.map((r) =>
        this.reads
          .run(async () => {
            if (failure) return;
            const plain = await this.source.repo.loadBlobsOfPack(this.source.index, r.packId, r.blobs);
            const turn = handing.then(async () => {
              for (let i = 0; i < r.blobs.length && !failure; i++) await take(r.blobs[i]!.id, plain[i]!);
            });
            handing = turn.catch(() => undefined);
            await turn;
          })
          .catch((err: unknown) => {
            failure ??= { err };
          }),
      ),
    );
    if (failure) throw (failure as { err: unknown }).err;
  }
}
