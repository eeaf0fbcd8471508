// `engine repair index` and `engine repair snapshots`: bring a damaged repository (a lost or
// unreadable pack, a damaged index object) back to one that `check` passes, losing only what is
// really lost. Both run under the exclusive lock.
//
// repair index: the index is rebuilt from the packs themselves (each pack's authenticated header
// lists its blobs): new index objects name every pack whose header reads, superseding every old
// index object, which are then deleted. Packs whose header does not read are reported and left
// alone (no index names them; `prune` deletes them).
//
// repair snapshots: every snapshot whose trees reference a blob that is not available (not in the
// index, or its pack is gone) is rewritten: a file with a missing blob is left out, a folder whose
// tree is missing is kept empty, and every path left out is reported. The new snapshot carries
// the tag "repaired" and replaces the damaged one (whose missing data no command could bring back).
import { closeSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isNotFound } from '../backend/errors.js';
import { IntegrityError, isDamageError, isEngineError, ErrorCode } from '../errors/engine-error.js';
import { type BlobId, BlobType, type IndexId, type PackId, type SnapshotId } from '../format/ids.js';
import { BLOBS_PER_INDEX, IndexPayloadBuilder, visitIndex, type IndexPack } from '../format/index-file.js';
import { compareNames, encodeTree, type TreeBlob, type TreeNode } from '../format/tree.js';
import { mapLimit } from '../util/concurrency.js';
import { scratchFolder } from '../disk-index/scan-index.js';
import type { BlobUploader } from '../repository/blob-uploader.js';
import type { BlobIndex } from '../repository/blob-index.js';
import type { PackBlob, StoredPack } from '../repository/pack-store.js';
import type { Repository } from '../repository/repository.js';
import type { IndexedRepository } from '../repository/indexed-repository.js';
import { loadChunk, loadTreeBlob, TreeWriter } from '../repository/tree-stream.js';
import { uploaderTreeStore } from '../repository/uploader-tree-store.js';

export interface RepairIndexResult {
  packs: number;
  blobs: number;
  /** Packs whose header could not be read: indexed from the old index when it named them, else left out. */
  unreadable: { packId: PackId; reason: string; keptFromOldIndex: boolean }[];
  indexObjectsWritten: number;
  indexObjectsDeleted: number;
}

export interface RepairIndexOptions {
  onProgress?: (what: string) => void;
  signal?: AbortSignal;
  pause?: (stage: string) => Promise<void>;
  /** A folder for the rebuilt index objects until every header is read (the system's temporary folder when absent). */
  tmpDir?: string;
  /**
   * Blobs per rebuilt index object (BLOBS_PER_INDEX when absent). Each object is held a few times
   * over while it is encoded, compressed and encrypted (~45 bytes per blob each time: ~20 MiB at
   * 100,000 blobs), which a small budget cannot spare; the format takes objects of any size.
   */
  blobsPerIndex?: number;
}

/** Pack headers read at once, in listing order (their entries are appended in that order). */
const HEADER_WINDOW = 16;

