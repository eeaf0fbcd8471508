// What a caller gives a restore (RestoreOptions) and what it reads back (RestoreCounters). Kept
// apart from the classes that do the work so the CLI, the benchmark and each part of the restorer
// can name them without importing any of that work.
import type { NotKeptNotices, PosixOps } from '../../native-bindings/posix/index.js';
import type { PatternSource } from '../filter/pattern.js';

export interface RestoreOptions {
  /**
   * restic's --include patterns (src/filter/pattern.ts), matched against each entry's path in the
   * snapshot ("/home/docs/a.txt"): restore only what they match. Empty: everything.
   */
  include: readonly PatternSource[];
  /** restic's --exclude patterns: restore everything but what they match (not with `include`). */
  exclude?: readonly PatternSource[];
  /**
   * What to do with an entry already at a file's, symlink's or special's place in the target
   * (restic's --overwrite): 'always' replaces it (the default), 'if-changed' keeps a regular file
   * of the same size and modification time, 'if-newer' keeps anything not older than the
   * snapshot's entry, 'never' keeps anything there.
   */
  overwrite?: OverwriteMode;
  /** Remove what the target's folders hold that the snapshot's do not (restic's --delete), within the selection. */
  deleteExtra?: boolean;
  /**
   * Folders --delete never removes, nor any folder holding one (real paths, with why): the
   * repository being read and its cache, which a backup leaves out of its snapshots.
   */
  protectedFolders?: readonly { readonly path: string; readonly why: string }[];
  /** Keep the paths of the entries kept by `overwrite` (Restorer.skippedPaths), for --verify to pass them by. */
  rememberSkipped?: boolean;
  /**
   * Bytes for everything restore holds: the plan (kept on the heap, a file and a blob at a time)
   * and the ranges in flight get what the plan leaves, never less than `minRangeBudgetBytes`.
   */
  readBudgetBytes: number;
  minRangeBudgetBytes: number;
  readsInFlight: number;
  /**
   * The range budget holds at least this many of the largest ranges. Against a remote store,
   * more and smaller ranges keep more requests in flight, so the latency of one is hidden behind
   * the transfer of the others (4 suits a local disk; 8 hides 50 ms at a 256 MiB budget).
   */
  rangesPerBudget: number;
  /** Most bytes one request holds in flight: the range read from a pack plus its plaintext. */
  maxRangeBytes: number;
  /** Restore owners (only meaningful, and only attempted, when running as root). */
  restoreOwnership: boolean;
  signal?: AbortSignal;
  /** An entry not restored as it is in the snapshot (exit 3), or damaged (exit 4 when the restore ends). */
  onProblem: (p: { path: string; message: string }) => void;
  /** Something of the wrong type that stood in the target was replaced (not a problem: the entry was restored). */
  onNotice?: (p: { path: string; message: string }) => void;
  /** Each file restored, entry left as it was (--overwrite) or deleted (--delete), for -vv. */
  onItem?: (p: { action: 'restored' | 'unchanged' | 'deleted'; path: string; size: number }) => void;
  /**
   * The OS calls of native-bindings/posix (nanosecond times, xattrs, mknodat) and the run's "not
   * kept" notices. Without them: Node's calls alone (times to the microsecond, no xattrs, no
   * FIFOs or device nodes), as `ENGINE_POSIX=off` gives.
   */
  posix?: { readonly ops: PosixOps; readonly notices?: NotKeptNotices };
  /**
   * A pack, or a blob in it, that could not be read, while the blobs have other indexed copies
   * that are read instead (said once per pack). Not a problem of any file: when no copy serves,
   * the files are damaged (onProblem, exit 4).
   */
  onRepositoryNotice?: (message: string) => void;
  /** How the target's folders are opened (tests force the fallback without /proc). */
  dirHandles?: { procFd?: boolean; maxOpen?: number };
}

export type OverwriteMode = 'always' | 'if-changed' | 'if-newer' | 'never';

export interface RestoreCounters {
  /** Files restored complete: data, size and metadata in place. */
  files: number;
  dirs: number;
  symlinks: number;
  hardlinks: number;
  bytesWritten: number;
  bytesTotal: number;
  /** Files planned so far (restic's total_files: it grows as the snapshot's folders are read). */
  filesTotal: number;
  /** Files whose data is damaged in the repository (they hold zeros where it was lost). */
  damagedFiles: string[];
  /** Entries the target refused (out of space, an I/O error, something in the way): not restored. */
  notRestored: string[];
  /** Entries not restored for want of space (files, and folders with all they hold). */
  noSpaceEntries: number;
  /** Bytes of the files not restored for want of space: what the target lacks (at least, when folders are among them). */
  spaceNeededBytes: number;
  /** Folders not created for want of space: what they hold is not known, so spaceNeededBytes is a lower bound. */
  noSpaceFolders: number;
  /** FIFOs and device nodes created. */
  specials: number;
  /** FIFOs and device nodes not created because this platform has no mknod (said once, through the notices). */
  specialsNotMade: number;
  /** Blobs read from another indexed location after the first failed. */
  blobRetries: number;
  /** Entries left as they were in the target (--overwrite), and the bytes of the files among them. */
  skipped: number;
  skippedBytes: number;
  /** Entries of the target removed by --delete (a folder counts once, with all it held). */
  deleted: number;
}

