// Blob ids met on a walk of snapshots, joined with the index in one sequential pass instead of one
// random lookup each: at ten million blobs the index is far larger than its page cache, so looking
// each referenced id up reads a page from disk and checks its MAC, minutes in all. The ids go
// through an external sort (sorter.ts) and are merged with the scan's entries, which are sorted by
// id too (scan-index.ts): each page is read once.
import { type BlobId } from '../format/ids.js';
import { compareKeys, ID_KEY_BYTES } from './records.js';
import type { ScannedRecord } from './scan-index.js';
import { RecordSorter } from './sorter.js';

export interface JoinedRef {
  /** The id's bytes, in `buf` at `at` (valid until the next one). */
  readonly buf: Buffer;
  readonly at: number;
  /** The blob's kept entry in the index (its first record), or null when the index does not hold it. */
  readonly record: ScannedRecord | null;
}

export class RefJoin {
  private readonly sorter: RecordSorter;

  constructor(opts: { tmpDir: string; memBytes: number; tag: string }) {
    this.sorter = new RecordSorter({ recordBytes: ID_KEY_BYTES, keyBytes: ID_KEY_BYTES, memBytes: opts.memBytes, tmpDir: opts.tmpDir, tag: opts.tag });
  }

  add(id: BlobId): void {
    const s = this.sorter.next();
    s.buf.write(id, s.at, ID_KEY_BYTES, 'hex');
  }

  /** Ids added in all (with repeats). */
  get count(): number {
    return this.sorter.count;
  }

  /**
   * Each distinct id added, in id order, with its kept entry: the first entry of the id in the
   * first of `streams` that holds it (the order lookups ask runs in). Once only.
   */
  *join(streams: readonly Iterator<ScannedRecord>[]): Generator<JoinedRef> {
    const refs = this.sorter.sorted();
    const heads = streams.map((it) => ({ it, cur: it.next(), prev: Buffer.alloc(ID_KEY_BYTES), started: false }));
    const prevRef = Buffer.alloc(ID_KEY_BYTES);
    let haveRef = false;
    try {
      for (; refs.buf; refs.advance()) {
        const buf = refs.buf;
        const at = refs.at;
        if (haveRef && compareKeys(prevRef, 0, buf, at, ID_KEY_BYTES) === 0) continue;
        buf.copy(prevRef, 0, at, at + ID_KEY_BYTES);
        haveRef = true;
        let match: ScannedRecord | null = null;
        for (const h of heads) {
          // Entries before the id are passed over; the first entry of a blob is its kept copy.
          while (!h.cur.done) {
            const r = h.cur.value;
            const c = compareKeys(r.buf, r.at, buf, at, ID_KEY_BYTES);
            if (c > 0) break;
            const first = !h.started || compareKeys(h.prev, 0, r.buf, r.at, ID_KEY_BYTES) !== 0;
            r.buf.copy(h.prev, 0, r.at, r.at + ID_KEY_BYTES);
            h.started = true;
            if (c === 0 && first) {
              match = r;
              break;
            }
            h.cur = h.it.next();
          }
          if (match) break;
        }
        yield { buf: prevRef, at: 0, record: match };
      }
    } finally {
      refs.close();
      for (const h of heads) h.it.return?.(undefined);
    }
  }

  /** Removes the sort's temporary files (after join(), or instead of it). */
  discard(): void {
    this.sorter.discard();
  }
}
