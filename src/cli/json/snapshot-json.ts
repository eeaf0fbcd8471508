// A snapshot as --json prints it (snapshots, forget, ls): restic's Snapshot object, key for key
// (time, parent, tree, paths, hostname, username, uid, gid, excludes, tags, program_version,
// summary, id, short_id), so the tools written around restic's output read engine's. The schema
// is docs/json/snapshot.schema.json; docs/JSON.md says what differs.
import type { Snapshot, SnapshotSummary } from '../../format/snapshot.js';

/**
 * restic's SnapshotSummary from what engine records. restic's dirs_new/dirs_changed/
 * dirs_unmodified and data_blobs/tree_blobs are not in engine's snapshots (its backup summary line
 * has them): left out rather than made up; engine's own figures follow in snake_case.
 */
export function snapshotSummaryJson(s: SnapshotSummary, time: string): Record<string, unknown> {
  const start = Date.parse(time);
  return {
    backup_start: time,
    backup_end: Number.isFinite(start) ? new Date(start + Math.round(s.durationSeconds * 1000)).toISOString() : time,
    files_new: s.filesNew,
    files_changed: s.filesChanged,
    files_unmodified: s.filesUnmodified,
    data_added: s.bytesAddedRaw,
    data_added_packed: s.bytesAddedStored,
    total_files_processed: s.filesNew + s.filesChanged + s.filesUnmodified,
    total_bytes_processed: s.totalBytes,
    // engine's own
    dirs: s.dirs,
    blobs_new: s.blobsNew,
    files_read: s.filesRead,
    bytes_read: s.bytesRead,
    errors: s.errors,
    duration_seconds: s.durationSeconds,
  };
}

/** restic's Snapshot object; `original` and `copied_from` when set. */
export function snapshotJson(id: string, s: Snapshot): Record<string, unknown> {
  return {
    time: s.time,
    ...(s.parent ? { parent: s.parent } : {}),
    tree: s.tree,
    paths: s.paths,
    hostname: s.hostname,
    username: s.username,
    uid: s.uid,
    gid: s.gid,
    tags: s.tags,
    ...(s.original ? { original: s.original } : {}),
    ...(s.copiedFrom ? { copied_from: s.copiedFrom } : {}),
    summary: snapshotSummaryJson(s.summary, s.time),
    id,
    short_id: id.slice(0, 8),
  };
}