export async function repairIndex(repo: Repository, opts: RepairIndexOptions = {}): Promise<RepairIndexResult> {
  const old = await repo.listIndexIds();
  const stored: StoredPack[] = [];
  for await (const pack of repo.packs.list()) {
    opts.signal?.throwIfAborted();
    stored.push(pack);
  }
  // Listing order, so that the rebuilt index does not depend on the order reads completed in.
  stored.sort((a, b) => (a.packId < b.packId ? -1 : 1));
  opts.onProgress?.(`reading the headers of ${stored.length} pack(s)`);
  const unreadable: RepairIndexResult['unreadable'] = [];
  const result: RepairIndexResult = { packs: 0, blobs: 0, unreadable, indexObjectsWritten: 0, indexObjectsDeleted: 0 };
  // The new index objects are encoded as the headers come in and parked in a temporary file:
  // only one object's entries are on the heap, and nothing is written to the repository before
  // every header has been read (an interruption until then leaves the repository as it was).
  const parked = new ParkedObjects(opts.tmpDir ?? tmpdir());
  try {
    const filler = new IndexFiller((encoded) => parked.add(encoded), opts.blobsPerIndex ?? BLOBS_PER_INDEX);
    for (let i = 0; i < stored.length; i += HEADER_WINDOW) {
      opts.signal?.throwIfAborted();
      const window = stored.slice(i, i + HEADER_WINDOW);
      const headers = await mapLimit(window, Math.max(1, Math.min(16, repo.readParallelism)), async ({ packId, size }) => {
        opts.signal?.throwIfAborted();
        try {
          const blobs = await repo.packs.loadHeader(packId, size);
          await opts.pause?.('repair-index-scan');
          opts.signal?.throwIfAborted();
          return blobs;
        } catch (err) {
          if (!isNotFound(err) && !isDamageError(err)) throw err;
          unreadable.push({ packId, reason: err instanceof Error ? err.message : String(err), keptFromOldIndex: false });
          return null;
        }
      });
      window.forEach(({ packId }, k) => {
        const blobs = headers[k];
        if (blobs) filler.add({ packId, blobs });
      });
    }
    // A pack whose header is damaged may still hold sound blobs, and the old index objects may be
    // the only record of where they are: their entries for it are kept (check --read-data tells
    // whether the blobs themselves are sound).
    if (unreadable.length > 0) {
      unreadable.sort((a, b) => (a.packId < b.packId ? -1 : 1));
      for (const p of await packsFromOldIndex(repo, old, new Set(unreadable.map((u) => u.packId)), opts.signal)) {
        filler.add(p);
        unreadable.find((u) => u.packId === p.packId)!.keptFromOldIndex = true;
      }
    }
    const last = filler.finish(old);
    result.packs = filler.packs;
    result.blobs = filler.blobs;
    // Nothing is written before this point: an interruption until here leaves the repository as it was.
    opts.signal?.throwIfAborted();
    // Index objects that supersede others are a version 2 feature: older engines must refuse the repository.
    await repo.upgradeConfig();
    // New index objects first (the last written supersedes every old one), then the old ones go:
    // a kill in between leaves both, which name the same packs.
    const written = new Set<string>();
    for (const encoded of parked.objects()) {
      // Stopping before the last one (which supersedes the old ones) leaves the old index standing,
      // beside new objects that name packs that exist: as before the repair.
      opts.signal?.throwIfAborted();
      written.add(await repo.saveEncodedIndexObject(encoded));
      result.indexObjectsWritten++;
    }
    opts.signal?.throwIfAborted();
    written.add(await repo.saveEncodedIndexObject(last));
    result.indexObjectsWritten++;
    for (const id of old) {
      // A rebuilt object can be byte-identical to an old one (the same packs, as by an earlier
      // repair): same name, so it stays.
      if (written.has(id)) continue;
      opts.signal?.throwIfAborted();
      await repo.removeIndexObject(id).catch((err: unknown) => (isNotFound(err) ? undefined : Promise.reject(err)));
      result.indexObjectsDeleted++;
    }
  } finally {
    parked.close();
  }
  return result;
}

/** Packs in index objects of at most blobsPerIndex blobs, encoded as they come and handed out as each fills; the last is kept for `finish`. */
class IndexFiller {
  private readonly cur = new IndexPayloadBuilder();
  packs = 0;
  blobs = 0;
  private readonly full: (encoded: Uint8Array) => void;
  private readonly blobsPerIndex: number;

  constructor(full: (encoded: Uint8Array) => void, blobsPerIndex: number) {
    this.full = full;
    this.blobsPerIndex = blobsPerIndex;
  }

  add(p: IndexPack): void {
    if (this.cur.packs > 0 && this.cur.blobs + p.blobs.length > this.blobsPerIndex) this.full(this.cur.finish([]));
    this.cur.addPack(p.packId, p.blobs);
    this.packs++;
    this.blobs += p.blobs.length;
  }

  /** The last object, carrying the supersedes list (always one, so that the list is written even without packs). */
  finish(supersedes: readonly IndexId[]): Uint8Array {
    return this.cur.finish(supersedes);
  }
}

