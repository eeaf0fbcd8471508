// One run file of the index cache opened for lookups (the layout is in run-layout.ts, the writer in
// run-writer.ts): every blob entry of a set of index objects, sorted by blob id, in checked pages.
import { closeSync, openSync } from 'node:fs';
import { type BlobId, type IndexId, type PackId } from '../format/ids.js';
import type { BlobLocation } from '../repository/blob-index.js';
import { BlobFilter } from './bloom.js';
import { CacheDamagedError } from './errors.js';
import { checkPage, type MacFn, PAGE_BYTES, PAGE_HEADER_BYTES, PAGE_PAYLOAD_BYTES, readPage, Section } from './page-file.js';
import type { PageCache } from './page-cache.js';
import { BLOB_RECORD_BYTES, compareKeys, ID_KEY_BYTES, PACK_RECORD_BYTES, readBlobRecord } from './records.js';
import { BLOBS_PER_PAGE, type Extent, MAGIC, PACKS_PER_PAGE, RUN_VERSION, SECTIONS } from './run-layout.js';
import type { RecordCursor } from './sorter.js';

let nextOwner = 1;

/** A run opened for lookups. */
export class IndexRun {
  readonly path: string;
  private readonly fd: number;
  private readonly fileId: Uint8Array;
  private readonly mac: MacFn;
  private readonly cache: PageCache;
  private readonly owner = nextOwner++;
  private readonly extents = new Map<Section, Extent>();
  readonly blobCount: number;
  readonly packCount: number;
  private readonly packsSorted: number;
  private readonly blobFence: Uint32Array;
  private readonly packFence: Uint32Array;
  private readonly filter: BlobFilter;
  /** Index objects whose entries the run holds. */
  readonly indexIds: readonly IndexId[];
  /** Index objects the run's objects supersede. */
  readonly supersedes: readonly IndexId[];
  /** Index objects the run covers without their entries (superseded when it was built). */
  readonly skippedIds: readonly IndexId[];
  private readonly scratch = Buffer.allocUnsafeSlow(PAGE_BYTES);
  private readonly key = Buffer.alloc(ID_KEY_BYTES);
  /** Pages read from disk (cache misses) by lookups. */
  pageReads = 0;

  private constructor(path: string, fd: number, mac: MacFn, cache: PageCache, repoId: Uint8Array) {
    this.path = path;
    this.fd = fd;
    this.mac = mac;
    this.cache = cache;
    const head = Buffer.allocUnsafeSlow(PAGE_BYTES);
    readPage(fd, 0, head, path);
    this.fileId = head.subarray(16, 24);
    checkPage(head, this.fileId, Section.HEADER, 0, mac, path);
    let o = PAGE_HEADER_BYTES;
    if (!head.subarray(o, o + 8).equals(MAGIC)) throw new CacheDamagedError(path, 'not an index cache file');
    o += 8;
    if (head.readUInt32LE(o) !== RUN_VERSION) throw new CacheDamagedError(path, `cache file version ${head.readUInt32LE(o)} is not ${RUN_VERSION}`);
    o += 4;
    if (!head.subarray(o, o + 32).equals(Buffer.from(repoId))) throw new CacheDamagedError(path, 'the file belongs to another repository');
    o += 32;
    const [blobs, packs, packsSorted, ids, filterBytes, probes, supersededCount, skippedCount] = Array.from({ length: 8 }, (_, i) => head.readUInt32LE(o + 4 * i)) as [number, number, number, number, number, number, number, number];
    o += 32;
    for (const s of SECTIONS) {
      this.extents.set(s, { start: head.readUInt32LE(o), pages: head.readUInt32LE(o + 4) });
      o += 8;
    }
    this.blobCount = blobs;
    this.packCount = packs;
    this.packsSorted = packsSorted;
    if (this.extent(Section.BLOBS).pages !== Math.ceil(blobs / BLOBS_PER_PAGE)) throw new CacheDamagedError(path, 'blob pages do not match the blob count');
    if (this.extent(Section.PACKS_SORTED).pages !== Math.ceil(packsSorted / PACKS_PER_PAGE)) throw new CacheDamagedError(path, 'pack pages do not match the pack count');
    this.blobFence = toU32(this.readRaw(Section.BLOB_FENCE, 8 * this.extent(Section.BLOBS).pages));
    this.packFence = toU32(this.readRaw(Section.PACK_FENCE, 8 * this.extent(Section.PACKS_SORTED).pages));
    if (filterBytes === 0 || probes === 0 || probes > 32) throw new CacheDamagedError(path, 'the filter is empty');
    this.filter = new BlobFilter(this.readRaw(Section.FILTER, filterBytes), probes);
    this.indexIds = this.readIds(Section.INDEX_IDS, ids);
    this.supersedes = this.readIds(Section.SUPERSEDES, supersededCount);
    this.skippedIds = this.readIds(Section.SKIPPED_IDS, skippedCount);
  }

