// The repository index off the heap (DESIGN.md "Memory whatever the repository size"): a local
// cache of the merged index in sorted, page-checked run files (index-run.ts), of which only the
// fences and a membership filter (about 2.1 bytes per blob) are held in memory, plus a bounded
// page cache. Opening it:
//
//   warm:        every index object listed is covered by the runs: nothing is read from storage;
//   incremental: index objects written since (by this host or another) go into a new small run;
//   cold:        no cache, a damaged one, or index objects gone (prune, repair): every index
//                object is read once, streaming, into one run built by external sort.
//
// `supersedes` is honoured (FORMAT.md "Index objects"): the entries of an index object that
// another one supersedes are never in a run. Runs record what their objects supersede; a new
// object that supersedes entries an older run holds (index objects of before a prune copied back
// are the other way round, and are simply skipped) makes the open cold.
//
// Small runs are merged into larger ones so that there are never more than a few (as an LSM tree
// does). Several engine processes may share a cache folder: the one that updates it holds an
// update lock; files are replaced by rename and removed only while no one can be opening them,
// and a process keeps reading the runs it opened even after another replaced them.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BlobId, IndexId, PackId } from '../format/ids.js';
import type { IndexFile } from '../format/index-file.js';
import { collectNow } from '../util/gc.js';
import type { BlobLocation, PositionedIndex } from '../repository/blob-index.js';
import type { Repository } from '../repository/repository.js';
import { mkdirpSync } from '../fs/mkdirp.js';
import { EngineError, ErrorCode } from '../errors/engine-error.js';
import { basename, clearFolder, closeAll, consistent, covers, manifestPath, MANIFEST_VERSION, runName, tryOpenRuns, writeManifest } from './cache-folder.js';
import { AddedEntries } from './added-entries.js';
import { buildRun, compact } from './cache-build.js';
import { CacheDamagedError } from './errors.js';
import { IndexRun } from './index-run.js';
import { runRecords, type ScannedRecord } from './scan-index.js';
import { PageCache } from './page-cache.js';
import { type MacFn, PAGE_BYTES } from './page-file.js';
import { takeUpdateLock } from './update-lock.js';

export interface DiskIndexOptions {
  /** The cache folder of this repository's index (created if missing). */
  dir: string;
  pageCacheBytes: number;
  /** Memory for sorting entries while a run is built. */
  sortMemBytes: number;
  /** Index objects downloaded at once while building (each held whole, sealed and decrypted). */
  readsInFlight: number;
  /** Bytes of index objects held at once while building (sealed and decrypted). */
  readBytes: number;
  signal?: AbortSignal;
  /** Told of what opening does that takes time (for --verbose). */
  onProgress?: (message: string) => void;
}

export type OpenKind = 'warm' | 'incremental' | 'cold';

export interface DiskIndexStats {
  kind: OpenKind;
  /** Index objects read from the repository while opening. */
  indexObjectsRead: number;
  openSeconds: number;
  runs: number;
}

export class DiskIndex implements PositionedIndex {
  private readonly runs: IndexRun[];
  private readonly cache: PageCache;
  /** Entries this process added (index objects it wrote or adopted): few, on the heap. */
  private readonly added = new AddedEntries();
  readonly stats: DiskIndexStats;

  private readonly dir: string;

  private constructor(dir: string, runs: IndexRun[], cache: PageCache, stats: DiskIndexStats) {
    this.dir = dir;
    this.runs = runs;
    this.cache = cache;
    this.stats = stats;
  }

