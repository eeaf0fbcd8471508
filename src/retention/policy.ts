// Which snapshots `engine forget` keeps: restic's retention rules, applied per group of snapshots
// (by default the same host and the same set of paths), each rule independently, newest first.
// A snapshot is kept when any rule keeps it, and the reasons are recorded for --dry-run.
//
// Calendar buckets (hour, day, week, month, year) are taken in the local time zone of the machine
// running forget: "keep 7 daily" means the last snapshot of each of the 7 most recent days that
// have one, as the person running it counts days. Weeks are ISO weeks (Monday to Sunday).

export interface PolicySnapshot {
  readonly id: string;
  /** ISO 8601 time of the snapshot. */
  readonly time: string;
  readonly hostname: string;
  readonly paths: readonly string[];
  readonly tags: readonly string[];
}

export interface RetentionPolicy {
  readonly last?: number;
  readonly hourly?: number;
  readonly daily?: number;
  readonly weekly?: number;
  readonly monthly?: number;
  readonly yearly?: number;
  /** Keep every snapshot at most this many milliseconds older than the group's newest. */
  readonly withinMs?: number;
  /** Keep every snapshot carrying any of these tags. */
  readonly tags?: readonly string[];
}

export type GroupKey = 'host' | 'paths' | 'tags';

export interface KeptSnapshot {
  readonly id: string;
  readonly reasons: string[];
}

export interface GroupDecision {
  /** What the group's snapshots share (for display): host, paths, tags as grouped. */
  readonly group: { hostname?: string; paths?: string[]; tags?: string[] };
  /** Newest first. */
  readonly keep: KeptSnapshot[];
  readonly remove: string[];
}

export function policyIsEmpty(p: RetentionPolicy): boolean {
  return p.last === undefined && p.hourly === undefined && p.daily === undefined && p.weekly === undefined && p.monthly === undefined && p.yearly === undefined && p.withinMs === undefined && (p.tags?.length ?? 0) === 0;
}

/**
 * True when the policy can keep no snapshot at all (every count 0, no keep-within, no tag):
 * `--keep-last 0` from a script whose variable was empty would otherwise remove everything.
 */
export function policyKeepsNothing(p: RetentionPolicy): boolean {
  const counts = [p.last, p.hourly, p.daily, p.weekly, p.monthly, p.yearly];
  return counts.every((c) => c === undefined || c <= 0) && p.withinMs === undefined && (p.tags?.length ?? 0) === 0;
}

/**
 * Calendar bucket of a time for each counting rule; two snapshots in one bucket compete for one
 * slot. Written as people read dates (`forget --dry-run` prints them as reasons): "daily
 * 2026-12-06", "hourly 2026-12-06T13", "monthly 2026-12", with months counted from 1.
 */
export const BUCKETS: Record<'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly', (d: Date) => string> = {
  hourly: (d) => `${ymd(d)}T${two(d.getHours())}`,
  daily: (d) => ymd(d),
  weekly: (d) => isoWeek(d),
  monthly: (d) => `${d.getFullYear()}-${two(d.getMonth() + 1)}`,
  yearly: (d) => `${d.getFullYear()}`,
};

const two = (n: number): string => String(n).padStart(2, '0');
const ymd = (d: Date): string => `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}`;

/** ISO 8601 week-numbering year and week of a local date, e.g. "2026-W47" ("2026-W05" before week 10). */
export function isoWeek(d: Date): string {
  const day = (d.getDay() + 6) % 7; // Monday = 0
  // Calendar arithmetic on the local date, done in UTC so that daylight saving cannot shift it.
  // The Thursday of the same week decides the week's year and number.
  const thursday = new Date(Date.UTC(d.getFullYear(), d.getMonth(), d.getDate() - day + 3));
  const year = thursday.getUTCFullYear();
  const dayOfYear = (thursday.getTime() - Date.UTC(year, 0, 1)) / 86_400_000;
  return `${year}-W${two(Math.floor(dayOfYear / 7) + 1)}`;
}

