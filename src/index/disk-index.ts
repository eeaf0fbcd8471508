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
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, fsyncSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { BlobId, IndexId, PackId } from '../format/ids.js';
import type { IndexFile } from '../format/index-file.js';
import { mapLimit } from '../pipeline/budget.js';
import { collectNow, noteDropped } from '../util/gc.js';
import type { BlobIndex, BlobLocation } from '../repository/blob-index.js';
import { type Repository, withIndexObjectRepairHint } from '../repository/repository.js';
import { mkdirpSync } from '../fs/mkdirp.js';
import { EngineError, ErrorCode } from '../errors/engine-error.js';
import { CacheDamagedError } from './errors.js';
import { IndexRun } from './index-run.js';
import { PageCache } from './page-cache.js';
import { type MacFn, PAGE_BYTES } from './page-file.js';
import { mergeRuns, RunBuilder } from './run-builder.js';

const MANIFEST = 'manifest.json';
const LOCK = 'update.lock';
const MANIFEST_VERSION = 1;
/** A run is merged into the one before it once it holds a quarter of that one's entries. */
const MERGE_RATIO = 4;
const MAX_RUNS = 6;
/** An update lock older than this is taken for abandoned even if its pid looks alive (pid reuse). */
const LOCK_STALE_MS = 30 * 60 * 1000;

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

interface Manifest {
  version: number;
  repoId: string;
  runs: string[];
}

export class DiskIndex implements BlobIndex {
  private readonly runs: IndexRun[];
  private readonly cache: PageCache;
  /** Entries this process added (index objects it wrote or adopted): few, on the heap. */
  private readonly added = new Map<string, BlobLocation>();
  private readonly addedPacks = new Set<string>();
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
    const mac: MacFn = (data) => repo.p.blake3.keyedHash(repo.keys.indexCache, data);
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

