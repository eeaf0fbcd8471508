// `engine check`: verifies a repository's structure and, on request, its data, reporting every
// problem per object instead of stopping at the first one.
//
// Structure: every key file and metadata object matches its name (names are BLAKE3 of the stored
// bytes) and decrypts; every pack an index names exists and its header lists exactly what the
// index says; every snapshot's trees load, and every blob they reference is in the index with
// the right type. Data (--read-data, or a subset): each selected pack is downloaded whole, its
// bytes must hash to its name, its header must authenticate, and every blob in it must decrypt,
// decompress and hash to its id (on the worker pool).
import { isNotFound } from '../backend/errors.js';
import { isDamageError } from '../errors/engine-error.js';
import { blobTypeName, type PackId } from '../format/ids.js';
import { decodeKeyFile, kdfCostProblem } from '../format/key-file.js';
import { ByteBudget, TaskSlots } from '../util/concurrency.js';
import type { WorkerPool } from '../worker-pool/pool.js';
import { PackGrouper } from '../disk-index/pack-groups.js';
import { DEFAULT_SCAN_SCRATCH, ScanIndex, type ScanScratch } from '../disk-index/scan-index.js';
import { PackTable } from '../disk-index/pack-table.js';
import { BitSet } from '../util/bitset.js';
import { StoredPacks } from './stored-packs.js';
import type { PackBlob } from '../repository/pack-store.js';
import type { Repository } from '../repository/repository.js';
import { toHex } from '../util/hex.js';
import { UnsealStatus } from '../../workers/protocol.js';
import { SnapshotWalk } from './snapshot-walk.js';

export type Severity = 'error' | 'warning';

/**
 * What a finding calls for, when it is one of restic's two hints: the index rebuilt from the pack
 * headers (`engine repair index`: a pack the index names is missing, an index object is unreadable,
 * the index and a pack's header disagree) or unreferenced data deleted (`engine prune`: a pack in
 * no index, a superseded index object).
 */
export type Hint = 'repair-index' | 'prune';

export interface Finding {
  readonly severity: Severity;
  /** The object at fault: a storage name (`data/ab/ab…`, `index/…`, `snapshots/…`, `keys/…`) or `tree <id>`. */
  readonly object: string;
  readonly message: string;
  readonly hint?: Hint;
  /** A pack whose own bytes are damaged (truncated, not authenticating, not matching its name or its blobs' ids): restic's broken_packs. */
  readonly brokenPack?: PackId;
}

/** How a finding is filed, beside its severity, object and message. */
type FindingExtra = Pick<Finding, 'hint' | 'brokenPack'>;

/** Which packs --read-data reads: all of them, or a subset. */
export type PackSelection = { readonly kind: 'all' } | { readonly kind: 'group'; readonly n: number; readonly of: number } | { readonly kind: 'percent'; readonly percent: number };

export interface CheckOptions {
  /** Packs whose data is read and verified; none when absent. */
  readonly readData?: PackSelection;
  /** Required with readData: blobs are opened and verified on it. */
  readonly pool?: WorkerPool;
  /** Packs downloaded at once for --read-data (each is held whole while it is verified). */
  readonly packsInFlight?: number;
  readonly onFinding: (f: Finding) => void;
  readonly onProgress?: (what: string) => void;
  readonly signal?: AbortSignal;
  /** Test hook (cli/commands/check.ts maintenancePause): holds the check at a named stage. */
  readonly pause?: (stage: string) => Promise<void>;
  /** Where and with how much memory the index is scanned (a temporary folder and 16 MiB when absent). */
  readonly scratch?: ScanScratch;
}


export interface CheckSummary {
  keys: number;
  indexObjects: number;
  packs: number;
  snapshots: number;
  trees: number;
  dataBlobs: number;
  packsRead: number;
  blobsRead: number;
  bytesRead: number;
  unreferencedPacks: number;
  errors: number;
  warnings: number;
}

export class Checker {
  private readonly repo: Repository;
  private readonly opts: CheckOptions;
  private readonly summary: CheckSummary = { keys: 0, indexObjects: 0, packs: 0, snapshots: 0, trees: 0, dataBlobs: 0, packsRead: 0, blobsRead: 0, bytesRead: 0, unreferencedPacks: 0, errors: 0, warnings: 0 };

  constructor(repo: Repository, opts: CheckOptions) {
    this.repo = repo;
    this.opts = opts;
    if (opts.readData && !opts.pool) throw new Error('Checker: reading data needs a worker pool');
  }

  private report(severity: Severity, object: string, message: string, extra: FindingExtra = {}): void {
    if (severity === 'error') this.summary.errors++;
    else this.summary.warnings++;
    this.opts.onFinding({ severity, object, message, ...extra });
  }

  private progress(what: string): void {
    this.opts.onProgress?.(what);
  }

