// The index as the repository holds it right now, off the heap, for the commands that must see
// every entry: check, prune and repair (DESIGN.md "Memory whatever the repository size"). Every
// index object listed is read once, in listing order, into one private run file (the format of
// the index cache, index-run.ts), built by external sort in a temporary folder of its own and
// removed by `close()`. The shared cache is neither trusted nor touched: what these commands
// decide (what is used, what to delete) rests on the objects they read themselves.
//
// Besides lookups, it numbers the entries: `positionOf(id)` is the number of the blob's first
// record (the copy every reader picks), in 0..positions-1, so "is this blob used / seen?" is one
// bit per entry (src/util/bitset.ts), never a Set of ids; `records()` walks every entry in id
// order (duplicates adjacent, the kept copy first) with its position.
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BlobId, IndexId, PackId } from '../format/ids.js';
import type { IndexFile } from '../format/index-file.js';
import { visitIndex } from '../format/index-file.js';
import { collectNow } from '../util/gc.js';
import type { BlobLocation, PositionedIndex } from '../repository/blob-index.js';
import type { Repository } from '../repository/repository.js';
import { AddedEntries } from './added-entries.js';
import { readIndexObjects, type BuildRunOptions } from './cache-build.js';
import { IndexRun } from './index-run.js';
import { PageCache } from './page-cache.js';
import type { MacFn } from './page-file.js';
import { Section } from './page-file.js';
import { readBlobRecord, type BlobRecordFields } from './records.js';
import { RunBuilder } from './run-builder.js';

/** Where a command scans the index and with how much memory (the CLI gives the budget's index allowance). */
export interface ScanScratch {
  /** A folder for the run and sort files (a subfolder is made and removed). */
  readonly tmpDir: string;
  readonly sortMemBytes: number;
  readonly pageCacheBytes: number;
  /** Bytes of index objects held at once while they are read. */
  readonly readBytes: number;
}

const MiB = 1024 * 1024;
/** For library callers that give none (tests): the system's temporary folder and 16 MiB of sort buffers. */
export const DEFAULT_SCAN_SCRATCH: ScanScratch = { tmpDir: tmpdir(), sortMemBytes: 16 * MiB, pageCacheBytes: 4 * MiB, readBytes: 16 * MiB };

/** Besides how index objects are read (readsInFlight, readBytes, signal, onProgress): where and with how much memory. */
export interface ScanIndexOptions extends BuildRunOptions {
  /** A folder for the run and its sort files (a fresh subfolder is made in it and removed by close()). */
  tmpDir: string;
  sortMemBytes: number;
  pageCacheBytes: number;
  /**
   * An index object that cannot be read or decoded: told here and left out (check reports it).
   * Without it, the error ends the build.
   */
  onUnreadable?: (id: IndexId, err: unknown) => void;
}

/** One entry met by `records()`: its position, fields and id (the id's bytes are valid until the next entry). */
export interface ScannedRecord extends BlobRecordFields {
  readonly position: number;
  /** The entry's id, in `buf` at `at` (32 bytes). */
  readonly buf: Buffer;
  readonly at: number;
}

/**
 * A fresh folder `<tag>-<pid>-<random>` in `tmpDir` for one command's temporary files, after
 * removing those a process that is gone left there (killed before it could clean up).
 */
