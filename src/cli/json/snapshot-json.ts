// A snapshot as --json prints it (snapshots, forget, ls): restic's Snapshot object, key for key
// (time, parent, tree, paths, hostname, username, uid, gid, excludes, tags, program_version,
// summary, id, short_id), so the tools written around restic's output read engine's. The schema
// is docs/json/snapshot.schema.json; docs/JSON.md says what differs.
import type { Snapshot } from '../../format/snapshot.js';

/** restic's counters: without all of them a stored summary is not shown (other writers leave it out). */
const NEEDED = ['filesNew', 'filesChanged', 'filesUnmodified', 'bytesAddedRaw', 'bytesAddedStored', 'totalBytes', 'durationSeconds'] as const;

/**
 * restic's SnapshotSummary from what engine records, or null when the snapshot holds none that
 * is usable: FORMAT.md "Snapshots" makes `summary` optional (other writers, and restic before
 * 0.17, leave it out; test/integration/cli-faults.test.ts lists such a snapshot), and restic then
 * prints no `summary` either. restic's dirs_new/dirs_changed/dirs_unmodified and
 * data_blobs/tree_blobs are not in engine's snapshots (its backup summary line has them): left
 * out rather than made up; engine's own figures follow in snake_case, each when recorded.
 */
export function snapshotSummaryJson(summary: unknown, time: string): Record<string, unknown> | null {
  if (typeof summary !== 'object' || summary === null) return null;
  const s = summary as Record<string, unknown>;
  const n = (k: string): number | undefined => (typeof s[k] === 'number' && Number.isFinite(s[k]) ? (s[k] as number) : undefined);
  if (!NEEDED.every((k) => n(k) !== undefined)) return null;
  const start = Date.parse(time);
  const own = { dirs: n('dirs'), blobs_new: n('blobsNew'), files_read: n('filesRead'), bytes_read: n('bytesRead'), errors: n('errors') };
  return {
    backup_start: time,
    backup_end: Number.isFinite(start) ? new Date(start + Math.round(n('durationSeconds')! * 1000)).toISOString() : time,
    files_new: n('filesNew'),
    files_changed: n('filesChanged'),
    files_unmodified: n('filesUnmodified'),
    data_added: n('bytesAddedRaw'),
    data_added_packed: n('bytesAddedStored'),
    total_files_processed: n('filesNew')! + n('filesChanged')! + n('filesUnmodified')!,
    total_bytes_processed: n('totalBytes'),
    // engine's own
    ...Object.fromEntries(Object.entries(own).filter(([, v]) => v !== undefined)),
    duration_seconds: n('durationSeconds'),
  };
}

/** restic's Snapshot object; `original` and `copied_from` when set, `summary` when usable. */
export function snapshotJson(id: string, s: Snapshot): Record<string, unknown> {
  const summary = snapshotSummaryJson(s.summary, s.time);
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
    ...(summary ? { summary } : {}),
    id,
    short_id: id.slice(0, 8),
  };
}
