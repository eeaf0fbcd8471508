// backup's flags that choose the parent snapshot and the run's time and read concurrency, with
// restic's names and semantics: --parent ID, --force, --time, --read-concurrency.
import { UsageError } from '../errors/engine-error.js';
import type { SnapshotId } from '../format/ids.js';
import type { Snapshot } from '../format/snapshot.js';
import { systemClock } from '../util/clock.js';

/** What choosing a parent reads of the repository (Repository has it). */
export interface SnapshotLister {
  listSnapshots(): Promise<{ id: SnapshotId; snapshot: Snapshot }[]>;
  resolveSnapshot(ref: string): Promise<{ id: SnapshotId; snapshot: Snapshot }>;
}

export interface ParentFlags {
  /** This snapshot as the parent instead of the automatic one. */
  parent?: string;
  /** Read every file again: no parent at all (restic's --force, which overrides --parent). */
  force?: boolean;
}

/**
 * The snapshot's time: now, or --time "YYYY-MM-DD HH:MM:SS" read in local time (restic's layout).
 * It is also the limit of the automatic parent (none newer than it) and the mtime of --stdin's file.
 */
export function backupTime(given: string | undefined): Date {
  if (given === undefined) return systemClock.now();
  const m = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2}):(\d{2})$/.exec(given);
  const [y, mo, d, h, mi, s] = (m ?? []).slice(1).map(Number) as number[];
  const t = m ? new Date(y!, mo! - 1, d!, h!, mi!, s!) : null;
  // Round-tripped: a day or hour out of range (2024-02-30) is refused, not carried into the next month.
  if (!t || t.getFullYear() !== y || t.getMonth() !== mo! - 1 || t.getDate() !== d || t.getHours() !== h || t.getMinutes() !== mi || t.getSeconds() !== s) {
    throw new UsageError(`--time ${JSON.stringify(given)} is not a time as YYYY-MM-DD HH:MM:SS`, { hint: "give the local time of the backup, e.g. --time '2012-11-01 22:08:41'" });
  }
  return t;
}

/** --read-concurrency N: files read at once (at least 1); undefined when not given (the plan's choice). */
export function readConcurrency(given: string | undefined): number | undefined {
  if (given === undefined) return undefined;
  const n = /^[0-9]+$/.test(given) ? Number(given) : NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > 1024) throw new UsageError(`--read-concurrency ${JSON.stringify(given)} is not a number of files from 1 to 1024`, { hint: 'e.g. --read-concurrency 4 (the default comes from the memory plan)' });
  return n;
}

/**
 * The parent snapshot, as restic finds it: none with --force; the one --parent names (any host
 * and paths; one that does not exist is an error); none for --stdin; else the latest snapshot of
 * the same host and paths that is not newer than the backup's time.
 */
export async function chooseParent(repo: SnapshotLister, flags: ParentFlags, run: { host: string; paths: string[]; time: Date; stdin: boolean }): Promise<{ id: SnapshotId; snapshot: Snapshot } | undefined> {
  if (flags.force) return undefined;
  if (flags.parent !== undefined) return repo.resolveSnapshot(flags.parent);
  if (run.stdin) return undefined;
  const limit = run.time.getTime();
  // Sorted by time, oldest first.
  const all = await repo.listSnapshots();
  return [...all].reverse().find((s) => s.snapshot.hostname === run.host && Date.parse(s.snapshot.time) <= limit && sameBackupPaths(s.snapshot.paths, run.paths));
}

/** Two snapshots are of the same backup paths (restic's rule for a parent): the same list, in any order. */
export function sameBackupPaths(a: readonly string[], b: readonly string[]): boolean {
  return JSON.stringify([...a].sort()) === JSON.stringify([...b].sort());
}