function groupKeyOf(s: PolicySnapshot, by: readonly GroupKey[]): string {
  return JSON.stringify([by.includes('host') ? s.hostname : null, by.includes('paths') ? [...s.paths].sort() : null, by.includes('tags') ? [...s.tags].sort() : null]);
}

/** Applies the policy to each group; groups come out in the order of their newest snapshot, newest first. */
export function applyPolicy(snapshots: readonly PolicySnapshot[], policy: RetentionPolicy, groupBy: readonly GroupKey[] = ['host', 'paths']): GroupDecision[] {
  const groups = new Map<string, PolicySnapshot[]>();
  for (const s of snapshots) {
    const k = groupKeyOf(s, groupBy);
    let g = groups.get(k);
    if (!g) {
      g = [];
      groups.set(k, g);
    }
    g.push(s);
  }
  const out: GroupDecision[] = [];
  for (const members of groups.values()) {
    // Newest first; equal times by id, so the result never depends on listing order.
    const sorted = [...members].sort((a, b) => timeOf(b) - timeOf(a) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const first = sorted[0]!;
    out.push({
      group: {
        ...(groupBy.includes('host') ? { hostname: first.hostname } : {}),
        ...(groupBy.includes('paths') ? { paths: [...first.paths].sort() } : {}),
        ...(groupBy.includes('tags') ? { tags: [...first.tags].sort() } : {}),
      },
      ...decideGroup(sorted, policy),
    });
  }
  out.sort((a, b) => newestOf(b) - newestOf(a));
  return out;

  function newestOf(g: GroupDecision): number {
    const id = g.keep[0]?.id ?? g.remove[0];
    const s = snapshots.find((x) => x.id === id);
    return s ? timeOf(s) : 0;
  }
}

function timeOf(s: PolicySnapshot): number {
  const t = Date.parse(s.time);
  return Number.isNaN(t) ? 0 : t;
}

/** One group, newest first: every rule walks the list once and keeps what it counts. */
function decideGroup(sorted: readonly PolicySnapshot[], policy: RetentionPolicy): { keep: KeptSnapshot[]; remove: string[] } {
  const reasons = new Map<string, string[]>();
  const add = (id: string, why: string): void => {
    const r = reasons.get(id) ?? [];
    r.push(why);
    reasons.set(id, r);
  };
  if (policy.last !== undefined) sorted.slice(0, Math.max(0, policy.last)).forEach((s) => add(s.id, 'last'));
  for (const rule of ['hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const) {
    let left = policy[rule];
    if (left === undefined) continue;
    let lastBucket: string | null = null;
    for (const s of sorted) {
      if (left <= 0) break;
      const bucket = BUCKETS[rule](new Date(timeOf(s)));
      if (bucket === lastBucket) continue;
      // The newest snapshot of each bucket stands for it.
      add(s.id, `${rule} ${bucket}`);
      lastBucket = bucket;
      left--;
    }
  }
  if (policy.withinMs !== undefined && sorted.length > 0) {
    const newest = timeOf(sorted[0]!);
    for (const s of sorted) if (newest - timeOf(s) <= policy.withinMs) add(s.id, 'within');
  }
  if (policy.tags && policy.tags.length > 0) {
    for (const s of sorted) {
      const hit = s.tags.find((t) => policy.tags!.includes(t));
      if (hit !== undefined) add(s.id, `tag ${hit}`);
    }
  }
  const keep: KeptSnapshot[] = [];
  const remove: string[] = [];
  for (const s of sorted) {
    const r = reasons.get(s.id);
    if (r) keep.push({ id: s.id, reasons: r });
    else remove.push(s.id);
  }
  return { keep, remove };
}

/** `30d`, `12h`, `2w`, `6m` (months of 30 days), `1y` (365 days), or combinations like `1y6m`. */
export function parseDuration(text: string): number | null {
  const units: Record<string, number> = { h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000, m: 30 * 86_400_000, y: 365 * 86_400_000 };
  if (!/^(\d+[hdwmy])+$/.test(text)) return null;
  let ms = 0;
  for (const m of text.matchAll(/(\d+)([hdwmy])/g)) ms += Number(m[1]) * units[m[2]!]!;
  return ms;
}
