// Collects sealed blobs into packs and stores them, keeping the ordering promise of FORMAT.md:
// a pack is durable before an index object names it, and (the caller's part) an index covering
// every blob of a snapshot is written before the snapshot. Index objects are also written
// periodically during a long backup, so an interrupted run resumes without storing again what is
// already stored.
import { randomInt } from 'node:crypto';
import { type BlobId, BlobType, type IndexId } from '../format/ids.js';
import type { IndexFile, IndexPack } from '../format/index-file.js';
import { AbortedError } from '../errors/engine-error.js';
import { noteDropped } from '../util/gc.js';
import { ByteBudget, Concurrency } from '../util/concurrency.js';
import { BusyMeter } from '../util/busy-meter.js';
import type { BlobIndex } from './blob-index.js';
import type { PackStore } from './pack-store.js';

/** Where an uploader stores what it packs: the repository (Repository.withBlobUploader). */
export interface UploadTarget {
  readonly packs: Pick<PackStore, 'build' | 'save'>;
  saveIndexObject(file: IndexFile): Promise<IndexId>;
}

interface PendingBlob {
  readonly type: BlobType;
  readonly id: BlobId;
  readonly sealed: Uint8Array;
  readonly rawLength: number;
  /** Bytes of the sealed budget this blob holds until its pack is stored. */
  readonly lease: number;
  /** Gives the sealed bytes' buffer back (to the sealed arena) once they are copied into a pack. */
  readonly release: (() => void) | undefined;
}

/** Room in a pooled pack buffer beyond the pack target, for the header and a pack slightly past it. */
const PACK_BUFFER_SLACK = 1024 * 1024;

/**
 * Blobs in one pack at most, whatever their size: a pack of tiny blobs (small files; the scale
 * benchmark's 16-64 byte ones) would otherwise hold hundreds of thousands of them, and every
 * reader of its header (check, prune, repair) holds its entries at once: about 150 bytes of heap
 * each. 16384 entries is a header of ~0.7 MiB. Writers' policy, not the format: readers take any count.
 */
export const MAX_BLOBS_PER_PACK = 16_384;

/**
 * Entries waiting for their index object at most, whatever `indexEveryPacks` says: sixteen packs
 * of tiny blobs would be 262,144 entries held as objects (~50 MiB; prune's repack at ten million
 * blobs peaked 70 MiB over its budget with them).
 */
export const MAX_UNINDEXED_BLOBS = 32_768;

export interface UploaderOptions {
  packTargetBytes: number;
  writesInFlight: number;
  /** Write an index object after this many packs (and at the end). */
  indexEveryPacks: number;
  /**
   * Sealed bytes held from sealing until their pack is stored: the uploader's `sealedBudget`,
   * which those who seal take a lease on (BlobUploader.add) and the uploader releases.
   */
  sealedBytes: number;
  /** Told of the packs each index object names once it is written (prune keeps them for its own index). */
  onIndexed?: (packs: readonly IndexPack[]) => void;
  /**
   * Interrupts the run: no blob is accepted, no pack write starts, pack writes in flight are
   * abandoned (the backend leaves no partial object) and flush throws E_ABORTED. `abandon` still
   * indexes the packs that were stored, so the next run reuses them.
   */
  signal?: AbortSignal;
  /**
   * Dry run (backup --dry-run): packs are built and counted as for a real run, but neither they
   * nor the index objects naming them are stored; their entries go to the in-memory index only
   * (BlobIndex.add with no index id), so a blob met twice is still counted once.
   */
  dryRun?: boolean;
}

export interface UploaderStats {
  packsWritten: number;
  blobsAdded: number;
  /** Of blobsAdded, the tree blobs (the rest are data): restic's data_blobs and tree_blobs. */
  treeBlobsAdded: number;
  bytesAddedRaw: number;
  bytesAddedStored: number;
  indexObjectsWritten: number;
}

/** What a finished upload added, with the high-water mark of its sealed budget and the time a pack save was in flight. */
export type UploadedStats = UploaderStats & { sealedHighWaterBytes: number; storeBusyMs: number };

export class BlobUploader {
  private readonly repo: UploadTarget;
  private readonly index: BlobIndex;
  private readonly opts: UploaderOptions;
  private readonly open = new Map<BlobType, { blobs: PendingBlob[]; bytes: number; leased: number }>();
  /** Blobs accepted in this run (sealed, packed or stored) that the index does not list yet. */
  private readonly inFlight = new Set<string>();
  private storedBytes = 0;
  private readonly writes: Promise<void>[] = [];
  private readonly writeLimit: Concurrency;
  private unindexed: IndexPack[] = [];
  /** Entries of the packs in `unindexed`. */
  private unindexedBlobs = 0;
  private failure: unknown = null;
  /**
   * Pack buffers whose pack is stored, lent to the next packs: a fresh 16 MiB buffer per pack made
   * the main thread's collector run for every ~25 MB of them (docs/BENCHMARKS.md). At most one per
   * write in flight.
   */
  private readonly packBuffers: Uint8Array[] = [];
  /** Time with at least one pack save in flight (for `engine bench`). */
  readonly storeBusy = new BusyMeter(1);
  readonly stats: UploaderStats = { packsWritten: 0, blobsAdded: 0, treeBlobsAdded: 0, bytesAddedRaw: 0, bytesAddedStored: 0, indexObjectsWritten: 0 };
  /** The sealed-bytes budget: leased by whoever seals a blob before `add`, released here once its pack is stored. */
  readonly sealedBudget: ByteBudget;

