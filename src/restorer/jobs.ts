// The restore plan's shapes, shared by its parts: a file to write (FileJob), where a blob goes in
// it (Target), a blob to read from a pack for those places (PlannedBlob), and a batch of them by
// pack (PlanBatch); and the entries finished only at the end (folders, symlinks, hardlinks). Types
// only: the planner fills them, the pack reader, the file writer and the Restorer use them.
import type { BlobId, PackId } from '../format/ids.js';
import type { TreeNode } from '../format/tree.js';

export interface FileJob {
  /** The folder (relative to the target) and the name: the file is always reached through its folder's handle. */
  readonly dir: string;
  readonly name: string;
  readonly node: TreeNode;
  /** Blob uses planned for this file, and how many are still to be written. */
  blobs: number;
  remaining: number;
  damaged: boolean;
  /** The target refused a write (or the creation): what was written is removed and the file named. */
  failed: boolean;
  /** Nothing more to do (written with its metadata, or given up on). */
  finished: boolean;
  fd: number | null;
  /** The file being created (on the libuv threadpool) for its first blob: later blobs wait for the same descriptor. */
  opening: Promise<number | null> | null;
  /** The inode created, for files other entries are hardlinks of. */
  readonly linked: boolean;
  ino: bigint | null;
  /** Bytes of the plan budget this file holds until it is complete. */
  readonly planCost: number;
}

export interface Target {
  readonly file: FileJob;
  readonly offset: number;
}

export interface PlannedBlob {
  readonly id: BlobId;
  readonly offset: number;
  readonly length: number;
  readonly rawLength: number;
  readonly targets: Target[];
  /** Packs this blob was already tried in and failed (a retry plans it from another location). */
  readonly tried?: readonly PackId[];
}

/** Blobs to read, by pack: one batch of the plan. */
export type PlanBatch = Map<PackId, Map<BlobId, PlannedBlob>>;

/** A folder created while planning: its metadata is set at the end, deepest first. */
export interface PlannedDir {
  readonly rel: string;
  readonly depth: number;
  readonly node: TreeNode;
}

/** A symlink created while planning: its owner, xattrs and times are set at the end. */
export interface PlannedSymlink {
  readonly dir: string;
  readonly name: string;
  readonly node: TreeNode;
}

/** A hardlink of a file planned earlier: linked at the end, once that file is written. */
export interface PlannedHardlink {
  readonly dir: string;
  readonly name: string;
  readonly first: FileJob;
}
