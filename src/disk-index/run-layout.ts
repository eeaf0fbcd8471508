// The layout of a run file of the index cache: its magic, version, sections and records per page.
//
// One file of the index cache (a "run"): every blob entry of a set of index objects, sorted by blob
// id, plus the packs they name, in pages checked one by one (page-file.ts). Layout by section:
//
//   header page | packs by number | blobs (sorted) | packs (sorted) | blob fence | pack fence |
//   filter | index ids | superseded ids | skipped ids
//
// Every entry of a blob is kept (one per index object naming it, in listing order), so a reader
// can try another pack when one is missing. Index objects that another one supersedes are
// covered by the run (listed in "skipped ids") without their entries; "superseded ids" lists
// what the run's objects supersede, so that a later open can tell whether an older run holds
// entries that a newer object has superseded since (FORMAT.md "Index objects").
//
// The fences (the first 8 bytes of the first key of every page), the filter and the index ids
// are read into memory when the run is opened: about 2.1 bytes per blob in all. Blob and pack
// pages are read on demand through the shared PageCache.
import { PAGE_PAYLOAD_BYTES, Section } from './page-file.js';
import { BLOB_RECORD_BYTES, PACK_RECORD_BYTES } from './records.js';

export const MAGIC = Buffer.from('EIXCACH1', 'latin1');
/** 2: every entry of a blob kept, supersedes honoured (version 1 runs are rebuilt). */
export const RUN_VERSION = 2;
export const BLOBS_PER_PAGE = Math.floor(PAGE_PAYLOAD_BYTES / BLOB_RECORD_BYTES); // 84
export const PACKS_PER_PAGE = Math.floor(PAGE_PAYLOAD_BYTES / PACK_RECORD_BYTES); // 127
export const SECTIONS = [Section.PACKS_BY_NUMBER, Section.BLOBS, Section.PACKS_SORTED, Section.BLOB_FENCE, Section.PACK_FENCE, Section.FILTER, Section.INDEX_IDS, Section.SUPERSEDES, Section.SKIPPED_IDS] as const;

/** Where a section lies in the file: its first page and how many pages it takes. */
export interface Extent {
  start: number;
  pages: number;
}
