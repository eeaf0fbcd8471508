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
import { type BlobId, blobTypeName, type IndexId, type PackId } from '../format/ids.js';
import { type IndexFile } from '../format/index-file.js';
import { decodeKeyFile, kdfCostProblem } from '../format/key-file.js';
import { mapLimit } from '../util/concurrency.js';
import type { WorkerPool } from '../worker-pool/pool.js';
import { MasterIndex } from '../repository/master-index.js';
import type { PackBlob } from '../repository/pack-store.js';
import type { Repository } from '../repository/repository.js';
import { toHex } from '../util/hex.js';
import { UnsealStatus } from '../../workers/protocol.js';
import { SnapshotWalk } from './snapshot-walk.js';

export type Severity = 'error' | 'warning';

export interface Finding {
  readonly severity: Severity;
  /** The object at fault: a storage name (`data/ab/ab…`, `index/…`, `snapshots/…`, `keys/…`) or `tree <id>`. */
  readonly object: string;
  readonly message: string;
}

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
  /** Every blob of every readable index object, per pack (a blob may be listed in several packs). */
  private readonly packsIndexed = new Map<PackId, { blobs: Map<BlobId, PackBlob>; indexIds: IndexId[] }>();

  constructor(repo: Repository, opts: CheckOptions) {
    this.repo = repo;
    this.opts = opts;
    if (opts.readData && !opts.pool) throw new Error('Checker: reading data needs a worker pool');
  }

  private report(severity: Severity, object: string, message: string): void {
    if (severity === 'error') this.summary.errors++;
    else this.summary.warnings++;
    this.opts.onFinding({ severity, object, message });
  }

  private progress(what: string): void {
    this.opts.onProgress?.(what);
  }

  async run(): Promise<CheckSummary> {
    this.progress('checking key files');
    await this.checkKeys();
    this.progress('loading index objects');
    const index = await this.loadIndexes();
    await this.opts.pause?.('check-index');
    this.opts.signal?.throwIfAborted();
    this.progress('checking packs');
    const stored = await this.listPacks();
    this.stored = stored;
    await this.checkPacks(stored);
    this.progress('checking snapshots and trees');
    await this.checkSnapshots(index);
    if (this.opts.readData) {
      this.progress('reading pack data');
      await this.readData(stored);
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
  private fail(object: string, err: unknown): void {
    if (isNotFound(err)) {
      this.report('error', object, 'is listed but cannot be read (missing)');
      return;
    }
    if (!isDamageError(err)) throw err;
    // Messages from the decoders start with the object's name: keep only what follows it.
    const text = err.message.startsWith(`${object}: `) ? err.message.slice(object.length + 2) : err.message;
    this.report('error', object, text);
  }

  private async loadIndexes(): Promise<MasterIndex> {
    const index = new MasterIndex();
    const ids = await this.repo.listIndexIds();
    this.summary.indexObjects = ids.length;
    const reads = this.repo.metadataReads;
    // Read a batch at a time in parallel, merged in listing order as Repository.loadIndex merges
    // (the first entry for a blob wins): the copy checked is the one restore and prune would use.
    // Every object is read before any is merged: an object that another one supersedes counts for
    // nothing (its packs may be gone, deleted by the prune that superseded it), and the object
    // superseding it may come later in the listing.
    const loaded: { id: IndexId; file: IndexFile }[] = [];
    for (let i = 0; i < ids.length; i += reads) {
      this.opts.signal?.throwIfAborted();
      const files = await mapLimit(ids.slice(i, i + reads), reads, async (id): Promise<{ id: IndexId; file: IndexFile } | null> => {
        try {
          return { id, file: await this.repo.loadIndexObject(id) };
        } catch (err) {
          this.fail(this.repo.indexObjectName(id), err);
          return null;
        }
      });
      for (const f of files) if (f) loaded.push(f);
    }
    const superseded = new Set<IndexId>();
    for (const { id, file } of loaded) for (const s of file.supersedes) if (s !== id) superseded.add(s);
    for (const { id, file } of loaded) {
      if (superseded.has(id)) {
        this.report('warning', this.repo.indexObjectName(id), 'is superseded by another index object and ignored (left by an interrupted prune or repair, or copied back from an older copy of the repository): `engine prune` deletes it');
        continue;
      }
      this.merge(index, id, file);
    }
    return index;
  }

  private merge(index: MasterIndex, id: IndexId, file: IndexFile): void {
    const name = this.repo.indexObjectName(id);
    index.add(id, file);
    for (const p of file.packs) {
      let entry = this.packsIndexed.get(p.packId);
      if (!entry) {
        entry = { blobs: new Map(), indexIds: [] };
        this.packsIndexed.set(p.packId, entry);
      }
      entry.indexIds.push(id);
      for (const b of p.blobs) {
        const seen = entry.blobs.get(b.id);
        if (seen && (seen.offset !== b.offset || seen.length !== b.length || seen.rawLength !== b.rawLength || seen.type !== b.type)) {
          this.report('error', name, `lists blob ${b.id} in pack ${p.packId} at a different place than another index object does`);
        }
        entry.blobs.set(b.id, b);
      }
    }
  }

  /** Stored packs and their sizes; objects under data/ that are not packs are reported. */
  private async listPacks(): Promise<Map<PackId, number>> {
    const stored = new Map<PackId, number>();
    for await (const o of this.repo.packs.listObjects()) {
      this.opts.signal?.throwIfAborted();
      const id = o.packId;
      if (!id) {
        this.report('warning', o.name, 'is not a pack name: ignored (a file left by another tool?)');
        continue;
      }
      stored.set(id, o.size);
    }
    this.summary.packs = stored.size;
    return stored;
  }

  private async checkPacks(stored: Map<PackId, number>): Promise<void> {
    for (const [packId, entry] of this.packsIndexed) {
      if (!stored.has(packId)) {
        this.report('error', this.repo.packs.nameOf(packId), `is missing: ${entry.blobs.size} blob(s) listed by ${entry.indexIds.map((i) => `index/${i.slice(0, 8)}`).join(', ')} are lost ('engine repair index' then 'engine repair snapshots' make the repository usable again)`);
      }
    }
    for (const packId of stored.keys()) {
      if (!this.packsIndexed.has(packId)) {
        this.summary.unreferencedPacks++;
        this.report('warning', this.repo.packs.nameOf(packId), 'is in no index: unreferenced (left by an interrupted backup, which the next backup adopts, or by an interrupted prune, which the next prune deletes)');
      }
    }
    // Headers are checked from the whole pack when its data is read anyway.
    const headerOnly = [...this.packsIndexed.keys()].filter((id) => stored.has(id) && !this.selected(id, stored));
    const reads = this.repo.metadataReads;
    await mapLimit(headerOnly, reads, async (packId) => {
      this.opts.signal?.throwIfAborted();
      const name = this.repo.packs.nameOf(packId);
      try {
        const header = await this.repo.packs.loadHeader(packId, stored.get(packId)!);
        this.compareHeader(packId, header, stored.get(packId)!);
      } catch (err) {
        this.fail(name, err);
      }
    });
  }

  /** The header must list exactly the blobs the index objects list for this pack, at the same places. */
  private compareHeader(packId: PackId, header: PackBlob[], size: number): void {
    const name = this.repo.packs.nameOf(packId);
    const indexed = this.packsIndexed.get(packId);
    if (!indexed) return;
    const inHeader = new Map(header.map((b) => [b.id, b]));
    for (const [id, b] of indexed.blobs) {
      const h = inHeader.get(id);
      if (!h) this.report('error', name, `its header does not list blob ${id}, which the index places in it`);
      else if (h.offset !== b.offset || h.length !== b.length || h.rawLength !== b.rawLength || h.type !== b.type) {
        this.report('error', name, `its header and the index disagree about blob ${id} (offset ${h.offset}/${b.offset}, length ${h.length}/${b.length})`);
      }
    }
    for (const id of inHeader.keys()) {
      if (!indexed.blobs.has(id)) this.report('warning', name, `holds blob ${id}, which no index lists (unreferenced)`);
    }
    const last = header[header.length - 1];
    const end = last ? last.offset + last.length : 0;
    const headerEnd = size - 4;
    if (end > headerEnd) this.report('error', name, `its blobs run past the header (${end} > ${headerEnd})`);
  }

  private async checkSnapshots(index: MasterIndex): Promise<void> {
    const walk = new SnapshotWalk(this.repo, index, this.stored, { report: (severity, object, message) => this.report(severity, object, message), fail: (object, err) => this.fail(object, err) }, this.opts.signal);
    const seen = await walk.run();
    this.summary.snapshots = seen.snapshots;
    this.summary.trees = seen.trees;
    this.summary.dataBlobs = seen.dataBlobs;
  }

  private selected(packId: PackId, stored: Map<PackId, number>): boolean {
    const sel = this.opts.readData;
    if (!sel) return false;
    if (sel.kind === 'all') return true;
    if (sel.kind === 'group') return Number.parseInt(packId.slice(0, 8), 16) % sel.of === sel.n - 1;
    return this.percentPicks(stored).has(packId);
  }

  private picks: Set<PackId> | null = null;
  /** Stored packs and their sizes, once listed. */
  private stored = new Map<PackId, number>();

  /** A random x% of the stored packs (at least one when x > 0), chosen once per check. */
  private percentPicks(stored: Map<PackId, number>): Set<PackId> {
    if (this.picks) return this.picks;
    const sel = this.opts.readData;
    const all = [...stored.keys()];
    const want = sel?.kind === 'percent' ? Math.min(all.length, Math.max(sel.percent > 0 ? 1 : 0, Math.round((all.length * sel.percent) / 100))) : 0;
    for (let i = all.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [all[i], all[j]] = [all[j]!, all[i]!];
    }
    this.picks = new Set(all.slice(0, want));
    return this.picks;
  }

  private async readData(stored: Map<PackId, number>): Promise<void> {
    const chosen = [...stored.keys()].filter((id) => this.selected(id, stored));
    await mapLimit(chosen, Math.max(1, this.opts.packsInFlight ?? 2), async (packId) => {
      this.opts.signal?.throwIfAborted();
      await this.readPack(packId, stored.get(packId)!);
    });
  }

  private async readPack(packId: PackId, size: number): Promise<void> {
    const name = this.repo.packs.nameOf(packId);
    let bytes: Uint8Array;
    try {
      bytes = await this.repo.packs.load(packId, this.signalOpt());
    } catch (err) {
      this.fail(name, err);
      return;
    }
    await this.opts.pause?.('check-read');
    this.opts.signal?.throwIfAborted();
    this.summary.packsRead++;
    this.summary.bytesRead += bytes.length;
    if (bytes.length !== size) this.report('error', name, `is ${bytes.length} bytes, the listing said ${size}`);
    const length = bytes.length;
    let header: PackBlob[];
    try {
      header = this.repo.packs.headerOfWhole(packId, bytes);
    } catch (err) {
      if (toHex(this.repo.p.blake3.hash(bytes)) !== packId) this.report('error', name, 'contents do not match the name (the pack was modified or damaged)');
      this.fail(name, err);
      return;
    }
    this.compareHeader(packId, header, length);
    const inBounds = header.filter((b) => b.offset + b.length <= length - 4);
    // The worker hashes the pack and verifies each blob: authentication, decompression, length,
    // and id (the pack is transferred there: `bytes` is not usable afterwards).
    const out = await this.opts.pool!.verifyPack({ packBytes: bytes, blobs: inBounds.map((b) => ({ offset: b.offset, length: b.length, rawLength: b.rawLength, id: b.id })) });
    // Verifying a whole pack takes a while: an interruption meanwhile ends the check here, not
    // with a verdict on packs it did not finish.
    this.opts.signal?.throwIfAborted();
    const view = new DataView(out);
    if (toHex(new Uint8Array(out, 4 + 4 * inBounds.length, 32)) !== packId) this.report('error', name, 'contents do not match the name (the pack was modified or damaged)');
    inBounds.forEach((b, i) => {
      this.summary.blobsRead++;
      const status = view.getUint32(4 + 4 * i, true);
      if (status === UnsealStatus.OK) return;
      const why = status === UnsealStatus.AUTH_FAILED ? 'fails authentication' : status === UnsealStatus.ID_MISMATCH ? 'does not match its id' : 'cannot be decoded';
      this.report('error', name, `${blobTypeName(b.type)} blob ${b.id} ${why}`);
    });
  }
}