  /** The size of a pooled pack buffer: the target and a little room for the pack's header. */
  private get poolBufferBytes(): number {
    return this.opts.packTargetBytes + PACK_BUFFER_SLACK;
  }

  constructor(repo: UploadTarget, index: BlobIndex, opts: UploaderOptions) {
    this.repo = repo;
    this.index = index;
    this.opts = opts;
    this.sealedBudget = new ByteBudget('sealed', opts.sealedBytes);
    this.writeLimit = new Concurrency(opts.writesInFlight);
  }

  /** Nothing is stored (UploaderOptions.dryRun): what would change the repository's format is not done either. */
  get dryRun(): boolean {
    return this.opts.dryRun === true;
  }

  /** Bytes of the packs stored so far (what the progress line counts as stored). */
  get bytesStored(): number {
    return this.storedBytes;
  }

  /** True when the blob is stored or on its way: it must not be sealed again. */
  has(id: BlobId): boolean {
    return this.index.has(id) || this.inFlight.has(id);
  }

  /** Claims a blob for this run; returns false when someone already claimed or stored it. */
  claim(id: BlobId): boolean {
    if (this.has(id)) return false;
    this.inFlight.add(id);
    return true;
  }

  /** Adds a sealed blob that was claimed; resolves once the blob is in an open pack (not yet stored). */
  async add(type: BlobType, id: BlobId, sealed: Uint8Array, rawLength: number, lease: number, release?: () => void): Promise<void> {
    this.check();
    let pack = this.open.get(type);
    if (!pack) {
      pack = { blobs: [], bytes: 0, leased: 0 };
      this.open.set(type, pack);
    }
    pack.blobs.push({ type, id, sealed, rawLength, lease, release });
    pack.bytes += sealed.length;
    pack.leased += lease;
    this.stats.blobsAdded++;
    if (type === BlobType.TREE) this.stats.treeBlobsAdded++;
    this.stats.bytesAddedRaw += rawLength;
    this.stats.bytesAddedStored += sealed.length;
    // A pack also closes once it holds half the sealed budget: leases count more than the sealed
    // bytes (prune's count each tiny blob's heap too), and an open pack that held the whole budget
    // before reaching its target would wait for a lease only its own write could free. At 128M
    // a prune of tiny blobs waited so, with nothing left to run: the process ended mid-repack.
    if (pack.bytes >= this.opts.packTargetBytes || pack.blobs.length >= MAX_BLOBS_PER_PACK || pack.leased >= this.sealedBudget.capacity / 2) {
      this.open.delete(type);
      await this.startWrite(pack.blobs);
    }
  }

  private async startWrite(blobs: PendingBlob[]): Promise<void> {
    // Waiting for a write slot here is the backpressure from the store to the packer.
    let started!: () => void;
    const slot = new Promise<void>((r) => (started = r));
    const write = this.writeLimit.run(async () => {
      started();
      await this.writePack(blobs);
    });
    const tracked = write.catch((err: unknown) => {
      this.failure ??= err;
    });
    this.writes.push(tracked);
    await slot;
    this.check();
  }

  /** Throws when interrupted or when a write failed: nothing more is accepted then. */
  private check(): void {
    if (this.opts.signal?.aborted) throw new AbortedError('upload interrupted');
    if (this.failure) throw this.failure;
  }

