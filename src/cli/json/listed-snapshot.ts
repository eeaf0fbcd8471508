// A snapshot as `snapshots`, `forget` and `ls` print it with --json: restic's Snapshot object
// (snapshotJson, docs/json/snapshot.schema.json), also for a snapshot stored without its optional
// summary. FORMAT.md "Snapshots" makes `summary` optional (other writers, and restic before 0.17,
// leave it out; `engine snapshots` lists such a snapshot, test/integration/cli-faults.test.ts):
// restic then prints no `summary` either, and so does engine, rather than stop on it.
import type { Snapshot } from '../../format/snapshot.js';
import { snapshotJson } from './snapshot-json.js';

// What snapshotJson needs to build restic's required summary fields (and backup_end).
const NEEDED = ['filesNew', 'filesChanged', 'filesUnmodified', 'bytesAddedRaw', 'bytesAddedStored', 'totalBytes', 'durationSeconds'] as const;

function summaryUsable(summary: unknown): boolean {
  if (typeof summary !== 'object' || summary === null) return false;
  const s = summary as Record<string, unknown>;
  return NEEDED.every((k) => typeof s[k] === 'number' && Number.isFinite(s[k]));
}

/** snapshotJson, without `summary` when the stored one is missing or lacks restic's counters. */
export function listedSnapshotJson(id: string, s: Snapshot): Record<string, unknown> {
  if (summaryUsable(s.summary)) return snapshotJson(id, s);
  const zero = Object.fromEntries(NEEDED.map((k) => [k, 0]));
  const json = snapshotJson(id, { ...s, summary: zero as unknown as Snapshot['summary'] });
  delete json.summary;
  return json;
}
