import { UsageError } from '../../errors/engine-error.js';
import { newestPerHostAndPaths, selectSnapshots } from '../../repository/snapshot-filter.js';
import { repoLocation, type GlobalOptions } from '../context.js';
import { displayName } from '../../fs/names.js';
import type { Output } from '../output.js';
import { localTime } from '../node-format.js';
import { openRepository } from '../session.js';
import { snapshotFilterFromFlags, warnFilterIgnored, type SnapshotFilterFlags } from '../snapshot-filter-flags.js';
import { formatBytes } from '../../util/bytes.js';
import { snapshotJson } from '../json/snapshot-json.js';

export interface SnapshotsFlags extends GlobalOptions, SnapshotFilterFlags {
  latest?: string;
}

/**
 * Lists the snapshots named, or those the filter keeps (all without one), oldest first; with
 * `--latest n`, only the n newest of each host and set of paths (restic's `snapshots --latest`).
 * --json: restic's one array of Snapshot objects (docs/json/snapshots.schema.json).
 */
export async function snapshotsCommand(refs: string[], flags: SnapshotsFlags, out: Output): Promise<number> {
  const latest = latestCount(flags.latest);
  const filter = snapshotFilterFromFlags(flags);
  const { repo } = await openRepository(flags, out);
  const selection = selectSnapshots(await repo.listSnapshots(), refs, filter, repoLocation(flags));
  if (selection.filterIgnored) warnFilterIgnored(out);
  const all = latest === undefined ? selection.snapshots : newestPerHostAndPaths(selection.snapshots, latest);
  if (out.json) {
    out.data(all.map(({ id, snapshot }) => snapshotJson(id, snapshot)));
    return 0;
  }
  out.result(`${'ID'.padEnd(10)}${'Time'.padEnd(21)}${'Host'.padEnd(16)}${'Tags'.padEnd(16)}${'Size'.padEnd(12)}Paths`);
  for (const { id, snapshot: s } of all) {
    // `summary` is optional (FORMAT.md "Snapshots"; other writers and repair may leave it out):
    // its column stays blank. Host, tags and paths are checked too: a snapshot is never a reason to crash.
    const summary = s.summary as Partial<typeof s.summary> | undefined;
    const size = typeof summary?.totalBytes === 'number' ? formatBytes(summary.totalBytes) : '';
    // Escaped (displayName): a newline in a host, tag or path cannot forge a line.
    const host = typeof s.hostname === 'string' ? displayName(s.hostname) : '';
    const tags = Array.isArray(s.tags) ? s.tags.map((t) => displayName(String(t))).join(',') : '';
    const paths = s.paths.map((p) => displayName(String(p))).join(', ');
    // Local time, as restic prints it (TZ applies); the zone is named under the table.
    const when = Number.isFinite(Date.parse(s.time)) ? localTime(Date.parse(s.time)) : String(s.time).slice(0, 19);
    out.result(`${id.slice(0, 8).padEnd(10)}${when.padEnd(21)}${host.slice(0, 15).padEnd(16)}${tags.padEnd(15)} ${size.padEnd(12)}${paths}`);
  }
  out.result(`${all.length} snapshot(s), times in ${zoneName()}`);
  return 0;
}

function latestCount(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text) || Number(text) === 0) throw new UsageError(`--latest "${text}" is not a count above 0`, { hint: 'give how many of the newest snapshots of each host and set of paths to show, e.g. --latest 1' });
  return Number(text);
}

/** The local time zone as people read it: "Europe/Paris (UTC+01:00)", "UTC". */
function zoneName(): string {
  const name = Intl.DateTimeFormat().resolvedOptions().timeZone || 'local time';
  const minutes = -new Date().getTimezoneOffset();
  if (minutes === 0 && (name === 'UTC' || name === 'Etc/UTC')) return 'UTC';
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return `${name} (UTC${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')} now)`;
}
