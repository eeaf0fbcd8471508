// How the scale benchmark's synthetic repository is laid out, as pure functions of the blob count,
// so the synthesis and the harness agree on it (bench/scale-synth.ts writes it).
//
// Data blob i sits in file floor(i / BLOBS_PER_FILE) and in pack floor(i / BLOBS_PER_PACK): a pack
// holds 15 consecutive files. Files are grouped in directories of `filesPerDir` consecutive files
// (at most 1000, and at least 12 directories, so that even a small N has every region; a
// directory of more than ~150 files of 100 blobs makes a chunked tree). SNAPSHOTS snapshots, dated
// a day apart, each hold a subset of the directories, by the directory's place x in [0, 1):
//
//   region A (x < 0.1)        the oldest data: only in snapshots 0 .. d % 3 (all among the
//                             FORGOTTEN first ones): after forget, wholly unused packs;
//   region B (0.1 <= x < 0.4) churned data: even-numbered files only in snapshots 0-2, odd ones in
//                             every snapshot; after forget, packs about half unused (repacked).
//                             The even files' blobs are 512 bytes, not 16-64 (bench/scale-ids.ts):
//                             prune weighs unused bytes, not blobs, and the benchmark's own backups
//                             (1 GiB by default) would otherwise keep the unused share under 5%;
//   region C (x >= 0.4)       data arriving over time: from snapshot k (k grows with x) on.
//
// `forget --keep-last KEEP_LAST` then drops snapshots 0-2, leaving ~25% of the data blobs unused
// (10% in wholly unused packs, 15% spread over the packs of region B, beyond the default 5% of
// --max-unused: at 1M blobs and 1 GiB of --data, ~13% of the stored bytes), plus the tree blobs
// only those snapshots had.
export const SNAPSHOTS = 10;
export const KEEP_LAST = 7;
export const FORGOTTEN = SNAPSHOTS - KEEP_LAST;
export const BLOBS_PER_FILE = 100;
/** Blobs per data pack: the header (41 bytes a blob, sealed) stays within the first 64 KiB read of a pack's tail. */
export const BLOBS_PER_PACK = 1500;
/** Index objects of at most this many blobs, as prune and repair write them (src/format/index-file.ts). */
export const BLOBS_PER_INDEX_OBJECT = 100_000;
const MAX_FILES_PER_DIR = 1000;
const MIN_DIRS = 12;

export interface Layout {
  readonly blobs: number;
  readonly files: number;
  readonly filesPerDir: number;
  readonly dirs: number;
  readonly packs: number;
}

export function layoutOf(blobs: number): Layout {
  const files = Math.ceil(blobs / BLOBS_PER_FILE);
  const filesPerDir = Math.max(1, Math.min(MAX_FILES_PER_DIR, Math.ceil(files / MIN_DIRS)));
  return { blobs, files, filesPerDir, dirs: Math.ceil(files / filesPerDir), packs: Math.ceil(blobs / BLOBS_PER_PACK) };
}

export type Region = 'A' | 'B' | 'C';

export function regionOf(l: Layout, dir: number): Region {
  const x = (dir + 0.5) / l.dirs;
  return x < 0.1 ? 'A' : x < 0.4 ? 'B' : 'C';
}

/** The snapshots (first and last, inclusive) that hold file f. */
export function snapshotsOfFile(l: Layout, f: number): { first: number; last: number } {
  const dir = Math.floor(f / l.filesPerDir);
  const x = (dir + 0.5) / l.dirs;
  switch (regionOf(l, dir)) {
    case 'A':
      return { first: 0, last: dir % FORGOTTEN };
    case 'B':
      return { first: 0, last: f % 2 === 0 ? FORGOTTEN - 1 : SNAPSHOTS - 1 };
    case 'C':
      return { first: Math.min(SNAPSHOTS - 1, Math.floor(((x - 0.4) / 0.6) * SNAPSHOTS)), last: SNAPSHOTS - 1 };
  }
}

/** Blobs of file f (the last file may hold fewer). */
export function blobsOfFile(l: Layout, f: number): { first: number; count: number } {
  const first = f * BLOBS_PER_FILE;
  return { first, count: Math.min(BLOBS_PER_FILE, l.blobs - first) };
}

/** Whether blob i belongs to a churned file (region B, even-numbered): its plaintext is bigger. */
export function isChurnedBlob(l: Layout, i: number): boolean {
  const f = Math.floor(i / BLOBS_PER_FILE);
  return f % 2 === 0 && regionOf(l, Math.floor(f / l.filesPerDir)) === 'B';
}
