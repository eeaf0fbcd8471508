// Writes one run file of the index cache, section by section (the layout is in run-layout.ts).
import { BlobFilter } from './bloom.js';
import { type MacFn, PAGE_PAYLOAD_BYTES, PageWriter, Section } from './page-file.js';
import { BLOB_RECORD_BYTES, BLOB_SORT_KEY_BYTES, compareKeys, ID_KEY_BYTES, PACK_RECORD_BYTES } from './records.js';
import { BLOBS_PER_PAGE, type Extent, MAGIC, PACKS_PER_PAGE, RUN_VERSION, SECTIONS } from './run-layout.js';
import type { RecordCursor } from './sorter.js';

/** Writes a run: packs by number first (streamed while index objects are read), then the rest. */
export class RunWriter {
  private readonly w: PageWriter;
  private readonly extents = new Map<Section, Extent>();
  private packsByNumber = 0;
  private blobs = 0;
  private packsSorted = 0;
  private readonly payload = Buffer.alloc(PAGE_PAYLOAD_BYTES);
  private fill = 0;
  private section: Section | null = null;
  private readonly blobFence: number[] = [];
  private readonly packFence: number[] = [];
  private filter: BlobFilter | null = null;

  constructor(path: string, fileId: Uint8Array, mac: MacFn) {
    this.w = new PageWriter(path, fileId, mac);
  }

  private begin(s: Section): void {
    this.section = s;
    this.fill = 0;
    this.extents.set(s, { start: this.w.nextPage, pages: 0 });
  }

  private flushPage(): void {
    this.w.writePage(this.section!, this.payload.subarray(0, this.fill));
    this.extents.get(this.section!)!.pages++;
    this.fill = 0;
  }

  private end(): void {
    if (this.fill > 0) this.flushPage();
    this.section = null;
  }

  /** Appends one pack id; its number is the count of packs appended before it. */
  addPackByNumber(id: Uint8Array, at: number): number {
    if (this.section === null && !this.extents.has(Section.PACKS_BY_NUMBER)) this.begin(Section.PACKS_BY_NUMBER);
    if (this.fill + PACK_RECORD_BYTES > PACKS_PER_PAGE * PACK_RECORD_BYTES) this.flushPage();
    this.payload.set(id.subarray(at, at + PACK_RECORD_BYTES), this.fill);
    this.fill += PACK_RECORD_BYTES;
    return this.packsByNumber++;
  }

  /** Blob records in key order (id, then pack number); only exact repeats of both are dropped. */
  writeBlobs(cursor: RecordCursor, filterCapacity: number): void {
    if (!this.extents.has(Section.PACKS_BY_NUMBER)) this.begin(Section.PACKS_BY_NUMBER);
    this.end();
    const filter = BlobFilter.forCount(filterCapacity);
    this.filter = filter;
    this.blobs = this.writeSorted(Section.BLOBS, cursor, BLOB_RECORD_BYTES, BLOBS_PER_PAGE, this.blobFence, BLOB_SORT_KEY_BYTES, (b, at) => filter.addBytes(b, at));
  }

  /** Pack ids in order; repeats are dropped. */
  writePacksSorted(cursor: RecordCursor): void {
    this.packsSorted = this.writeSorted(Section.PACKS_SORTED, cursor, PACK_RECORD_BYTES, PACKS_PER_PAGE, this.packFence, ID_KEY_BYTES);
  }

  /**
   * Writes a sorted section: records in key order, the first of each `uniqueBytes`-byte key kept,
   * the first 8 bytes of each page's first key appended to `fence`. Returns how many records
   * were written.
   */
  private writeSorted(s: Section, cursor: RecordCursor, recordBytes: number, perPage: number, fence: number[], uniqueBytes: number, each?: (b: Buffer, at: number) => void): number {
    this.begin(s);
    const last = Buffer.alloc(uniqueBytes);
    let written = 0;
    for (; cursor.buf; cursor.advance()) {
      const b = cursor.buf;
      const at = cursor.at;
      if (written > 0 && compareKeys(b, at, last, 0, uniqueBytes) === 0) continue;
      b.copy(last, 0, at, at + uniqueBytes);
      if (this.fill + recordBytes > perPage * recordBytes) this.flushPage();
      if (this.fill === 0) fence.push(b.readUInt32BE(at), b.readUInt32BE(at + 4));
      b.copy(this.payload, this.fill, at, at + recordBytes);
      this.fill += recordBytes;
      each?.(b, at);
      written++;
    }
    this.end();
    return written;
  }

  private writeRaw(s: Section, bytes: Uint8Array): void {
    this.begin(s);
    for (let off = 0; off < bytes.length; off += PAGE_PAYLOAD_BYTES) {
      const part = bytes.subarray(off, off + PAGE_PAYLOAD_BYTES);
      this.payload.set(part, 0);
      this.fill = part.length;
      this.flushPage();
    }
    this.end();
  }

  /** Writes the in-memory parts and the header, and moves the file into place. */
  finish(repoId: Uint8Array, indexIds: readonly string[], supersedes: readonly string[] = [], skipped: readonly string[] = []): void {
    if (!this.filter) throw new Error('RunWriter.finish before writeBlobs');
    this.writeRaw(Section.BLOB_FENCE, u32le(this.blobFence));
    this.writeRaw(Section.PACK_FENCE, u32le(this.packFence));
    this.writeRaw(Section.FILTER, this.filter.bits);
    this.writeRaw(Section.INDEX_IDS, Buffer.from(indexIds.join(''), 'hex'));
    this.writeRaw(Section.SUPERSEDES, Buffer.from(supersedes.join(''), 'hex'));
    this.writeRaw(Section.SKIPPED_IDS, Buffer.from(skipped.join(''), 'hex'));
    const h = Buffer.alloc(8 + 4 + 32 + 4 * 8 + SECTIONS.length * 8);
    let o = MAGIC.copy(h, 0);
    o = h.writeUInt32LE(RUN_VERSION, o);
    o += Buffer.from(repoId).copy(h, o);
    for (const v of [this.blobs, this.packsByNumber, this.packsSorted, indexIds.length, this.filter.bits.length, this.filter.probes, supersedes.length, skipped.length]) o = h.writeUInt32LE(v, o);
    for (const s of SECTIONS) {
      const e = this.extents.get(s) ?? { start: 0, pages: 0 };
      o = h.writeUInt32LE(e.start, o);
      o = h.writeUInt32LE(e.pages, o);
    }
    this.w.finish(h);
  }

  abandon(): void {
    this.w.abandon();
  }

}

function u32le(values: number[]): Uint8Array {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => b.writeUInt32LE(v >>> 0, i * 4));
  return b;
}