export function scratchFolder(tmpDir: string, tag: string): string {
  mkdirSync(tmpDir, { recursive: true, mode: 0o700 });
  for (const name of readdirSync(tmpDir)) {
    const pid = /^[a-z-]+-(\d+)-[0-9a-f]{12}$/.exec(name)?.[1];
    if (pid && Number(pid) !== process.pid && !alive(Number(pid))) rmSync(join(tmpDir, name), { recursive: true, force: true });
  }
  const folder = join(tmpDir, `${tag}-${process.pid}-${randomBytes(6).toString('hex')}`);
  mkdirSync(folder, { mode: 0o700 });
  return folder;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Every entry of a run in id order with its position (`base` + its number), a page at a time past the page cache. */
export function* runRecords(run: IndexRun, base: number): Generator<ScannedRecord> {
  const c = run.cursor(Section.BLOBS);
  try {
    for (let no = 0; c.buf; no++, c.advance()) {
      const buf = c.buf;
      const at = c.at;
      yield { position: base + no, buf, at, ...readBlobRecord(buf, at) };
    }
  } finally {
    c.close();
  }
}

export class ScanIndex implements PositionedIndex {
  private readonly run: IndexRun;
  /** The scan's own temporary folder (removed by close()): companions' sort files go there too. */
  readonly folder: string;
  /** Index objects whose entries are in. */
  readonly indexIds: readonly IndexId[];
  /** Index objects read but left out: another object read supersedes them. */
  readonly supersededIds: readonly IndexId[];
  /** Index objects read (entries in, or superseded). */
  readonly readIds: readonly IndexId[];
  /** Entries of index objects this process wrote since (repair snapshots' rewritten trees): they have no position. */
  private readonly added = new AddedEntries();

  private constructor(run: IndexRun, folder: string, readIds: IndexId[]) {
    this.run = run;
    this.folder = folder;
    this.indexIds = run.indexIds;
    this.supersededIds = run.skippedIds;
    this.readIds = readIds;
  }

  /** Reads the listed index objects (all of the repository's when `objects` is absent) into a private run. */
  static async build(repo: Repository, opts: ScanIndexOptions, objects?: readonly { id: IndexId; size: number }[]): Promise<ScanIndex> {
    const listed = objects ?? (await repo.listIndexObjects());
    const folder = scratchFolder(opts.tmpDir, 'scan');
    const mac: MacFn = (data) => repo.indexCacheMac(data);
    const repoId = Buffer.from(repo.config.id, 'hex');
    const path = join(folder, 'scan.eic');
    const builder = new RunBuilder({ path, tmpDir: folder, mac, sortMemBytes: opts.sortMemBytes });
    const read: IndexId[] = [];
    try {
      await readIndexObjects(
        listed,
        {
          sizeOf: (o) => o.size,
          load: async (o) => {
            try {
              const plain = await repo.loadIndexPlain(o.id);
              // Decoded once without effect first: a damaged object adds nothing, not half of itself.
              visitIndex(plain, repo.indexObjectName(o.id), { pack: () => undefined, blob: () => undefined });
              return plain;
            } catch (err) {
              if (!opts.onUnreadable || opts.signal?.aborted) throw err;
              opts.onUnreadable(o.id, err);
              return null;
            }
          },
          add: (o, plain) => {
            builder.addIndexObject(o.id, plain);
            read.push(o.id);
          },
          what: 'index',
        },
        opts,
      );
      builder.finish(repoId);
    } catch (err) {
      builder.abandon();
      rmSync(folder, { recursive: true, force: true });
      throw err;
    }
    collectNow();
    try {
      return new ScanIndex(IndexRun.open(path, mac, new PageCache(opts.pageCacheBytes), repoId), folder, read);
    } catch (err) {
      rmSync(folder, { recursive: true, force: true });
      throw err;
    }
  }

  /** Entries in the run (a blob listed in two packs, or twice, counts for each). */
  get positions(): number {
    return this.run.blobCount;
  }

  get blobCount(): number {
    return this.run.blobCount;
  }

  /** Packs the entries name; pack numbers are 0..packCount-1. */
  get packCount(): number {
    return this.run.packCount;
  }

  packIdOf(packNo: number): PackId {
    return this.run.packIdOf(packNo);
  }

  /** The position of the blob's first entry (the copy `lookup` gives), or -1 when it is not indexed. */
  positionOf(id: BlobId): number {
    return this.run.firstRecordNo(id);
  }

  has(id: BlobId): boolean {
    return this.added.has(id) || this.run.has(id);
  }

  lookup(id: BlobId): BlobLocation | undefined {
    return this.added.get(id) ?? this.run.lookup(id);
  }

  lookupAll(id: BlobId): BlobLocation[] {
    const mine = this.added.get(id);
    return mine ? [mine, ...this.run.lookupAll(id).filter((l) => l.packId !== mine.packId || l.offset !== mine.offset)] : this.run.lookupAll(id);
  }

  hasPack(id: PackId): boolean {
    return this.added.hasPack(id) || this.run.hasPack(id);
  }

  /** Entries of index objects this process wrote since: looked up before the run, with no position. */
  add(_indexId: IndexId | null, file: IndexFile): void {
    this.added.add(file);
  }

  /** Every entry in id order, a page at a time past the page cache. */
  records(): Generator<ScannedRecord> {
    return runRecords(this.run, 0);
  }

  /** Closes the run and removes its folder. */
  close(): void {
    this.run.close();
    rmSync(this.folder, { recursive: true, force: true });
  }
}