  private async writePack(blobs: PendingBlob[]): Promise<void> {
    // A write that waited for its slot past an interruption does not start.
    if (this.opts.signal?.aborted) throw new AbortedError('upload interrupted');
    // Random order within the pack: the order of chunks in a file must not show in the pack
    // (a keyed chunker alone leaks through chunk sizes and order; see DESIGN.md).
    for (let i = blobs.length - 1; i > 0; i--) {
      const j = randomInt(i + 1);
      [blobs[i], blobs[j]] = [blobs[j]!, blobs[i]!];
    }
    let dropped = 0;
    const { packId, bytes, blobs: entries } = this.repo.packs.build(blobs, (size) => {
      const lent = this.packBuffers.pop();
      if (lent && lent.length >= size) return lent;
      // A pack larger than the pooled size (its last blob went past the target: at small budgets
      // packs are 4 MiB and chunks up to 8 MiB) gets a buffer of its own, dropped after its save,
      // and the pooled one stays for the next pack: dropping it too made every such pack allocate
      // two buffers (a 1 GiB backup at 140M allocated 134 MiB of them). The pool never holds more
      // than the plan counts for packs.
      if (lent) this.packBuffers.push(lent);
      return new Uint8Array(Math.max(size, this.poolBufferBytes));
    });
    // The sealed blobs are copied into the pack: their buffers can take the next results.
    for (const b of blobs) {
      if (b.release) b.release();
      else dropped += b.sealed.length;
    }
    // Packs of trees are read again by every later backup (the parent snapshot) and by ls:
    // worth a local cache; packs of data are not.
    const signal = this.opts.signal;
    if (!this.opts.dryRun) await this.storeBusy.track(this.repo.packs.save(packId, bytes, { metadata: blobs[0]?.type === BlobType.TREE, ...(signal ? { signal } : {}) }));
    this.stats.packsWritten++;
    if (!this.opts.dryRun) this.storedBytes += bytes.length;
    // Stored: the buffer serves the next pack (never before the save settled: a backend reads it
    // until then). Sealed blobs that were buffers of their own are garbage now.
    const lent = new Uint8Array(bytes.buffer, 0, bytes.buffer.byteLength);
    if (lent.length === this.poolBufferBytes) this.packBuffers.push(lent);
    else dropped += lent.length;
    // Counting half of each reused pack as dropped keeps the main thread's explicit full GC (its
    // other garbage grows with the data moved) at half the pace it had when packs were fresh
    // buffers: without it a first backup of 2 GiB at --mem-budget 256M peaked at 261-276 MiB,
    // with it at 214-231 MiB; counting the whole pack cost ~1 CPU s more for no lower peak.
    noteDropped(dropped + bytes.length / 2);
    this.unindexed.push({ packId, blobs: entries });
    this.unindexedBlobs += entries.length;
    this.sealedBudget.release(blobs.reduce((n, b) => n + b.lease, 0));
    if (this.unindexed.length >= this.opts.indexEveryPacks || this.unindexedBlobs >= MAX_UNINDEXED_BLOBS) await this.writeIndex();
  }

  private async writeIndex(): Promise<void> {
    if (this.unindexed.length === 0) return;
    const packs = this.unindexed;
    this.unindexed = [];
    this.unindexedBlobs = 0;
    const id = this.opts.dryRun ? null : await this.repo.saveIndexObject({ supersedes: [], packs });
    this.index.add(id, { supersedes: [], packs });
    this.opts.onIndexed?.(packs);
    for (const pk of packs) for (const b of pk.blobs) this.inFlight.delete(b.id);
    this.stats.indexObjectsWritten++;
  }

  /**
   * Stores every open pack, waits for all writes, then writes the index naming them. Interrupted
   * (the signal), it stops at once: pack writes in flight are abandoned and it throws E_ABORTED.
   */
  async flush(): Promise<void> {
    this.check();
    for (const [type, pack] of [...this.open]) {
      this.open.delete(type);
      if (pack.blobs.length > 0) await this.startWrite(pack.blobs);
    }
    while (this.writes.length > 0) {
      // Left in `writes` until done, so that `abandon` still waits for them after an interruption.
      const batch = [...this.writes];
      await untilAborted(Promise.all(batch), this.opts.signal);
      this.writes.splice(0, batch.length);
      this.check();
    }
    this.check();
    // An index object waits its turn on a rate-limited line like any object: not past an interruption.
    await untilAborted(this.writeIndex(), this.opts.signal);
    this.check();
  }

  /**
   * After a failure or an interruption: waits for the writes already started, then indexes the
   * packs that were stored, so the next run reuses them instead of storing them again (the
   * snapshot is not written, so nothing references them yet; open packs are dropped).
   */
  async abandon(): Promise<void> {
    const settle = (async () => {
      await Promise.allSettled(this.writes.splice(0));
      await this.writeIndex().catch(() => undefined);
    })();
    if (!this.opts.signal?.aborted) {
      await settle;
      return;
    }
    // Interrupted: pack writes in flight were abandoned with the signal; the index of the packs
    // already stored is worth a short wait, not a long one on a slow line: the person asked to
    // stop, and the next backup adopts unindexed packs anyway (repository/stray-packs.ts), so
    // nothing stored is lost by not waiting.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([settle, new Promise<void>((r) => (timer = setTimeout(r, ABANDON_INDEX_GRACE_MS)))]);
    clearTimeout(timer);
  }
}

/** How long an interrupted run waits for the index object of the packs it stored. */
const ABANDON_INDEX_GRACE_MS = 2000;

/**
 * Settles as `p` does, or rejects with E_ABORTED as soon as the signal fires (then `p` runs on,
 * unawaited: a backend never leaves a partial object, and an index object naming durable packs
 * is harmless whenever it lands).
 */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  p.catch(() => undefined);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new AbortedError('upload interrupted'));
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
