// External sort of fixed-size records in bounded memory: records are gathered in a buffer of a
// few MiB, each full buffer is sorted and written to a temporary run file, and the runs are
// merged when read back. Ten million blob records (480 MB) sort in a few MiB of memory.
//
// The in-memory sort uses the keys' uniform distribution (blob and pack ids are hash outputs):
// a counting sort on the first two bytes, then an insertion sort inside each bucket, which holds
// a handful of records. That is linear, where a comparison sort in JavaScript is not.
import { closeSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { compareKeys } from './records.js';

/** Something that yields sorted records one at a time; `current` is valid until the next advance. */
export interface RecordCursor {
  /** Buffer and offset of the current record, or null at the end. */
  readonly buf: Buffer | null;
  readonly at: number;
  advance(): void;
  close(): void;
}

export class RecordSorter {
  private readonly recordBytes: number;
  private readonly keyBytes: number;
  private readonly capacity: number;
  private buf: Buffer;
  private n = 0;
  private readonly runs: { path: string; records: number }[] = [];
  private readonly tmpDir: string;
  private readonly tag: string;
  /** Records pushed in all. */
  count = 0;

  constructor(opts: { recordBytes: number; keyBytes: number; memBytes: number; tmpDir: string; tag: string }) {
    this.recordBytes = opts.recordBytes;
    this.keyBytes = opts.keyBytes;
    this.capacity = Math.max(1024, Math.floor(opts.memBytes / 2 / opts.recordBytes));
    this.buf = Buffer.allocUnsafeSlow(this.capacity * opts.recordBytes);
    this.tmpDir = opts.tmpDir;
    this.tag = opts.tag;
  }

  /** A slot for the next record (recordBytes long), to be filled by the caller before the next call. */
  next(): { buf: Buffer; at: number } {
    if (this.n === this.capacity) this.spill();
    const at = this.n * this.recordBytes;
    this.n++;
    this.count++;
    return { buf: this.buf, at };
  }

  private spill(): void {
    const sorted = this.sortBuffer();
    const path = join(this.tmpDir, `${this.tag}-run-${process.pid}-${this.runs.length}`);
    const fd = openSync(path, 'w', 0o600);
    try {
      const len = this.n * this.recordBytes;
      let off = 0;
      while (off < len) off += writeSync(fd, sorted, off, len - off);
    } finally {
      closeSync(fd);
    }
    this.runs.push({ path, records: this.n });
    this.n = 0;
  }

  /** Sorts the buffered records into a second buffer (returned); the first one is reused. */
  private sortBuffer(): Buffer {
    const { n, recordBytes: rb, keyBytes: kb, buf } = this;
    const counts = new Uint32Array(65537);
    for (let i = 0; i < n; i++) counts[buf.readUInt16BE(i * rb) + 1]!++;
    for (let i = 1; i <= 65536; i++) counts[i]! += counts[i - 1]!;
    const order = new Uint32Array(n);
    const fill = counts.slice(0, 65536);
    for (let i = 0; i < n; i++) order[fill[buf.readUInt16BE(i * rb)]!++] = i;
    // Within each bucket (records sharing their first two bytes): insertion sort when it is small,
    // as with random ids; a comparison sort when it is not (keys that share their first bytes, as
    // the entries of one pack regrouped by pack do: insertion sort would be quadratic there).
    const cmp = (x: number, y: number): number => compareKeys(buf, x * rb, buf, y * rb, kb);
    for (let bkt = 0; bkt < 65536; bkt++) {
      const start = counts[bkt]!;
      const end = counts[bkt + 1]!;
      if (end - start > 32) {
        order.subarray(start, end).sort(cmp);
        continue;
      }
      for (let i = start + 1; i < end; i++) {
        const x = order[i]!;
        let j = i - 1;
        while (j >= start && compareKeys(buf, order[j]! * rb, buf, x * rb, kb) > 0) {
          order[j + 1] = order[j]!;
          j--;
        }
        order[j + 1] = x;
      }
    }
    const out = Buffer.allocUnsafeSlow(n * rb);
    for (let i = 0; i < n; i++) buf.copy(out, i * rb, order[i]! * rb, order[i]! * rb + rb);
    return out;
  }

  /**
   * All records in key order (equal keys in no set order; callers sort by a key that is unique
   * where it matters). Frees the gathering buffer; temporary files are removed by close().
   */
  sorted(): RecordCursor {
    const sortedTail = this.sortBuffer();
    const memRecords = this.n;
    this.buf = Buffer.alloc(0);
    this.n = 0;
    const cursors: RecordCursor[] = [new BufferCursor(sortedTail, memRecords, this.recordBytes)];
    for (const r of this.runs) cursors.push(new FileCursor(r.path, r.records, this.recordBytes));
    const merged = cursors.length === 1 ? cursors[0]! : new MergeCursor(cursors, this.keyBytes);
    const runs = this.runs;
    return {
      get buf() {
        return merged.buf;
      },
      get at() {
        return merged.at;
      },
      advance: () => merged.advance(),
      close: () => {
        merged.close();
        for (const r of runs) rmSync(r.path, { force: true });
      },
    };
  }

  /** Removes the temporary files (after a failure; sorted().close() does it otherwise). */
  discard(): void {
    for (const r of this.runs) rmSync(r.path, { force: true });
  }
}

export class BufferCursor implements RecordCursor {
  private readonly data: Buffer;
  private readonly records: number;
  private readonly rb: number;
  private i = 0;
  constructor(data: Buffer, records: number, recordBytes: number) {
    this.data = data;
    this.records = records;
    this.rb = recordBytes;
  }
  get buf(): Buffer | null {
    return this.i < this.records ? this.data : null;
  }
  get at(): number {
    return this.i * this.rb;
  }
  advance(): void {
    this.i++;
  }
  close(): void {}
}

/** Records of a run file, read 64 KiB at a time. */
class FileCursor implements RecordCursor {
  private readonly fd: number;
  private readonly rb: number;
  private readonly chunk: Buffer;
  private left: number;
  private inChunk = 0;
  private pos = 0;
  private fileOffset = 0;
  constructor(path: string, records: number, recordBytes: number) {
    this.fd = openSync(path, 'r');
    this.rb = recordBytes;
    this.left = records;
    this.chunk = Buffer.allocUnsafeSlow(Math.max(1, Math.floor(65536 / recordBytes)) * recordBytes);
    this.refill();
  }
  private refill(): void {
    const want = Math.min(this.chunk.length / this.rb, this.left) * this.rb;
    let got = 0;
    while (got < want) {
      const n = readSync(this.fd, this.chunk, got, want - got, this.fileOffset + got);
      if (n === 0) throw new Error('sort run file ended early');
      got += n;
    }
    this.fileOffset += want;
    this.inChunk = want / this.rb;
    this.pos = 0;
  }
  get buf(): Buffer | null {
    return this.inChunk > 0 ? this.chunk : null;
  }
  get at(): number {
    return this.pos * this.rb;
  }
  advance(): void {
    this.pos++;
    this.left--;
    if (this.pos === this.inChunk) {
      if (this.left > 0) this.refill();
      else this.inChunk = 0;
    }
  }
  close(): void {
    closeSync(this.fd);
  }
}

/** k-way merge of sorted cursors with a binary heap; ties go to the earlier cursor. */
export class MergeCursor implements RecordCursor {
  private readonly heap: number[] = [];
  private readonly cursors: RecordCursor[];
  private readonly kb: number;
  constructor(cursors: RecordCursor[], keyBytes: number) {
    this.cursors = cursors;
    this.kb = keyBytes;
    cursors.forEach((c, i) => {
      if (c.buf) this.push(i);
    });
  }
  private less(i: number, j: number): boolean {
    const a = this.cursors[i]!;
    const b = this.cursors[j]!;
    const c = compareKeys(a.buf!, a.at, b.buf!, b.at, this.kb);
    return c < 0 || (c === 0 && i < j);
  }
  private push(i: number): void {
    const h = this.heap;
    h.push(i);
    let k = h.length - 1;
    while (k > 0) {
      const p = (k - 1) >> 1;
      if (!this.less(h[k]!, h[p]!)) break;
      [h[k], h[p]] = [h[p]!, h[k]!];
      k = p;
    }
  }
  private siftDown(): void {
    const h = this.heap;
    let k = 0;
    for (;;) {
      const l = 2 * k + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const m = r < h.length && this.less(h[r]!, h[l]!) ? r : l;
      if (!this.less(h[m]!, h[k]!)) break;
      [h[k], h[m]] = [h[m]!, h[k]!];
      k = m;
    }
  }
  get buf(): Buffer | null {
    return this.heap.length > 0 ? this.cursors[this.heap[0]!]!.buf : null;
  }
  get at(): number {
    return this.cursors[this.heap[0]!]!.at;
  }
  advance(): void {
    const top = this.heap[0]!;
    this.cursors[top]!.advance();
    if (this.cursors[top]!.buf) {
      this.siftDown();
    } else {
      const last = this.heap.pop()!;
      if (this.heap.length > 0) {
        this.heap[0] = last;
        this.siftDown();
      }
    }
  }
  close(): void {
    for (const c of this.cursors) c.close();
  }
}
