// restic's "status" messages (backup --json, restore --json), made of the progress figures the
// terminal line shows (src/cli/progress.ts). Schemas: docs/json/backup.schema.json and
// docs/json/restore.schema.json.
import { displayName } from '../../fs/names.js';
import { fractionDone, type ProgressFigures } from '../progress.js';

/** Below 1 until everything is stored (as the line's 100%); 0 while the total is not known. */
function percentDone(f: ProgressFigures): number {
  return fractionDone(f) ?? 0;
}

export function backupStatus(f: ProgressFigures): Record<string, unknown> {
  const rate = f.seconds > 0 ? f.bytes / f.seconds : 0;
  const left = !f.done && f.totalBytes !== null && rate > 0 ? Math.max(0, Math.round((f.totalBytes - f.bytes) / rate)) : null;
  return {
    message_type: 'status',
    seconds_elapsed: Math.floor(f.seconds),
    ...(left !== null ? { seconds_remaining: left } : {}),
    percent_done: percentDone(f),
    // Totals once the scan that counts them is done (restic's grow as its scan goes).
    ...(f.filesTotal !== null ? { total_files: f.filesTotal } : {}),
    files_done: f.files,
    ...(f.totalBytes !== null ? { total_bytes: f.totalBytes } : {}),
    bytes_done: f.bytes,
    error_count: f.errors,
    current_files: f.current ? [displayName(f.current)] : [],
    // engine's own: what the repository holds of it so far (packs written).
    ...(f.stored !== null ? { bytes_stored: f.stored } : {}),
  };
}

export interface RestoreStatusCounters {
  filesTotal: number;
  skipped: number;
  skippedBytes: number;
  deleted: number;
}

export function restoreStatus(f: ProgressFigures, c: RestoreStatusCounters): Record<string, unknown> {
  return {
    message_type: 'status',
    seconds_elapsed: Math.floor(f.seconds),
    percent_done: percentDone(f),
    total_files: c.filesTotal,
    files_restored: f.files,
    files_skipped: c.skipped,
    files_deleted: c.deleted,
    total_bytes: f.totalBytes ?? 0,
    bytes_restored: f.bytes,
    bytes_skipped: c.skippedBytes,
  };
}
