// Builds one run of the index cache in a single streaming pass over index objects (a cold open
// reads every index object of the repository once), or by merging runs already on disk.
import { randomBytes } from 'node:crypto';
import { BlobType, ID_BYTES } from '../format/ids.js';
import { visitIndex } from '../format/index-file.js';
import { IndexRun } from './index-run.js';
import { RunWriter } from './run-writer.js';
import type { MacFn } from './page-file.js';
import { Section } from './page-file.js';
import { BLOB_RECORD_BYTES, BLOB_SORT_KEY_BYTES, ID_KEY_BYTES, PACK_RECORD_BYTES, writeBlobRecord } from './records.js';
import { MergeCursor, RecordSorter, type RecordCursor } from './sorter.js';

export interface BuildPlace {
  /** Final path of the run file. */
  path: string;
  /** Folder for temporary sort files. */
  tmpDir: string;
  mac: MacFn;
  /** Memory for sorting (two buffers of half this size). */
  sortMemBytes: number;
}

/** Pack records while building: the pack id, then its pack number (u32be), so superseded ones can be left out. */
const PACK_BUILD_RECORD_BYTES = PACK_RECORD_BYTES + 4;

export class RunBuilder {
  private readonly writer: RunWriter;
  private readonly blobs: RecordSorter;
  private readonly packs: RecordSorter;
  private readonly ids: string[] = [];
  /** Per index object added: the first pack number past its packs, and what it supersedes. */
  private readonly packEnds: number[] = [];
  private readonly supersedes = new Set<string>();
  private nextPackNo = 0;

  constructor(place: BuildPlace) {
    this.writer = new RunWriter(place.path, randomBytes(8), place.mac);
    // Packs are about one in ten to one in a thousand entries: a small share of the memory.
    this.blobs = new RecordSorter({ recordBytes: BLOB_RECORD_BYTES, keyBytes: BLOB_SORT_KEY_BYTES, memBytes: Math.floor(place.sortMemBytes * 0.8), tmpDir: place.tmpDir, tag: 'blobs' });
    this.packs = new RecordSorter({ recordBytes: PACK_BUILD_RECORD_BYTES, keyBytes: ID_KEY_BYTES, memBytes: Math.floor(place.sortMemBytes * 0.2), tmpDir: place.tmpDir, tag: 'packs' });
  }

  /** Adds the entries of one index object (decrypted payload), in the order objects are listed. */
  addIndexObject(indexId: string, plain: Uint8Array): void {
    let packNo = 0;
    visitIndex(plain, `index/${indexId}`, {
      supersedes: (buf, at) => {
        const id = buf.toString('hex', at, at + ID_BYTES);
        if (id !== indexId) this.supersedes.add(id);
      },
      pack: (buf, at) => {
        packNo = this.writer.addPackByNumber(buf, at);
        this.nextPackNo = packNo + 1;
        const slot = this.packs.next();
        buf.copy(slot.buf, slot.at, at, at + ID_BYTES);
        slot.buf.writeUInt32BE(packNo, slot.at + ID_BYTES);
      },
      blob: (buf, at) => {
        const slot = this.blobs.next();
        writeBlobRecord(slot.buf, slot.at, buf, at + 1, {
          packNo,
          type: buf[at] === 1 ? BlobType.TREE : BlobType.DATA,
          offset: buf.readUInt32LE(at + 33),
          length: buf.readUInt32LE(at + 37),
          rawLength: buf.readUInt32LE(at + 41),
        });
      },
    });
    this.ids.push(indexId);
    this.packEnds.push(this.nextPackNo);
  }

