// Which snapshots a command considers: restic's SnapshotFilter (--host, --tag, --path), "latest"
// as the newest snapshot the filter keeps, explicit ids (prefixes) taken whatever the filter says,
// and `snapshots --latest N`. Pure: it works on snapshots already listed.
import { posix } from 'node:path';
import { UsageError } from '../errors/engine-error.js';
import type { SnapshotId } from '../format/ids.js';
import type { Snapshot } from '../format/snapshot.js';

export interface SnapshotFilter {
  /** The snapshot's host must be one of these; none: any host. */
  readonly hosts: readonly string[];
  /**
   * restic's TagLists: each list's tags must all be on the snapshot, and one list that is
   * suffices; none: any tags. A list holding only "" matches snapshots without tags.
   */
  readonly tagLists: readonly (readonly string[])[];
  /** Absolute, cleaned: every one must be among the snapshot's paths. */
  readonly paths: readonly string[];
  /**
   * The hosts are the environment's default (ENGINE_HOST, as restic's RESTIC_HOST), not asked for
   * on the command line: ids given ignore them without a warning.
   */
  readonly hostsFromEnvironment?: boolean;
}

export const NO_FILTER: SnapshotFilter = { hosts: [], tagLists: [], paths: [] };

export interface SnapshotFilterInput {
  hosts?: readonly string[];
  /** Each value a comma-separated list of tags (restic's `--tag a,b`). */
  tags?: readonly string[];
  /** Taken from `cwd` when relative. */
  paths?: readonly string[];
}

/** The filter as restic builds it from its flags (cmd/restic/find.go, data/tag_list.go). */
export function makeSnapshotFilter(input: SnapshotFilterInput, cwd: string): SnapshotFilter {
  let hosts = [...(input.hosts ?? [])];
  // restic: a lone `--host ""` means any host (it undoes a default host from the environment).
  if (hosts.length === 1 && hosts[0] === '') hosts = [];
  const tagLists = (input.tags ?? []).map(splitTagList);
  // restic compares filepath.Clean(filepath.Abs(path)) with the stored paths: a trailing slash
  // or a `.` component does not make a path differ.
  const paths = (input.paths ?? []).map((p) => posix.resolve(cwd, p));
  return { hosts, tagLists, paths };
}

/** `a, b,c` → ["a", "b", "c"]: split at commas, spaces around each tag dropped, empty ones kept. */
export function splitTagList(value: string): string[] {
  return value.split(',').map((t) => t.trim());
}

/**
 * Every tag of the lists, without empty ones (restic's TagLists.Flatten): what `tag --add a,b
 * --add c` adds.
 */
export function flattenTagLists(values: readonly string[]): string[] {
  return values.flatMap(splitTagList).filter((t) => t !== '');
}

export function filterIsEmpty(f: SnapshotFilter): boolean {
  return f.hosts.length + f.tagLists.length + f.paths.length === 0;
}

/** The fields a filter reads; a snapshot from the repository may have any of them malformed. */
export type FilterableSnapshot = Pick<Snapshot, 'hostname' | 'tags' | 'paths'>;

export function snapshotMatches(s: FilterableSnapshot, f: SnapshotFilter): boolean {
  const hostname = typeof s.hostname === 'string' ? s.hostname : '';
  const tags = Array.isArray(s.tags) ? s.tags : [];
  const paths = Array.isArray(s.paths) ? s.paths : [];
  if (f.hosts.length > 0 && !f.hosts.includes(hostname)) return false;
  if (f.tagLists.length > 0 && !f.tagLists.some((list) => hasTags(tags, list))) return false;
  return f.paths.every((p) => paths.includes(p));
}

/** restic's Snapshot.HasTags, "" included: it stands for "no tags at all". */
function hasTags(tags: readonly string[], list: readonly string[]): boolean {
  for (const t of list) {
    if (t === '' && tags.length === 0) return true;
    if (!tags.includes(t)) return false;
  }
  return true;
}

