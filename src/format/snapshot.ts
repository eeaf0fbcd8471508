// Snapshot objects (FORMAT.md "Snapshots"): JSON, sealed. One per backup run.
import { ErrorCode, FormatError } from '../errors/engine-error.js';
import { type BlobId, type SnapshotId, parseId } from './ids.js';

export interface SnapshotSummary {
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
  dirs: number;
  /** Bytes of file contents read from the source during this backup. */
  bytesRead: number;
  /** Files whose contents were read (0 for a backup of an unchanged tree). */
  filesRead: number;
  /** Total size of the files in the snapshot. */
  totalBytes: number;
  blobsNew: number;
  bytesAddedRaw: number;
  bytesAddedStored: number;
  errors: number;
  durationSeconds: number;
}

export interface Snapshot {
  version: 1;
  time: string;
  tree: BlobId;
  paths: string[];
  hostname: string;
  username: string;
  uid: number;
  gid: number;
  tags: string[];
  parent?: SnapshotId;
  /**
   * The snapshot this one replaces after its tags were changed (`engine tag`, as restic's
   * `original`): the first one's id, kept across later changes. Optional (FORMAT.md "Snapshots").
   */
  original?: SnapshotId;
  /**
   * Set by `engine copy`: the id of the snapshot this one was copied from, in the repository it
   * was copied from, so that the next copy knows it is there. Optional (FORMAT.md "Snapshots").
   */
  copiedFrom?: SnapshotId;
  summary: SnapshotSummary;
}

export function encodeSnapshot(s: Snapshot): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(s));
}

export function decodeSnapshot(bytes: Uint8Array, what: string): Snapshot {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as Record<string, unknown>;
  } catch (err) {
    throw new FormatError(ErrorCode.FORMAT_CORRUPT, `${what}: not a snapshot (${err instanceof Error ? err.message : String(err)})`);
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new FormatError(ErrorCode.FORMAT_CORRUPT, `${what}: not a JSON object`);
  if (o.version !== 1) throw new FormatError(ErrorCode.FORMAT_UNSUPPORTED, `${what}: snapshot version ${String(o.version)} is not supported`);
  if (typeof o.time !== 'string' || !Array.isArray(o.paths)) throw new FormatError(ErrorCode.FORMAT_CORRUPT, `${what}: malformed snapshot`);
  parseId<BlobId>(String(o.tree), `${what}: tree`);
  if (o.parent !== undefined) parseId<SnapshotId>(String(o.parent), `${what}: parent`);
  if (o.original !== undefined) parseId<SnapshotId>(String(o.original), `${what}: original`);
  if (o.copiedFrom !== undefined) parseId<SnapshotId>(String(o.copiedFrom), `${what}: copiedFrom`);
  return o as unknown as Snapshot;
}