  static async open(repo: Repository, opts: DiskIndexOptions): Promise<DiskIndex> {
    const started = performance.now();
    try {
      mkdirpSync(join(opts.dir, 'tmp'));
    } catch (err) {
      // Not a cache damage: the folder given cannot be made (--cache-dir under /proc, a file...).
      throw new EngineError(ErrorCode.CACHE, `cannot create the local index cache folder ${opts.dir}: ${err instanceof Error ? err.message : String(err)}`, {
        hint: 'give --cache-dir (or XDG_CACHE_HOME) a folder engine can write to, or run with --no-cache',
        cause: err,
      });
    }
    const mac: MacFn = (data) => repo.indexCacheMac(data);
    const repoId = Buffer.from(repo.config.id, 'hex');
    const cache = new PageCache(opts.pageCacheBytes);
    const objects = await repo.listIndexObjects();
    const listed = objects.map((o) => o.id);
    const sizes = new Map(objects.map((o) => [o.id, o.size]));
    let read = 0;
    let kind: OpenKind = 'warm';
    // Fast path, without the lock: the manifest's runs cover exactly what is listed.
    let runs = tryOpenRuns(opts.dir, mac, cache, repoId);
    if (!runs || !covers(runs, listed, 'exactly') || !consistent(runs)) {
      closeAll(runs);
      const release = await takeUpdateLock(opts.dir, opts.signal, opts.onProgress);
      try {
        runs = tryOpenRuns(opts.dir, mac, cache, repoId);
        if (runs && (!covers(runs, listed, 'subset') || !consistent(runs))) {
          opts.onProgress?.('index objects were removed from the repository (prune or repair): rebuilding the local index cache');
          closeAll(runs);
          runs = null;
        }
        if (!runs) {
          kind = 'cold';
          clearFolder(opts.dir, []);
          runs = [];
        }
        const covered = new Set(runs.flatMap((r) => r.coveredIds));
        const fresh = listed.filter((id) => !covered.has(id));
        if (fresh.length > 0) {
          if (kind !== 'cold') kind = 'incremental';
          if (kind === 'cold') opts.onProgress?.(`building the local index cache from ${fresh.length} index object(s)`);
          const place = { tmpDir: join(opts.dir, 'tmp'), mac, sortMemBytes: opts.sortMemBytes };
          let path = join(opts.dir, runName());
          const known = new Set<string>(runs.flatMap((r) => r.supersedes));
          const { supersedes } = await buildRun(repo, fresh, sizes, { path, ...place }, repoId, opts, known);
          read = fresh.length;
          const held = new Set<string>(runs.flatMap((r) => r.indexIds));
          if (supersedes.some((id) => held.has(id))) {
            // A new object supersedes entries an older run holds (a prune or repair ran since):
            // everything is read again into one run that leaves them out.
            opts.onProgress?.('index objects were superseded (prune or repair): rebuilding the local index cache');
            closeAll(runs);
            runs = [];
            kind = 'cold';
            clearFolder(opts.dir, []);
            path = join(opts.dir, runName());
            await buildRun(repo, listed, sizes, { path, ...place }, repoId, opts, new Set());
            read += listed.length;
          }
          runs.push(IndexRun.open(path, mac, cache, repoId));
          runs = compact(runs, opts.dir, mac, cache, repoId);
        }
        writeManifest(opts.dir, { version: MANIFEST_VERSION, repoId: repo.config.id, runs: runs.map((r) => basename(r.path)) }, mac);
        clearFolder(opts.dir, runs.map((r) => basename(r.path)));
        // The sort buffers, the builder's copy of the filter and the last objects read are
        // unreachable now: collected before the pipeline starts, not late on top of it.
        if (read > 0) collectNow();
      } catch (err) {
        closeAll(runs);
        throw err;
      } finally {
        release();
      }
    }
    return new DiskIndex(opts.dir, runs, cache, { kind, indexObjectsRead: read, openSeconds: (performance.now() - started) / 1000, runs: runs.length });
  }

  has(id: BlobId): boolean {
    if (this.added.has(id)) return true;
    return this.guard(() => {
      for (const r of this.runs) if (r.has(id)) return true;
      return false;
    });
  }

  lookup(id: BlobId): BlobLocation | undefined {
    const mine = this.added.get(id);
    if (mine) return mine;
    return this.guard(() => {
      for (const r of this.runs) {
        const loc = r.lookup(id);
        if (loc) return loc;
      }
      return undefined;
    });
  }

  lookupAll(id: BlobId): BlobLocation[] {
    const out: BlobLocation[] = [];
    const mine = this.added.get(id);
    if (mine) out.push(mine);
    return this.guard(() => {
      for (const r of this.runs) {
        for (const loc of r.lookupAll(id)) if (!out.some((o) => o.packId === loc.packId && o.offset === loc.offset)) out.push(loc);
      }
      return out;
    });
  }

  /**
   * The position of the blob's kept entry: its record number in the first run that holds it,
   * after the entries of the runs before (0..positions-1); -1 when no run holds it (an entry this
   * process added has none).
   */
  positionOf(id: BlobId): number {
    return this.guard(() => {
      let base = 0;
      for (const r of this.runs) {
        const no = r.firstRecordNo(id);
        if (no >= 0) return base + no;
        base += r.blobCount;
      }
      return -1;
    });
  }

  /**
   * Every entry of each run in id order, with its position, runs in the order lookups ask them
   * (src/disk-index/ref-join.ts joins walked ids with them). This process's own entries are not in.
   */
  recordStreams(): Generator<ScannedRecord>[] {
    let base = 0;
    return this.runs.map((r) => {
      const stream = runRecords(r, base);
      base += r.blobCount;
      return stream;
    });
  }

  /** Entries in the runs: positions are 0..positions-1. */
  get positions(): number {
    return this.runs.reduce((n, r) => n + r.blobCount, 0);
  }

  hasPack(id: PackId): boolean {
    if (this.added.hasPack(id)) return true;
    return this.guard(() => {
      for (const r of this.runs) if (r.hasPack(id)) return true;
      return false;
    });
  }

  /** A page that fails its check sets the cache aside (its manifest goes), so the next open rebuilds it. */
  private guard<T>(f: () => T): T {
    try {
      return f();
    } catch (err) {
      if (err instanceof CacheDamagedError) rmSync(manifestPath(this.dir), { force: true });
      throw err;
    }
  }

  add(_indexId: IndexId | null, file: IndexFile): void {
    // The index object itself is taken into the cache by the next open that lists it.
    this.added.add(file);
  }

  /** Entries in the runs (an id in two runs counts twice) plus those added by this process. */
  get blobCount(): number {
    return this.runs.reduce((n, r) => n + r.blobCount, 0) + this.added.size;
  }

  /** Bytes the runs keep in memory: fences, filters and index ids (about 2.1 per blob). */
  get residentBytes(): number {
    return this.runs.reduce((n, r) => n + r.memoryBytes, 0);
  }

  /** The page cache's bound. */
  get pageCacheBytes(): number {
    return this.cache.capacity * PAGE_BYTES;
  }

  get pageReads(): number {
    return this.runs.reduce((n, r) => n + r.pageReads, 0);
  }

  close(): void {
    closeAll(this.runs);
  }
}