/** The filter as flags, for messages: `--host a --tag x,y --path /srv`. */
export function describeFilter(f: SnapshotFilter): string {
  const q = (v: string): string => (v === '' || /[\s"'\\]/.test(v) ? JSON.stringify(v) : v);
  return [...f.hosts.map((h) => `--host ${q(h)}`), ...f.tagLists.map((l) => `--tag ${q(l.join(','))}`), ...f.paths.map((p) => `--path ${q(p)}`)].join(' ');
}

export interface ListedSnapshot {
  readonly id: SnapshotId;
  readonly snapshot: Snapshot;
}

/**
 * The newest snapshot the filter keeps, of a list sorted oldest first (as
 * Repository.listSnapshots returns it); of two at the same time, the one listed last.
 */
export function latestMatching<T extends ListedSnapshot>(sorted: readonly T[], f: SnapshotFilter): T | undefined {
  for (let i = sorted.length - 1; i >= 0; i--) if (snapshotMatches(sorted[i]!.snapshot, f)) return sorted[i];
  return undefined;
}

export function noSnapshotMatches(f: SnapshotFilter, location: string): UsageError {
  if (filterIsEmpty(f)) return new UsageError(`the repository ${location} has no snapshots`, { hint: 'run `engine backup` first' });
  const fromEnv = f.hostsFromEnvironment ? '; the host is ENGINE_HOST\'s, and `--host ""` considers every host' : '';
  return new UsageError(`no snapshot matches ${describeFilter(f)}`, { hint: `list the snapshots with \`engine snapshots\` (it takes the same --host, --tag and --path)${fromEnv}` });
}

/** The one snapshot whose id is `ref` or starts with it (4 hex digits at least). */
export function findById<T extends ListedSnapshot>(all: readonly T[], ref: string): T {
  if (!/^[0-9a-f]{4,64}$/.test(ref)) throw new UsageError(`"${ref}" is not a snapshot id`, { hint: 'give "latest", a snapshot id or a prefix of at least 4 hex digits (see `engine snapshots`)' });
  const matches = all.filter((s) => s.id.startsWith(ref));
  if (matches.length === 0) throw new UsageError(`no snapshot matches "${ref}"`, { hint: 'list them with `engine snapshots`' });
  if (matches.length > 1) throw new UsageError(`"${ref}" matches ${matches.length} snapshots`, { hint: 'give more digits of the id' });
  return matches[0]!;
}

export interface Selection<T> {
  /** Oldest first, each once. */
  readonly snapshots: T[];
  /** Ids were given and none was "latest": the filter chose nothing (restic warns so). */
  readonly filterIgnored: boolean;
}

/**
 * The snapshots a command that takes several works on (restic's SnapshotFilter.FindAll): with
 * no refs, every snapshot the filter keeps; else each ref, "latest" being the newest the filter
 * keeps and an id taken whatever the filter says. A ref that names nothing is an error, so that
 * nothing is changed on a typo (restic warns and goes on with the others).
 */
export function selectSnapshots<T extends ListedSnapshot>(sorted: readonly T[], refs: readonly string[], f: SnapshotFilter, location: string): Selection<T> {
  if (refs.length === 0) return { snapshots: sorted.filter((s) => snapshotMatches(s.snapshot, f)), filterIgnored: false };
  const chosen = new Set<string>();
  let usedFilter = false;
  for (const ref of refs) {
    if (ref === 'latest') {
      usedFilter = true;
      const latest = latestMatching(sorted, f);
      if (!latest) throw noSnapshotMatches(f, location);
      chosen.add(latest.id);
    } else {
      chosen.add(findById(sorted, ref).id);
    }
  }
  const onlyDefaultHosts = f.hostsFromEnvironment === true && f.tagLists.length + f.paths.length === 0;
  return { snapshots: sorted.filter((s) => chosen.has(s.id)), filterIgnored: !usedFilter && !filterIsEmpty(f) && !onlyDefaultHosts };
}

/**
 * The `n` newest snapshots of each host and set of paths (restic's `snapshots --latest n`), of a
 * list sorted oldest first; the result keeps that order.
 */
export function newestPerHostAndPaths<T extends ListedSnapshot>(sorted: readonly T[], n: number): T[] {
  const seen = new Map<string, number>();
  const kept = new Set<T>();
  for (let i = sorted.length - 1; i >= 0; i--) {
    const s = sorted[i]!;
    const paths = Array.isArray(s.snapshot.paths) ? [...s.snapshot.paths].sort() : [];
    const key = JSON.stringify([typeof s.snapshot.hostname === 'string' ? s.snapshot.hostname : '', paths]);
    const count = seen.get(key) ?? 0;
    if (count >= n) continue;
    seen.set(key, count + 1);
    kept.add(s);
  }
  return sorted.filter((s) => kept.has(s));
}
