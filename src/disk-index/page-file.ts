// The local index cache is a file of 4 KiB pages (docs/MEMORY.md "The index off the heap"), each
// authenticated on its own so that a lookup reads and checks one page, never the whole file:
//
//   page = mac (16) | file id (8) | section (1) | zero (3) | page number u32le | payload (4064)
//
// mac = the first 16 bytes of keyed BLAKE3(cache key, everything after the mac). The file id and
// page number bind a page to its place: a page copied from another file or position fails its
// check. The cache key is derived from the master key, so only someone who can open the
// repository can write a cache that engine believes ("this blob is stored" must never be forged,
// or a backup would reference data that is not there).
import { closeSync, fsyncSync, openSync, readSync, renameSync, writeSync } from 'node:fs';
import { CacheDamagedError } from './errors.js';

export const PAGE_BYTES = 4096;
export const PAGE_HEADER_BYTES = 32;
export const PAGE_PAYLOAD_BYTES = PAGE_BYTES - PAGE_HEADER_BYTES;
const MAC_BYTES = 16;
export const FILE_ID_BYTES = 8;

/** keyed BLAKE3 under the cache key (32 bytes out). */
export type MacFn = (data: Uint8Array) => Uint8Array;

export const Section = {
  HEADER: 0,
  BLOBS: 1,
  PACKS_SORTED: 2,
  PACKS_BY_NUMBER: 3,
  BLOB_FENCE: 4,
  PACK_FENCE: 5,
  FILTER: 6,
  INDEX_IDS: 7,
  /** Index objects the run's objects supersede (run version 2). */
  SUPERSEDES: 8,
  /** Index objects the run covers whose entries were left out, superseded (run version 2). */
  SKIPPED_IDS: 9,
} as const;
export type Section = (typeof Section)[keyof typeof Section];

export function sealPage(page: Buffer, fileId: Uint8Array, section: Section, pageNo: number, mac: MacFn): void {
  page.set(fileId, MAC_BYTES);
  page[24] = section;
  page[25] = page[26] = page[27] = 0;
  page.writeUInt32LE(pageNo, 28);
  page.set(mac(page.subarray(MAC_BYTES)).subarray(0, MAC_BYTES), 0);
}

/** Throws CacheDamagedError unless the page is the one expected at this place and unaltered. */
export function checkPage(page: Buffer, fileId: Uint8Array, section: Section, pageNo: number, mac: MacFn, file: string): void {
  const want = mac(page.subarray(MAC_BYTES));
  let ok = page[24] === section && page.readUInt32LE(28) === pageNo;
  for (let i = 0; ok && i < FILE_ID_BYTES; i++) ok = page[MAC_BYTES + i] === fileId[i];
  for (let i = 0; ok && i < MAC_BYTES; i++) ok = page[i] === want[i];
  if (!ok) throw new CacheDamagedError(file, `page ${pageNo} (section ${section}) fails its check`);
}

/**
 * Writes pages in order to a temporary file, buffered; page 0 (the header) is written last, then
 * the file is synced and renamed into place, so a reader never sees a partial cache file.
 */
export class PageWriter {
  private readonly fd: number;
  private readonly buf = Buffer.allocUnsafeSlow(64 * PAGE_BYTES);
  private used = 0;
  /** The next page's number (page 0 is the header). */
  nextPage = 1;
  private readonly tmpPath: string;
  readonly finalPath: string;
  readonly fileId: Uint8Array;
  private readonly mac: MacFn;

  constructor(finalPath: string, fileId: Uint8Array, mac: MacFn) {
    this.finalPath = finalPath;
    this.tmpPath = `${finalPath}.tmp-${process.pid}`;
    this.fd = openSync(this.tmpPath, 'w', 0o600);
    this.fileId = fileId;
    this.mac = mac;
  }

  /** Appends one page holding `payload` (at most PAGE_PAYLOAD_BYTES; the rest is zero). */
  writePage(section: Section, payload: Uint8Array): number {
    if (this.used === this.buf.length) this.flush();
    const page = this.buf.subarray(this.used, this.used + PAGE_BYTES);
    page.set(payload, PAGE_HEADER_BYTES);
    page.fill(0, PAGE_HEADER_BYTES + payload.length);
    sealPage(page, this.fileId, section, this.nextPage, this.mac);
    this.used += PAGE_BYTES;
    return this.nextPage++;
  }

  private flush(): void {
    let off = 0;
    while (off < this.used) off += writeSync(this.fd, this.buf, off, this.used - off, (this.nextPage - this.used / PAGE_BYTES) * PAGE_BYTES + off);
    this.used = 0;
  }

  /** Writes the header page and moves the file into place. */
  finish(header: Uint8Array): void {
    this.flush();
    const page = Buffer.alloc(PAGE_BYTES);
    page.set(header, PAGE_HEADER_BYTES);
    sealPage(page, this.fileId, Section.HEADER, 0, this.mac);
    writeSync(this.fd, page, 0, PAGE_BYTES, 0);
    fsyncSync(this.fd);
    closeSync(this.fd);
    renameSync(this.tmpPath, this.finalPath);
  }

  abandon(): void {
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
  }
}

/** Reads whole pages at positions (synchronously: a page read costs less than a turn of the event loop). */
export function readPage(fd: number, pageNo: number, into: Buffer, file: string): void {
  let got = 0;
  while (got < PAGE_BYTES) {
    const n = readSync(fd, into, got, PAGE_BYTES - got, pageNo * PAGE_BYTES + got);
    if (n === 0) throw new CacheDamagedError(file, `page ${pageNo} is past the end of the file (truncated)`);
    got += n;
  }
}