  private readIds(s: Section, count: number): IndexId[] {
    const bytes = this.readRaw(s, 32 * count);
    const list: IndexId[] = [];
    for (let i = 0; i < count; i++) list.push(bytes.toString('hex', 32 * i, 32 * i + 32) as IndexId);
    return list;
  }

  /** Every index object the run accounts for, with entries or skipped. */
  get coveredIds(): IndexId[] {
    return [...this.indexIds, ...this.skippedIds];
  }

  /** Opens and checks the header and the in-memory parts; blob and pack pages are checked when read. */
  static open(path: string, mac: MacFn, cache: PageCache, repoId: Uint8Array): IndexRun {
    const fd = openSync(path, 'r');
    try {
      return new IndexRun(path, fd, mac, cache, repoId);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  private extent(s: Section): Extent {
    return this.extents.get(s)!;
  }

  /** A raw section of `length` bytes, every page checked. */
  private readRaw(s: Section, length: number): Buffer {
    const e = this.extent(s);
    if (e.pages !== Math.ceil(length / PAGE_PAYLOAD_BYTES)) throw new CacheDamagedError(this.path, `section ${s} has ${e.pages} pages for ${length} bytes`);
    const out = Buffer.allocUnsafeSlow(length);
    let len = 0;
    for (let i = 0; i < e.pages; i++) {
      readPage(this.fd, e.start + i, this.scratch, this.path);
      checkPage(this.scratch, this.fileId, s, e.start + i, this.mac, this.path);
      len += this.scratch.copy(out, len, PAGE_HEADER_BYTES, PAGE_HEADER_BYTES + Math.min(PAGE_PAYLOAD_BYTES, length - len));
    }
    return out;
  }

  private page(s: Section, index: number): Buffer {
    const pageNo = this.extent(s).start + index;
    return this.cache.get(this.owner, pageNo, (into) => {
      this.pageReads++;
      readPage(this.fd, pageNo, into, this.path);
      checkPage(into, this.fileId, s, pageNo, this.mac, this.path);
    });
  }

  /** A record whose id is `key` in a sorted section (any of several), with its number; or null. */
  private find(s: Section, fence: Uint32Array, perPage: number, recordBytes: number, total: number, key: Buffer): { page: Buffer; at: number; no: number } | null {
    const pages = fence.length / 2;
    if (pages === 0) return null;
    const hi = key.readUInt32BE(0);
    const lo = key.readUInt32BE(4);
    const cmpFence = (p: number): number => (fence[2 * p]! !== hi ? (fence[2 * p]! < hi ? -1 : 1) : fence[2 * p + 1]! !== lo ? (fence[2 * p + 1]! < lo ? -1 : 1) : 0);
    // The last page whose first key's prefix is <= the key's prefix.
    let a = 0;
    let b = pages - 1;
    let p = 0;
    while (a <= b) {
      const m = (a + b) >> 1;
      if (cmpFence(m) <= 0) {
        p = m;
        a = m + 1;
      } else {
        b = m - 1;
      }
    }
    // Keys sharing an 8-byte prefix may straddle pages: look back while the prefix matches.
    let first = p;
    while (first > 0 && cmpFence(first) === 0) first--;
    for (let pg = p; pg >= first; pg--) {
      const page = this.page(s, pg);
      const count = Math.min(perPage, total - pg * perPage);
      let x = 0;
      let y = count - 1;
      while (x <= y) {
        const m = (x + y) >> 1;
        const c = compareKeys(page, PAGE_HEADER_BYTES + m * recordBytes, key, 0, ID_KEY_BYTES);
        if (c === 0) return { page, at: PAGE_HEADER_BYTES + m * recordBytes, no: pg * perPage + m };
        if (c < 0) x = m + 1;
        else y = m - 1;
      }
    }
    return null;
  }

  has(id: BlobId): boolean {
    if (!this.filter.mayContainHex(id)) return false;
    this.key.write(id, 'hex');
    return this.find(Section.BLOBS, this.blobFence, BLOBS_PER_PAGE, BLOB_RECORD_BYTES, this.blobCount, this.key) !== null;
  }

  /** The entry of the earliest listed index object naming the blob. */
  lookup(id: BlobId): BlobLocation | undefined {
    return this.entries(id, true)[0];
  }

  /** Every entry of the blob, earliest listed index object first. */
  lookupAll(id: BlobId): BlobLocation[] {
    return this.entries(id, false);
  }

  private entries(id: BlobId, firstOnly: boolean): BlobLocation[] {
    if (!this.filter.mayContainHex(id)) return [];
    this.key.write(id, 'hex');
    const hit = this.find(Section.BLOBS, this.blobFence, BLOBS_PER_PAGE, BLOB_RECORD_BYTES, this.blobCount, this.key);
    if (!hit) return [];
    // Entries of one id are adjacent, ordered by pack number: walk back to the first, then on.
    const key = Buffer.from(this.key);
    const recordAt = (no: number): { page: Buffer; at: number } => ({ page: this.page(Section.BLOBS, Math.floor(no / BLOBS_PER_PAGE)), at: PAGE_HEADER_BYTES + (no % BLOBS_PER_PAGE) * BLOB_RECORD_BYTES });
    const matches = (no: number): boolean => {
      const r = recordAt(no);
      return compareKeys(r.page, r.at, key, 0, ID_KEY_BYTES) === 0;
    };
    let first = hit.no;
    while (first > 0 && matches(first - 1)) first--;
    const out: BlobLocation[] = [];
    for (let no = first; no < this.blobCount && (no === hit.no || matches(no)); no++) {
      const { page, at } = recordAt(no);
      const r = readBlobRecord(page, at);
      const loc = { packId: this.packIdByNumber(r.packNo), type: r.type, offset: r.offset, length: r.length, rawLength: r.rawLength };
      if (!out.some((o) => o.packId === loc.packId && o.offset === loc.offset)) out.push(loc);
      if (firstOnly) break;
    }
    return out;
  }

  hasPack(id: PackId): boolean {
    this.key.write(id, 'hex');
    return this.find(Section.PACKS_SORTED, this.packFence, PACKS_PER_PAGE, PACK_RECORD_BYTES, this.packsSorted, this.key) !== null;
  }

  /**
   * The number of the blob's first record (the entry `lookup` gives), or -1: a position in
   * 0..blobCount-1 that maintenance commands key their bit sets by (src/disk-index/scan-index.ts).
   */
  firstRecordNo(id: BlobId): number {
    if (!this.filter.mayContainHex(id)) return -1;
    this.key.write(id, 'hex');
    const hit = this.find(Section.BLOBS, this.blobFence, BLOBS_PER_PAGE, BLOB_RECORD_BYTES, this.blobCount, this.key);
    if (!hit) return -1;
    let first = hit.no;
    while (first > 0) {
      const page = this.page(Section.BLOBS, Math.floor((first - 1) / BLOBS_PER_PAGE));
      if (compareKeys(page, PAGE_HEADER_BYTES + ((first - 1) % BLOBS_PER_PAGE) * BLOB_RECORD_BYTES, this.key, 0, ID_KEY_BYTES) !== 0) break;
      first--;
    }
    return first;
  }

  /** The id of pack number `no` (the numbers blob records carry). */
  packIdOf(no: number): PackId {
    return this.packIdByNumber(no);
  }

  private packIdByNumber(no: number): PackId {
    if (no >= this.packCount) throw new CacheDamagedError(this.path, `pack number ${no} is out of range`);
    const page = this.page(Section.PACKS_BY_NUMBER, Math.floor(no / PACKS_PER_PAGE));
    const at = PAGE_HEADER_BYTES + (no % PACKS_PER_PAGE) * PACK_RECORD_BYTES;
    return page.toString('hex', at, at + PACK_RECORD_BYTES) as PackId;
  }

  /** Every record of a section in order, read a page at a time past the cache (for merging runs). */
  cursor(s: typeof Section.BLOBS | typeof Section.PACKS_SORTED | typeof Section.PACKS_BY_NUMBER): RecordCursor {
    const e = this.extent(s);
    const rb = s === Section.BLOBS ? BLOB_RECORD_BYTES : PACK_RECORD_BYTES;
    const per = s === Section.BLOBS ? BLOBS_PER_PAGE : PACKS_PER_PAGE;
    const total = s === Section.BLOBS ? this.blobCount : s === Section.PACKS_SORTED ? this.packsSorted : this.packCount;
    const page = Buffer.allocUnsafeSlow(PAGE_BYTES);
    let pg = -1;
    let i = 0;
    let inPage = 0;
    const load = (): void => {
      pg++;
      readPage(this.fd, e.start + pg, page, this.path);
      checkPage(page, this.fileId, s, e.start + pg, this.mac, this.path);
      inPage = 0;
    };
    if (total > 0) load();
    return {
      get buf() {
        return i < total ? page : null;
      },
      get at() {
        return PAGE_HEADER_BYTES + inPage * rb;
      },
      advance: () => {
        i++;
        inPage++;
        if (i < total && inPage === per) load();
      },
      close: () => undefined,
    };
  }

  /** Bytes this run keeps in memory: fences, filter and index ids. */
  get memoryBytes(): number {
    return this.blobFence.byteLength + this.packFence.byteLength + this.filter.bits.byteLength + (this.indexIds.length + this.supersedes.length + this.skippedIds.length) * 100;
  }

  close(): void {
    this.cache.forget(this.owner);
    closeSync(this.fd);
  }
}

function toU32(b: Buffer): Uint32Array {
  const out = new Uint32Array(b.length / 4);
  for (let i = 0; i < out.length; i++) out[i] = b.readUInt32LE(4 * i);
  return out;
}