  async run(): Promise<CheckSummary> {
    this.progress('checking key files');
    await this.checkKeys();
    this.progress('loading index objects');
    const scan = await this.loadIndexes();
    try {
      await this.opts.pause?.('check-index');
      this.opts.signal?.throwIfAborted();
      this.progress('checking packs');
      const table = new PackTable(scan);
      const stored = await this.listPacks(table, scan.packCount);
      this.stored = stored;
      await this.checkPacks(scan, table, stored);
      this.progress('checking snapshots and trees');
      await this.checkSnapshots(scan);
    } finally {
      scan.close();
    }
    // A check that went on past an interruption (a step that did not look) gives no verdict:
    // what it saw was not the whole repository.
    this.opts.signal?.throwIfAborted();
    return this.summary;
  }

  /** Key files are clear-text JSON named by the BLAKE3 of their bytes; a flipped bit shows in the name check. */
  private async checkKeys(): Promise<void> {
    for await (const info of this.repo.listKeyFiles()) {
      this.opts.signal?.throwIfAborted();
      this.summary.keys++;
      try {
        const bytes = await this.repo.loadKeyFile(info, { metadata: true, ...this.signalOpt() });
        if (toHex(this.repo.p.blake3.hash(bytes)) !== info.id) {
          this.report('error', info.name, 'contents do not match the name (damaged key file)');
          continue;
        }
        // A key file that is not one, or asks for more Argon2id than engine runs, harms nothing:
        // every command skips it with a warning (src/repository/key-store.ts). Planted by
        // someone who can write to the storage, most likely.
        let problem: string | null;
        try {
          problem = kdfCostProblem(decodeKeyFile(bytes, info.name));
        } catch (err) {
          if (!isDamageError(err)) throw err;
          problem = err.message.startsWith(`${info.name}: `) ? err.message.slice(info.name.length + 2) : err.message;
        }
        if (problem) this.report('warning', info.name, `${problem}: skipped when opening the repository (\`engine key remove ${info.id.slice(0, 8)}\` removes it)`);
      } catch (err) {
        this.fail(info.name, err);
      }
    }
  }

  /** The signal, for backend calls that take one (an interrupted read rejects with E_ABORTED, which `fail` rethrows). */
  private signalOpt(): { signal?: AbortSignal } {
    return this.opts.signal ? { signal: this.opts.signal } : {};
  }

  /** Reports an error found while checking `object`; errors that are not about the data propagate. */
  private fail(object: string, err: unknown, extra: FindingExtra = {}, missing: FindingExtra = extra): void {
    if (isNotFound(err)) {
      this.report('error', object, 'is listed but cannot be read (missing)', missing);
      return;
    }
    if (!isDamageError(err)) throw err;
    // Messages from the decoders start with the object's name: keep only what follows it.
    const text = err.message.startsWith(`${object}: `) ? err.message.slice(object.length + 2) : err.message;
    this.report('error', object, text, extra);
  }

  /** `fail` for a pack: a damaged one is broken, one gone since the listing calls for `repair index`. */
  private failPack(packId: PackId, err: unknown): void {
    this.fail(this.repo.packs.nameOf(packId), err, { brokenPack: packId }, { hint: 'repair-index' });
  }

  /**
   * Every index object, read once into a private run off the heap (src/disk-index/scan-index.ts):
   * an unreadable one is reported and left out, one another supersedes is reported and counts for
   * nothing (its packs may be gone, deleted by the prune that superseded it).
   */
  private async loadIndexes(): Promise<ScanIndex> {
    const objects = await this.repo.listIndexObjects();
    this.summary.indexObjects = objects.length;
    const scratch = this.opts.scratch ?? DEFAULT_SCAN_SCRATCH;
    const scan = await ScanIndex.build(
      this.repo,
      {
        tmpDir: scratch.tmpDir,
        sortMemBytes: scratch.sortMemBytes,
        pageCacheBytes: scratch.pageCacheBytes,
        readBytes: scratch.readBytes,
        readsInFlight: this.repo.metadataReads,
        onUnreadable: (id, err) => this.fail(this.repo.indexObjectName(id), err, { hint: 'repair-index' }),
        ...(this.opts.signal ? { signal: this.opts.signal } : {}),
      },
      objects,
    );
    for (const id of scan.supersededIds) {
      this.report('warning', this.repo.indexObjectName(id), 'is superseded by another index object and ignored (left by an interrupted prune or repair, or copied back from an older copy of the repository): `engine prune` deletes it', { hint: 'prune' });
    }
    return scan;
  }

