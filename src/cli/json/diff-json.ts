// `engine diff --json` in restic's shapes (cmd/restic/cmd_diff.go): one line per change,
// {"message_type":"change","path","modifier"}, then {"message_type":"statistics",...}. The
// schema is docs/json/diff.schema.json; docs/json/diff.md says what differs from restic.
import type { Change, Difference } from '../../inspect/diff.js';
import type { DiffCount, DiffStatistics } from '../../inspect/diff-stats.js';

/** restic's modifier letters: + added, - removed, T type changed, M contents changed (M? probable bitrot), U metadata only. */
export const MODIFIER: Record<Change, string> = { added: '+', removed: '-', modified: 'M', type: 'T', metadata: 'U' };

/** restic's change line; `path` already escaped for printing. A folder's path ends with '/' (restic adds it to a type change too). */
export function changeJson(d: Difference, path: string): Record<string, unknown> {
  const shown = d.change === 'type' && d.type === 'dir' ? `${path}/` : path;
  return { message_type: 'change', path: shown, modifier: `${MODIFIER[d.change]}${d.bitrot ? '?' : ''}` };
}

const countJson = (c: DiffCount): Record<string, number> => ({ files: c.files, dirs: c.dirs, others: c.others, data_blobs: c.dataBlobs, tree_blobs: c.treeBlobs, bytes: c.bytes });

/** restic's statistics line; the snapshots by their full ids. */
export function statisticsJson(source: string, target: string, s: DiffStatistics): Record<string, unknown> {
  return { message_type: 'statistics', source_snapshot: source, target_snapshot: target, changed_files: s.changedFiles, added: countJson(s.added), removed: countJson(s.removed) };
}