/** Encoded index objects parked in a temporary file, read back one at a time. */
class ParkedObjects {
  private readonly dir: string;
  private readonly path: string;
  private readonly fd: number;
  private readonly extents: { at: number; length: number }[] = [];
  private end = 0;

  constructor(tmpDir: string) {
    this.dir = scratchFolder(tmpDir, 'repair-index');
    this.path = join(this.dir, 'objects');
    this.fd = openSync(this.path, 'w+', 0o600);
  }

  add(encoded: Uint8Array): void {
    let off = 0;
    while (off < encoded.length) off += writeSync(this.fd, encoded, off, encoded.length - off, this.end + off);
    this.extents.push({ at: this.end, length: encoded.length });
    this.end += encoded.length;
  }

  *objects(): Generator<Uint8Array> {
    for (const e of this.extents) {
      const buf = Buffer.allocUnsafeSlow(e.length);
      let off = 0;
      while (off < e.length) {
        const n = readSync(this.fd, buf, off, e.length - off, e.at + off);
        if (n === 0) throw new Error(`${this.path}: ended early`);
        off += n;
      }
      yield buf;
    }
  }

  close(): void {
    closeSync(this.fd);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** The entries the old index objects hold for `wanted` packs (the first object naming each wins); unreadable objects are skipped. */
async function packsFromOldIndex(repo: Repository, old: readonly IndexId[], wanted: ReadonlySet<string>, signal?: AbortSignal): Promise<IndexPack[]> {
  const found = new Map<string, IndexPack>();
  for (const id of old) {
    signal?.throwIfAborted();
    let plain: Uint8Array;
    try {
      plain = await repo.loadIndexPlain(id);
    } catch (err) {
      if (!isDamageError(err) && !isNotFound(err)) throw err;
      continue;
    }
    let cur: { packId: string; blobs: PackBlob[] } | null = null;
    const packs: { packId: string; blobs: PackBlob[] }[] = [];
    try {
      visitIndex(plain, repo.indexObjectName(id), {
        pack: (buf, at) => {
          const packId = buf.toString('hex', at, at + 32);
          cur = wanted.has(packId) && !found.has(packId) ? { packId, blobs: [] } : null;
          if (cur) packs.push(cur);
        },
        blob: (buf, at) => {
          if (!cur) return;
          cur.blobs.push({ type: buf[at] === 1 ? BlobType.TREE : BlobType.DATA, id: buf.toString('hex', at + 1, at + 33) as BlobId, offset: buf.readUInt32LE(at + 33), length: buf.readUInt32LE(at + 37), rawLength: buf.readUInt32LE(at + 41) });
        },
      });
    } catch (err) {
      if (!isDamageError(err)) throw err;
      continue;
    }
    for (const p of packs) if (!found.has(p.packId)) found.set(p.packId, { packId: p.packId as PackId, blobs: p.blobs });
  }
  return [...found.values()].sort((a, b) => (a.packId < b.packId ? -1 : 1));
}

export interface LostPath {
  readonly snapshot: SnapshotId;
  readonly path: string;
  readonly why: string;
}

export interface RepairSnapshotsResult {
  snapshots: number;
  rewritten: { old: SnapshotId; new: SnapshotId }[];
  lost: LostPath[];
}

export interface RepairSnapshotsOptions {
  packTargetBytes: number;
  dryRun?: boolean;
  onLost?: (l: LostPath) => void;
  signal?: AbortSignal;
  pause?: (stage: string) => Promise<void>;
}

export async function repairSnapshots(indexed: IndexedRepository, opts: RepairSnapshotsOptions = { packTargetBytes: 16 * 1024 * 1024 }): Promise<RepairSnapshotsResult> {
  const { repo, index } = indexed;
  const stored = new Set<string>();
  for await (const { packId } of repo.packs.list()) {
    opts.signal?.throwIfAborted();
    stored.add(packId);
  }
  const available = (id: BlobId): boolean => {
    const loc = index.lookup(id);
    return loc !== undefined && stored.has(loc.packId);
  };
  // With the signal, flush stops at once when interrupted (tree packs stored so far are indexed
  // on the way out when that is quick; unindexed, the next backup or prune deals with them).
  const uploaderOptions = { packTargetBytes: opts.packTargetBytes, writesInFlight: 2, indexEveryPacks: 16, sealedBytes: 4 * opts.packTargetBytes, ...(opts.signal ? { signal: opts.signal } : {}) };
  const { result } = await indexed.withBlobUploader(uploaderOptions, (uploader) => repairWith(repo, index, uploader, available, opts));
  return result;
}

/** repairSnapshots with its uploader: trees written again go through it, each snapshot after a flush. */
async function repairWith(repo: Repository, index: BlobIndex, uploader: BlobUploader, available: (id: BlobId) => boolean, opts: RepairSnapshotsOptions): Promise<RepairSnapshotsResult> {
  /**
   * Tree id → its repaired id (the same when nothing below it was lost) and what was lost below
   * it, relative to it: a tree shared by several snapshots is repaired once, and its losses are
   * reported for each snapshot that reaches it.
   */
  const done = new Map<string, { id: BlobId | null; lost: { rel: string; why: string }[] }>();
  const result: RepairSnapshotsResult = { snapshots: 0, rewritten: [], lost: [] };

  const store = uploaderTreeStore(repo, uploader, { ...(opts.dryRun ? { dryRun: true } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
  const emptyTree = (): Promise<BlobId> => store.save(encodeTree({ nodes: [] }));

  /**
   * The entries of a tree that can still be read, chunk by chunk: a chunk of a chunked directory
   * that is lost or damaged is skipped (and told to `onLost`), the others are kept. Null when the
   * tree blob itself (the directory, or its chunk list) is lost.
   */
  const readable = async (treeId: BlobId, onLost: (chunk: BlobId) => void): Promise<AsyncIterable<TreeNode> | Iterable<TreeNode> | null> => {
    let blob: TreeBlob;
    try {
      if (!available(treeId)) return null;
      blob = await loadTreeBlob(repo, index, treeId);
    } catch (err) {
      if (!isTreeDamage(err)) throw err;
      return null;
    }
    if (blob.kind === 'nodes') return blob.nodes;
    const chunks = blob.chunks;
    return (async function* () {
      let last: string | null = null;
      for (const chunk of chunks) {
        let nodes: TreeNode[];
        try {
          if (!available(chunk)) throw new IntegrityError(`tree chunk ${chunk} is not available`);
          nodes = await loadChunk(repo, index, treeId, chunk);
          if (last !== null && compareNames(last, nodes[0]!.name) >= 0) throw new IntegrityError(`tree chunk ${chunk} is out of order`);
        } catch (err) {
          if (!isTreeDamage(err)) throw err;
          onLost(chunk);
          continue;
        }
        last = nodes[nodes.length - 1]!.name;
        yield* nodes;
      }
    })();
  };

  /**
   * The repaired id of a tree (null when the tree itself is lost) and the losses below it. A first
   * pass repairs the subtrees and finds whether anything below changed; only then a second pass
   * writes the directory again, through the streaming writer: no directory is held whole.
   */
  const repairTree = async (treeId: BlobId): Promise<{ id: BlobId | null; lost: { rel: string; why: string }[] }> => {
    opts.signal?.throwIfAborted();
    const known = done.get(treeId);
    if (known) return known;
    const lost: { rel: string; why: string }[] = [];
    const lostChunks = new Set<BlobId>();
    const first = await readable(treeId, (chunk) => lostChunks.add(chunk));
    if (!first) {
      const gone = { id: null, lost: [] };
      done.set(treeId, gone);
      return gone;
    }
    let changed = false;
    const missingBlobs = (node: TreeNode): number => (node.content ?? []).filter((b) => !available(b)).length;
    for await (const node of first) {
      if (node.type === 'dir' && node.subtree) {
        const sub = await repairTree(node.subtree);
        for (const l of sub.lost) lost.push({ rel: `${node.name}/${l.rel}`, why: l.why });
        if (sub.id === null) lost.push({ rel: `${node.name}/`, why: 'its folder listing is lost: restored empty' });
        if (sub.id !== node.subtree) changed = true;
        continue;
      }
      const missing = missingBlobs(node);
      if (missing > 0) {
        lost.push({ rel: node.name, why: `${missing} of its ${node.content!.length} blob(s) are lost: left out` });
        changed = true;
      }
    }
    for (const chunk of lostChunks) lost.push({ rel: '', why: `part of its folder listing (tree chunk ${chunk}) is lost: the entries it held are left out` });
    if (lostChunks.size > 0) changed = true;
    let id: BlobId = treeId;
    if (changed) {
      const writer = new TreeWriter(store);
      const again = await readable(treeId, () => undefined);
      for await (const node of again ?? []) {
        if (node.type === 'dir' && node.subtree) {
          const sub = done.get(node.subtree)!;
          await writer.add(sub.id === node.subtree ? node : { ...node, subtree: sub.id ?? (await emptyTree()) });
          continue;
        }
        if (missingBlobs(node) === 0) await writer.add(node);
      }
      id = await writer.finish();
    }
    const repaired = { id, lost };
    done.set(treeId, repaired);
    return repaired;
  };

  const lose = (snapshot: SnapshotId, path: string, why: string): void => {
    const l = { snapshot, path, why };
    result.lost.push(l);
    opts.onLost?.(l);
  };

  // A repaired snapshot already saved for the same original (a repair killed before it removed
  // the original): found by its contents, so a second run does not save another.
  const existing = new Map((await repo.listSnapshots()).map(({ id, snapshot: x }) => [repairedKey(x.time, x.hostname, x.paths, x.tree, x.tags), id]));

  const ids = await repo.listSnapshotIds();
  result.snapshots = ids.length;
  for (const id of ids) {
    opts.signal?.throwIfAborted();
    const snap = await repo.loadSnapshot(id);
    const root = await repairTree(snap.tree);
    if (root.id === snap.tree) continue;
    for (const l of root.lost) lose(id, `/${l.rel}`, l.why);
    if (root.id === null) lose(id, '/', 'the whole snapshot is lost (its root tree is gone)');
    const newRoot = root.id ?? (await emptyTree());
    if (opts.dryRun) {
      result.rewritten.push({ old: id, new: id });
      continue;
    }
    // The trees first, with the index naming them, then the snapshot (FORMAT.md write ordering).
    await uploader.flush();
    const tags = snap.tags.includes('repaired') ? snap.tags : [...snap.tags, 'repaired'];
    const key = repairedKey(snap.time, snap.hostname, snap.paths, newRoot, tags);
    await opts.pause?.('repair-snapshot');
    // No new snapshot after an interruption. Once saved, the original is still removed (no check
    // between the two): the replacement it began is finished, and a kill there is handled by the
    // next run anyway (`existing` above).
    opts.signal?.throwIfAborted();
    // `original` names the first snapshot of the line, as restic's repair and `engine tag` do.
    // A repaired copy no longer holds what it was copied from: without `copiedFrom`, the next
    // `engine copy` copies the source's snapshot again, whole (FORMAT.md "Snapshots").
    const { copiedFrom: _copiedFrom, ...kept } = snap;
    const fresh = existing.get(key) ?? (await repo.saveSnapshot({ ...kept, tree: newRoot, tags, original: snap.original ?? id }));
    existing.set(key, fresh);
    await repo.removeSnapshot(id);
    result.rewritten.push({ old: id, new: fresh });
  }
  return result;
}

function repairedKey(time: string, hostname: string, paths: readonly string[], tree: string, tags: readonly string[]): string {
  return JSON.stringify([time, hostname, paths, tree, [...tags].sort()]);
}

function isTreeDamage(err: unknown): boolean {
  return isEngineError(err, ErrorCode.INTEGRITY) || isEngineError(err, ErrorCode.FORMAT_CORRUPT);
}