  /** Stored packs and their sizes; objects under data/ that are not packs are reported. */
  private async listPacks(table: PackTable, packNumbers: number): Promise<StoredPacks> {
    const stored = new StoredPacks(table, packNumbers);
    for await (const o of this.repo.packs.listObjects()) {
      this.opts.signal?.throwIfAborted();
      const id = o.packId;
      if (!id) {
        this.report('warning', o.name, 'is not a pack name: ignored (a file left by another tool?)');
        continue;
      }
      stored.add(id, o.size);
    }
    this.summary.packs = stored.count;
    return stored;
  }

  /**
   * Each indexed pack against the storage: it must exist, and its header must list exactly what
   * the index places in it (read from the whole pack when its data is read too). The index's
   * entries come back one pack at a time through an external sort (src/disk-index/pack-groups.ts).
   */
  private async checkPacks(scan: ScanIndex, table: PackTable, stored: StoredPacks): Promise<void> {
    const scratch = this.opts.scratch ?? DEFAULT_SCAN_SCRATCH;
    const grouper = new PackGrouper({ tmpDir: scan.folder, memBytes: scratch.sortMemBytes, tag: 'check-packs' });
    try {
      // Each (blob, pack) once; two index objects placing a blob at different places in the same pack is an error.
      table.forEachEntry((r, no) => grouper.add(no, r.buf, r.at, r), {
        signal: this.opts.signal,
        onRepeat: (r, met, no) => {
          if (met.offset !== r.offset || met.length !== r.length || met.rawLength !== r.rawLength || met.type !== r.type) {
            this.report('error', this.repo.packs.nameOf(scan.packIdOf(no)), `index objects place blob ${r.buf.toString('hex', r.at, r.at + 32)} in it at different places`, { hint: 'repair-index' });
          }
        },
      });
      for (const packId of stored.unindexed.keys()) {
        this.summary.unreferencedPacks++;
        this.report('warning', this.repo.packs.nameOf(packId), 'is in no index: unreferenced (left by an interrupted backup, which the next backup adopts, or by an interrupted prune, which the next prune deletes)', { hint: 'prune' });
      }
      const reads = new TaskSlots(this.repo.metadataReads);
      const packReads = new TaskSlots(Math.max(1, this.opts.packsInFlight ?? 2));
      // A header read holds the pack's entries twice (the index's and the header's, ~400 bytes a
      // blob in all): packs of many small blobs are checked fewer at once.
      const headerHeap = new ByteBudget('check headers', Math.max(4 * 1024 * 1024, scratch.sortMemBytes));
      const heapOf = (blobs: number): number => Math.min(headerHeap.capacity, 400 * blobs);
      let n = 0;
      for (const group of grouper.groups()) {
        if ((++n & 0xff) === 0) this.opts.signal?.throwIfAborted();
        const packId = scan.packIdOf(group.packNo);
        const size = stored.sizeOf(group.packNo);
        if (size < 0) {
          this.report('error', this.repo.packs.nameOf(packId), `is missing: ${group.blobs.length} blob(s) the index places in it are lost ('engine repair index' then 'engine repair snapshots' make the repository usable again)`, { hint: 'repair-index' });
          continue;
        }
        // Headers are checked from the whole pack when its data is read anyway.
        if (this.selected(packId, group.packNo, stored)) await packReads.start(() => this.readPack(packId, size, group.blobs), this.opts.signal);
        else {
          const lease = heapOf(group.blobs.length);
          await headerHeap.acquire(lease, this.opts.signal);
          await reads.start(() => this.checkHeader(packId, size, group.blobs).finally(() => headerHeap.release(lease)), this.opts.signal);
        }
      }
      await reads.drain();
      // Packs in no index are read too when chosen: their blobs are verified against their ids.
      if (this.opts.readData) {
        this.progress('reading pack data');
        for (const [packId, size] of stored.unindexed) {
          if (this.selected(packId, -1, stored)) await packReads.start(() => this.readPack(packId, size, []), this.opts.signal);
        }
      }
      await packReads.drain();
    } finally {
      grouper.discard();
    }
  }

  private async checkHeader(packId: PackId, size: number, indexed: readonly PackBlob[]): Promise<void> {
    this.opts.signal?.throwIfAborted();
    try {
      const header = await this.repo.packs.loadHeader(packId, size);
      this.compareHeader(packId, header, size, indexed);
    } catch (err) {
      this.failPack(packId, err);
    }
  }

