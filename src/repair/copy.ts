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
import type { BlobId, SnapshotId } from '../format/ids.js';
import { BlobType } from '../format/ids.js';
import type { Snapshot } from '../format/snapshot.js';
import type { TreeNode } from '../format/tree.js';
import { REPO_VERSION } from '../format/config.js';
import type { BlobUploader } from '../repository/blob-uploader.js';
import type { IndexedRepository } from '../repository/indexed-repository.js';
import type { ListedSnapshot } from '../repository/snapshot-filter.js';
import { TreeWriter, type TreeStore } from '../repository/tree-stream.js';
import { uploaderTreeStore } from '../repository/uploader-tree-store.js';
import { Concurrency, TaskSlots } from '../util/concurrency.js';

export interface CopyOptions {
  packTargetBytes: number;
  /** Sealed blobs not yet stored (the uploader's budget). */
  sealedBytes: number;
  /** Blobs read from the source at once (each holds a chunk and its sealed copy). */
  readsInFlight: number;
  signal?: AbortSignal;
  /** Say what would be copied; write nothing. */
  dryRun?: boolean;
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
 * The destination's copies of source snapshots: by `copiedFrom`, and, when ids are shared, by the
 * snapshot itself (same root tree, time, host and paths: a copy made by other means, or a
 * snapshot saved in both).
 */
async function copiesInDestination(dest: IndexedRepository, sharedIds: boolean): Promise<{ find(s: ListedSnapshot): SnapshotId | undefined }> {
  const byCopiedFrom = new Map<string, SnapshotId>();
  const bySameness = new Map<string, SnapshotId>();
  const sameness = (s: Snapshot): string => JSON.stringify([s.tree, s.time, s.hostname, s.paths]);
  for (const { id, snapshot } of await dest.repo.listSnapshots()) {
    if (snapshot.copiedFrom) byCopiedFrom.set(snapshot.copiedFrom, id);
    if (sharedIds) bySameness.set(sameness(snapshot), id);
  }
  return { find: (s) => byCopiedFrom.get(s.id) ?? (sharedIds ? bySameness.get(sameness(s.snapshot)) : undefined) };
}

/** Copies folders (and what they hold) from the source into the destination's uploader. */
class TreeCopier {
  private readonly memo = new Map<BlobId, BlobId>();
  private readonly reads: Concurrency;
  private readonly store: TreeStore;
  private readonly source: IndexedRepository;
  private readonly dest: IndexedRepository;
  private readonly uploader: BlobUploader;
  private readonly sharedIds: boolean;
  private readonly opts: CopyOptions;

  constructor(source: IndexedRepository, dest: IndexedRepository, uploader: BlobUploader, sharedIds: boolean, opts: CopyOptions) {
    this.source = source;
    this.dest = dest;
    this.uploader = uploader;
    this.sharedIds = sharedIds;
    this.opts = opts;
    this.reads = new Concurrency(opts.readsInFlight);
    this.store = uploaderTreeStore(dest.repo, uploader, opts.signal ? { signal: opts.signal } : {});
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
    const copied = this.sharedIds ? await this.copyTreeAsIs(id) : await this.copyTreeRenamed(id);
    if (this.memo.size >= TREE_MEMO_ENTRIES) this.memo.delete(this.memo.keys().next().value!);
    this.memo.set(id, copied);
    return copied;
  }

  /** Same ids: the missing data blobs, the subfolders, then the folder's own blobs byte for byte. */
  private async copyTreeAsIs(id: BlobId): Promise<BlobId> {
    const chunks: BlobId[] = [];
    const slots = new TaskSlots(this.opts.readsInFlight * 2);
    for await (const node of this.source.treeEntries(id, { onChunk: (c) => chunks.push(c) })) {
      this.opts.signal?.throwIfAborted();
      if (node.type === 'dir' && node.subtree) {
        await this.copyTree(node.subtree);
        continue;
      }
      for (const blob of node.content ?? []) {
        if (!this.uploader.claim(blob)) continue;
        await slots.start(() => this.storeData(blob), this.opts.signal);
      }
    }
    await slots.drain();
    for (const chunk of chunks) await this.copyTreeBlob(chunk);
    await this.copyTreeBlob(id);
    return id;
  }

  /** Different ids: each file's data named under the destination's key, the folder written again. */
  private async copyTreeRenamed(id: BlobId): Promise<BlobId> {
    const writer = new TreeWriter(this.store);
    // Files are read a few at a time and added in order; a subfolder waits for the files before it.
    const pending: Promise<TreeNode>[] = [];
    const window = this.opts.readsInFlight * 2;
    const addPending = async (): Promise<void> => {
      for (const node of await Promise.all(pending.splice(0))) await writer.add(node);
    };
    for await (const node of this.source.treeEntries(id)) {
      this.opts.signal?.throwIfAborted();
      if (node.type === 'dir' && node.subtree) {
        await addPending();
        await writer.add({ ...node, subtree: await this.copyTree(node.subtree) });
      } else if (node.content && node.content.length > 0) {
        const renamed = this.renameContent(node);
        renamed.catch(() => undefined);
        pending.push(renamed);
        if (pending.length >= window) await addPending();
      } else {
        pending.push(Promise.resolve(node));
      }
    }
    await addPending();
    return writer.finish();
  }

  /** A file node with its data blobs' destination ids, the missing ones stored. */
  private async renameContent(node: TreeNode): Promise<TreeNode> {
    const content = await Promise.all(
      (node.content ?? []).map((blob) =>
        this.reads.run(async () => {
          const bytes = await this.source.loadBlob(BlobType.DATA, blob);
          const renamed = this.dest.repo.blobIdOf(bytes);
          if (this.uploader.claim(renamed)) await this.add(BlobType.DATA, renamed, bytes);
          return renamed;
        }),
      ),
    );
    return { ...node, content };
  }

  /** A claimed data blob read from the source (its id checked there) and stored here. */
  private async storeData(blob: BlobId): Promise<void> {
    await this.reads.run(async () => this.add(BlobType.DATA, blob, await this.source.loadBlob(BlobType.DATA, blob)));
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