  hasPack(id: PackId): boolean {
    if (this.addedPacks.has(id)) return true;
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
      if (err instanceof CacheDamagedError) rmSync(join(this.dir, MANIFEST), { force: true });
      throw err;
    }
  }

  add(_indexId: IndexId | null, file: IndexFile): void {
    // The index object itself is taken into the cache by the next open that lists it.
    for (const p of file.packs) {
      this.addedPacks.add(p.packId);
      for (const b of p.blobs) if (!this.added.has(b.id)) this.added.set(b.id, { packId: p.packId, type: b.type, offset: b.offset, length: b.length, rawLength: b.rawLength });
    }
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

function runName(): string {
  return `run-${Date.now().toString(36)}-${randomBytes(6).toString('hex')}.eic`;
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function closeAll(runs: IndexRun[] | null): void {
  for (const r of runs ?? []) r.close();
}

/** Whether the runs cover the listed index objects exactly, or at least nothing that is gone. */
function covers(runs: IndexRun[], listed: readonly IndexId[], how: 'exactly' | 'subset'): boolean {
  const present = new Set(listed);
  let n = 0;
  for (const r of runs) {
    for (const id of r.coveredIds) {
      if (!present.has(id)) return false;
      n++;
    }
  }
  return how === 'subset' || n === present.size;
}

/** Whether no run holds the entries of an index object that some run's objects supersede. */
function consistent(runs: IndexRun[]): boolean {
  const superseded = new Set<string>(runs.flatMap((r) => r.supersedes));
  if (superseded.size === 0) return true;
  return runs.every((r) => r.indexIds.every((id) => !superseded.has(id)));
}

/** The runs the manifest names, opened and checked; null when there is no usable cache. */
function tryOpenRuns(dir: string, mac: MacFn, cache: PageCache, repoId: Uint8Array): IndexRun[] | null {
  let manifest: Manifest;
  try {
    manifest = readManifest(dir, mac);
  } catch {
    return null;
  }
  if (manifest.version !== MANIFEST_VERSION || manifest.repoId !== Buffer.from(repoId).toString('hex')) return null;
  const runs: IndexRun[] = [];
  try {
    for (const name of manifest.runs) runs.push(IndexRun.open(join(dir, name), mac, cache, repoId));
    return runs;
  } catch (err) {
    closeAll(runs);
    // A damaged or missing run: the cache is rebuilt. Anything else (a full disk) is an error.
    if (err instanceof CacheDamagedError || (err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function readManifest(dir: string, mac: MacFn): Manifest {
  const text = readFileSync(join(dir, MANIFEST), 'utf8');
  const nl = text.indexOf('\n');
  const body = text.slice(nl + 1);
  if (Buffer.from(mac(Buffer.from(body))).toString('hex') !== text.slice(0, nl)) throw new CacheDamagedError(join(dir, MANIFEST), 'the manifest fails its check');
  return JSON.parse(body) as Manifest;
}

function writeManifest(dir: string, m: Manifest, mac: MacFn): void {
  const body = JSON.stringify(m);
  const tmp = join(dir, `${MANIFEST}.tmp-${process.pid}`);
  writeFileSync(tmp, `${Buffer.from(mac(Buffer.from(body))).toString('hex')}\n${body}`, { mode: 0o600 });
  const fd = openSync(tmp, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, MANIFEST));
}

/** Removes everything but the manifest, the lock and the runs to keep (only under the update lock). */
function clearFolder(dir: string, keep: readonly string[]): void {
  const keepSet = new Set([MANIFEST, LOCK, 'tmp', ...keep]);
  for (const name of readdirSync(dir)) if (!keepSet.has(name)) rmSync(join(dir, name), { force: true, recursive: true });
  for (const name of readdirSync(join(dir, 'tmp'))) rmSync(join(dir, 'tmp', name), { force: true, recursive: true });
}

/** Reads the index objects in listing order, a few at a time, into one new run. */
async function buildRun(repo: Repository, ids: readonly IndexId[], sizes: ReadonlyMap<IndexId, number>, place: { path: string; tmpDir: string; mac: MacFn; sortMemBytes: number }, repoId: Uint8Array, opts: DiskIndexOptions, superseded: ReadonlySet<string>): Promise<{ supersedes: string[] }> {
  const builder = new RunBuilder(place);
  try {
    let done = 0;
    let lastNote = performance.now();
    for (let i = 0; i < ids.length; ) {
      opts.signal?.throwIfAborted();
      // A batch is read at once and added in listing order: at most readsInFlight objects, and at
      // most readBytes of them (each is held sealed and decrypted: about twice its size).
      let bytes = 0;
      let end = i;
      while (end < ids.length && end - i < opts.readsInFlight && (end === i || bytes + 2 * (sizes.get(ids[end]!) ?? 0) <= opts.readBytes)) {
        bytes += 2 * (sizes.get(ids[end]!) ?? 0);
        end++;
      }
      const part = ids.slice(i, end);
      i = end;
      const plains = await mapLimit(part, part.length, (id) => repo.loadIndexPlain(id));
      plains.forEach((plain, k) => {
        try {
          builder.addIndexObject(part[k]!, plain);
        } catch (err) {
          throw withIndexObjectRepairHint(err, part[k]!);
        }
      });
      // Each object read is garbage now: outside the V8 heap, collected late unless told.
      noteDropped(bytes);
      done += part.length;
      if (performance.now() - lastNote > 5000) {
        opts.onProgress?.(`index cache: ${done} of ${ids.length} index objects read`);
        lastNote = performance.now();
      }
    }
    return builder.finish(repoId, superseded);
  } catch (err) {
    builder.abandon();
    rmSync(place.path, { force: true });
    throw err;
  }
}

/** Merges the newest runs while a run holds at least a quarter of the one before it (or there are too many). */
function compact(runs: IndexRun[], dir: string, mac: MacFn, cache: PageCache, repoId: Uint8Array): IndexRun[] {
  const out = [...runs];
  while (out.length > 1) {
    const a = out[out.length - 2]!;
    const b = out[out.length - 1]!;
    if (out.length <= MAX_RUNS && b.blobCount * MERGE_RATIO < a.blobCount) break;
    const path = join(dir, runName());
    mergeRuns([a, b], { path, mac }, repoId);
    const merged = IndexRun.open(path, mac, cache, repoId);
    a.close();
    b.close();
    out.splice(out.length - 2, 2, merged);
  }
  return out;
}

/**
 * Takes the cache folder's update lock (a file created exclusively, holding our pid), waiting for
 * another process that updates it; a lock whose process is gone, or that is very old, is taken over.
 */
async function takeUpdateLock(dir: string, signal?: AbortSignal, onWait?: (m: string) => void): Promise<() => void> {
  const path = join(dir, LOCK);
  let told = false;
  for (;;) {
    signal?.throwIfAborted();
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (lockIsStale(path)) {
      rmSync(path, { force: true });
      continue;
    }
    if (!told) {
      onWait?.('another engine process is updating the local index cache: waiting for it');
      told = true;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function lockIsStale(path: string): boolean {
  try {
    const pid = Number(readFileSync(path, 'utf8'));
    if (Date.now() - statSync(path).mtimeMs > LOCK_STALE_MS) return true;
    if (!Number.isInteger(pid) || pid <= 0) return Date.now() - statSync(path).mtimeMs > 5000;
    process.kill(pid, 0);
    return false;
  } catch (err) {
    // ESRCH: no such process; ENOENT: released meanwhile (then the next try takes it).
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ESRCH' || code === 'ENOENT';
  }
}