  /** The header must list exactly the blobs the index objects list for this pack, at the same places. */
  private compareHeader(packId: PackId, header: PackBlob[], size: number, indexedBlobs: readonly PackBlob[]): void {
    const name = this.repo.packs.nameOf(packId);
    const inHeader = new Map(header.map((b) => [b.id, b]));
    const indexed = new Set<string>();
    for (const b of indexedBlobs) {
      indexed.add(b.id);
      const h = inHeader.get(b.id);
      if (!h) this.report('error', name, `its header does not list blob ${b.id}, which the index places in it`, { hint: 'repair-index' });
      else if (h.offset !== b.offset || h.length !== b.length || h.rawLength !== b.rawLength || h.type !== b.type) {
        this.report('error', name, `its header and the index disagree about blob ${b.id} (offset ${h.offset}/${b.offset}, length ${h.length}/${b.length})`, { hint: 'repair-index' });
      }
    }
    // A pack in no index: every blob in it is unreferenced, which the pack's own warning says.
    if (indexedBlobs.length > 0) {
      for (const id of inHeader.keys()) {
        if (!indexed.has(id)) this.report('warning', name, `holds blob ${id}, which no index lists (unreferenced)`);
      }
    }
    const last = header[header.length - 1];
    const end = last ? last.offset + last.length : 0;
    const headerEnd = size - 4;
    if (end > headerEnd) this.report('error', name, `its blobs run past the header (${end} > ${headerEnd})`, { brokenPack: packId });
  }

  private async checkSnapshots(index: ScanIndex): Promise<void> {
    const walk = new SnapshotWalk(this.repo, index, this.stored!, { report: (severity, object, message) => this.report(severity, object, message), fail: (object, err) => this.fail(object, err) }, { sortMemBytes: (this.opts.scratch ?? DEFAULT_SCAN_SCRATCH).sortMemBytes, ...(this.opts.signal ? { signal: this.opts.signal } : {}) });
    const seen = await walk.run();
    this.summary.snapshots = seen.snapshots;
    this.summary.trees = seen.trees;
    this.summary.dataBlobs = seen.dataBlobs;
  }

  /** Whether --read-data reads this pack (`no`: its canonical number, -1 when the index does not name it). */
  private selected(packId: PackId, no: number, stored: StoredPacks): boolean {
    const sel = this.opts.readData;
    if (!sel) return false;
    if (sel.kind === 'all') return true;
    if (sel.kind === 'group') return Number.parseInt(packId.slice(0, 8), 16) % sel.of === sel.n - 1;
    this.picks ??= stored.pick(sel.percent);
    return no >= 0 ? this.picks.indexed.has(no) : this.picks.unindexed.has(packId);
  }

  private picks: { indexed: BitSet; unindexed: Set<PackId> } | null = null;
  /** Stored packs, once listed. */
  private stored: StoredPacks | null = null;

  private async readPack(packId: PackId, size: number, indexed: readonly PackBlob[]): Promise<void> {
    const name = this.repo.packs.nameOf(packId);
    let bytes: Uint8Array;
    try {
      bytes = await this.repo.packs.load(packId, this.signalOpt());
    } catch (err) {
      this.failPack(packId, err);
      return;
    }
    await this.opts.pause?.('check-read');
    this.opts.signal?.throwIfAborted();
    this.summary.packsRead++;
    this.summary.bytesRead += bytes.length;
    if (bytes.length !== size) this.report('error', name, `is ${bytes.length} bytes, the listing said ${size}`, { brokenPack: packId });
    const length = bytes.length;
    let header: PackBlob[];
    try {
      header = this.repo.packs.headerOfWhole(packId, bytes);
    } catch (err) {
      if (toHex(this.repo.p.blake3.hash(bytes)) !== packId) this.report('error', name, 'contents do not match the name (the pack was modified or damaged)', { brokenPack: packId });
      this.failPack(packId, err);
      return;
    }
    this.compareHeader(packId, header, length, indexed);
    const inBounds = header.filter((b) => b.offset + b.length <= length - 4);
    // The worker hashes the pack and verifies each blob: authentication, decompression, length,
    // and id (the pack is transferred there: `bytes` is not usable afterwards).
    const out = await this.opts.pool!.verifyPack({ packBytes: bytes, blobs: inBounds.map((b) => ({ offset: b.offset, length: b.length, rawLength: b.rawLength, id: b.id })) });
    // Verifying a whole pack takes a while: an interruption meanwhile ends the check here, not
    // with a verdict on packs it did not finish.
    this.opts.signal?.throwIfAborted();
    const view = new DataView(out);
    if (toHex(new Uint8Array(out, 4 + 4 * inBounds.length, 32)) !== packId) this.report('error', name, 'contents do not match the name (the pack was modified or damaged)', { brokenPack: packId });
    inBounds.forEach((b, i) => {
      this.summary.blobsRead++;
      const status = view.getUint32(4 + 4 * i, true);
      if (status === UnsealStatus.OK) return;
      const why = status === UnsealStatus.AUTH_FAILED ? 'fails authentication' : status === UnsealStatus.ID_MISMATCH ? 'does not match its id' : 'cannot be decoded';
      this.report('error', name, `${blobTypeName(b.type)} blob ${b.id} ${why}`, { brokenPack: packId });
    });
  }
}