  /**
   * Writes the run. The entries of index objects that another object supersedes (one of this
   * run's, or one of `superseded`, known from the runs already open) are left out; those objects
   * are recorded as covered ("skipped"), so they are not read again.
   */
  finish(repoId: Uint8Array, superseded: ReadonlySet<string> = new Set()): { supersedes: string[] } {
    const dropped: boolean[] = this.ids.map((id) => this.supersedes.has(id) || superseded.has(id));
    // Pack numbers are handed out in the order objects were added: object k owns [end(k-1), end(k)).
    const droppedPack = (no: number): boolean => {
      let a = 0;
      let b = this.packEnds.length - 1;
      while (a < b) {
        const m = (a + b) >> 1;
        if (this.packEnds[m]! > no) b = m;
        else a = m + 1;
      }
      return dropped[a] === true;
    };
    const any = dropped.some((d) => d);
    const blobs = this.blobs.sorted();
    try {
      this.writer.writeBlobs(any ? skipping(blobs, (b, at) => droppedPack(b.readUInt32BE(at + ID_KEY_BYTES))) : blobs, this.blobs.count);
    } finally {
      blobs.close();
    }
    const packs = this.packs.sorted();
    try {
      this.writer.writePacksSorted(any ? skipping(packs, (b, at) => droppedPack(b.readUInt32BE(at + ID_BYTES))) : packs);
    } finally {
      packs.close();
    }
    const supersedes = [...this.supersedes];
    this.writer.finish(
      repoId,
      this.ids.filter((_, k) => !dropped[k]),
      supersedes,
      this.ids.filter((_, k) => dropped[k]),
    );
    return { supersedes };
  }

  abandon(): void {
    this.writer.abandon();
    this.blobs.discard();
    this.packs.discard();
  }
}

/**
 * Merges runs (oldest first) into one: pack numbers of each run are shifted past those of the runs
 * before it, so an entry from an older run sorts first among equal ids and is the one kept.
 */
export function mergeRuns(runs: readonly IndexRun[], place: Pick<BuildPlace, 'path' | 'mac'>, repoId: Uint8Array): void {
  const writer = new RunWriter(place.path, randomBytes(8), place.mac);
  const cursors: RecordCursor[] = [];
  try {
    for (const run of runs) {
      const c = run.cursor(Section.PACKS_BY_NUMBER);
      for (; c.buf; c.advance()) writer.addPackByNumber(c.buf, c.at);
    }
    let base = 0;
    for (const run of runs) {
      cursors.push(shifted(run.cursor(Section.BLOBS), base));
      base += run.packCount;
    }
    writer.writeBlobs(new MergeCursor(cursors.splice(0), BLOB_SORT_KEY_BYTES), runs.reduce((n, r) => n + r.blobCount, 0));
    writer.writePacksSorted(new MergeCursor(runs.map((r) => r.cursor(Section.PACKS_SORTED)), ID_KEY_BYTES));
    writer.finish(repoId, runs.flatMap((r) => r.indexIds), [...new Set(runs.flatMap((r) => r.supersedes))], runs.flatMap((r) => r.skippedIds));
  } catch (err) {
    writer.abandon();
    throw err;
  }
}

/** A blob cursor whose records carry pack numbers shifted by `base` (copied: run pages are read-only). */
function shifted(c: RecordCursor, base: number): RecordCursor {
  if (base === 0) return c;
  const rec = Buffer.alloc(BLOB_RECORD_BYTES);
  let copied = -1;
  let n = 0;
  const load = (): void => {
    if (c.buf && copied !== n) {
      c.buf.copy(rec, 0, c.at, c.at + BLOB_RECORD_BYTES);
      rec.writeUInt32BE(rec.readUInt32BE(32) + base, 32);
      copied = n;
    }
  };
  return {
    get buf() {
      load();
      return c.buf ? rec : null;
    },
    get at() {
      return 0;
    },
    advance: () => {
      c.advance();
      n++;
    },
    close: () => c.close(),
  };
}

/** A cursor over the records of `c` for which `skip` is false. */
function skipping(c: RecordCursor, skip: (buf: Buffer, at: number) => boolean): RecordCursor {
  const settle = (): void => {
    while (c.buf && skip(c.buf, c.at)) c.advance();
  };
  settle();
  return {
    get buf() {
      return c.buf;
    },
    get at() {
      return c.at;
    },
    advance: () => {
      c.advance();
      settle();
    },
    close: () => c.close(),
  };
}
