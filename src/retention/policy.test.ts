// Retention rules against a reference model written as plainly as possible (sets, not a walk),
// over random histories and policies; plus examples that pin the calendar semantics.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyPolicy, BUCKETS, isoWeek, parseDuration, policyKeepsNothing, type GroupKey, type PolicySnapshot, type RetentionPolicy } from './policy.js';

const HOUR = 3_600_000;
const BASE = Date.parse('2024-12-20T12:00:00Z');

/** The model: for each rule, the set it keeps, computed from the whole sorted group at once. */
function modelKeep(group: PolicySnapshot[], p: RetentionPolicy): Set<string> {
  const sorted = [...group].sort((a, b) => Date.parse(b.time) - Date.parse(a.time) || (a.id < b.id ? -1 : 1));
  const keep = new Set<string>();
  if (p.last !== undefined) for (const s of sorted.slice(0, p.last)) keep.add(s.id);
  for (const rule of ['hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const) {
    const n = p[rule];
    if (n === undefined) continue;
    // Distinct buckets, newest first; the newest snapshot of each of the first n.
    const buckets: string[] = [];
    for (const s of sorted) {
      const b = BUCKETS[rule](new Date(s.time));
      if (!buckets.includes(b)) buckets.push(b);
    }
    for (const b of buckets.slice(0, n)) keep.add(sorted.find((s) => BUCKETS[rule](new Date(s.time)) === b)!.id);
  }
  if (p.withinMs !== undefined && sorted.length > 0) {
    const newest = Date.parse(sorted[0]!.time);
    for (const s of sorted) if (newest - Date.parse(s.time) <= p.withinMs) keep.add(s.id);
  }
  for (const s of sorted) if (s.tags.some((t) => p.tags?.includes(t))) keep.add(s.id);
  return keep;
}

const snapshotsArb = fc
  .array(
    fc.record({
      offsetHours: fc.integer({ min: 0, max: 3 * 365 * 24 }),
      minutes: fc.integer({ min: 0, max: 59 }),
      host: fc.constantFrom('nas', 'pi'),
      paths: fc.constantFrom(['/srv'], ['/home', '/etc']),
      tags: fc.subarray(['daily', 'manual', 'keep']),
    }),
    { maxLength: 60 },
  )
  .map((xs) =>
    xs.map((x, i): PolicySnapshot => ({
      id: `s${String(i).padStart(3, '0')}`,
      time: new Date(BASE - x.offsetHours * HOUR - x.minutes * 60_000).toISOString(),
      hostname: x.host,
      paths: x.paths,
      tags: x.tags,
    })),
  );

const count = fc.option(fc.integer({ min: 0, max: 12 }), { nil: undefined });
const policyArb = fc.record({
  last: count,
  hourly: count,
  daily: count,
  weekly: count,
  monthly: count,
  yearly: count,
  withinMs: fc.option(fc.integer({ min: 0, max: 90 * 24 }).map((h) => h * HOUR), { nil: undefined }),
  tags: fc.option(fc.subarray(['manual', 'keep']), { nil: undefined }),
});

function clean(p: RetentionPolicy): RetentionPolicy {
  return Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as RetentionPolicy;
}

describe('retention buckets', () => {
  it('read as dates: months from 1, two digits, as forget --dry-run prints its reasons', () => {
    const d = new Date(2026, 11, 6, 9, 30);
    expect(BUCKETS.daily(d)).toBe('2026-12-06');
    expect(BUCKETS.hourly(d)).toBe('2026-12-06T09');
    expect(BUCKETS.monthly(d)).toBe('2026-12');
    expect(BUCKETS.monthly(new Date(2026, 0, 31))).toBe('2026-01');
    expect(BUCKETS.yearly(d)).toBe('2026');
    expect(isoWeek(new Date(2026, 0, 28))).toBe('2026-W05');
  });
});

describe('retention policy', () => {
  it('keeps exactly what the reference model keeps, per group, and removes the rest', () => {
    fc.assert(
      fc.property(snapshotsArb, policyArb, fc.constantFrom<GroupKey[]>(['host', 'paths'], ['host'], [], ['host', 'paths', 'tags']), (snaps, raw, groupBy) => {
        const policy = clean(raw);
        const decisions = applyPolicy(snaps, policy, groupBy);
        const seen = new Set<string>();
        for (const d of decisions) {
          const ids = [...d.keep.map((k) => k.id), ...d.remove];
          for (const id of ids) {
            expect(seen.has(id)).toBe(false);
            seen.add(id);
          }
          const members = snaps.filter((s) => ids.includes(s.id));
          // Every member of the group shares the grouped fields.
          if (groupBy.includes('host')) expect(new Set(members.map((m) => m.hostname)).size).toBe(1);
          expect(new Set(d.keep.map((k) => k.id))).toEqual(modelKeep(members, policy));
          for (const k of d.keep) expect(k.reasons.length).toBeGreaterThan(0);
        }
        expect(seen.size).toBe(snaps.length);
      }),
      { numRuns: 400 },
    );
  });

  it('keep-last 1 keeps the newest snapshot of each host and paths group', () => {
    const snaps: PolicySnapshot[] = [
      { id: 'a', time: '2025-01-01T10:00:00Z', hostname: 'nas', paths: ['/srv'], tags: [] },
      { id: 'b', time: '2025-01-02T10:00:00Z', hostname: 'nas', paths: ['/srv'], tags: [] },
      { id: 'c', time: '2025-01-01T10:00:00Z', hostname: 'pi', paths: ['/srv'], tags: [] },
      { id: 'd', time: '2025-01-03T10:00:00Z', hostname: 'nas', paths: ['/home'], tags: [] },
    ];
    const d = applyPolicy(snaps, { last: 1 });
    expect(d.map((g) => g.keep.map((k) => k.id))).toEqual([['d'], ['b'], ['c']]);
    expect(d.flatMap((g) => g.remove)).toEqual(['a']);
  });

  it('daily keeps the last snapshot of each of the N most recent days that have one', () => {
    const at = (day: number, hour: number): string => new Date(2025, 0, day, hour).toISOString();
    const snaps: PolicySnapshot[] = [
      { id: 'd1-9', time: at(1, 9), hostname: 'h', paths: ['/'], tags: [] },
      { id: 'd1-21', time: at(1, 21), hostname: 'h', paths: ['/'], tags: [] },
      { id: 'd3-8', time: at(3, 8), hostname: 'h', paths: ['/'], tags: [] },
      { id: 'd4-1', time: at(4, 1), hostname: 'h', paths: ['/'], tags: [] },
      { id: 'd4-23', time: at(4, 23), hostname: 'h', paths: ['/'], tags: ['manual'] },
    ];
    const [g] = applyPolicy(snaps, { daily: 2 });
    expect(g!.keep.map((k) => k.id)).toEqual(['d4-23', 'd3-8']);
    const [t] = applyPolicy(snaps, { daily: 3, tags: ['manual'] });
    expect(t!.keep).toEqual([
      { id: 'd4-23', reasons: [expect.stringMatching(/^daily /), 'tag manual'] },
      { id: 'd3-8', reasons: [expect.stringMatching(/^daily /)] },
      { id: 'd1-21', reasons: [expect.stringMatching(/^daily /)] },
    ]);
  });

  it('keep-within counts back from the group\'s newest snapshot, the boundary included', () => {
    const snaps: PolicySnapshot[] = [0, 24, 48, 49].map((h) => ({ id: `h${h}`, time: new Date(BASE - h * HOUR).toISOString(), hostname: 'h', paths: ['/'], tags: [] }));
    const [g] = applyPolicy(snaps, { withinMs: parseDuration('2d')! });
    expect(g!.keep.map((k) => k.id)).toEqual(['h0', 'h24', 'h48']);
    expect(g!.remove).toEqual(['h49']);
  });

  it('ISO weeks: Monday starts a week, and the first Thursday decides the first week of a year', () => {
    expect(isoWeek(new Date(2024, 11, 30))).toBe('2025-W01'); // Monday 30 Dec 2024
    expect(isoWeek(new Date(2024, 11, 29))).toBe('2024-W52'); // Sunday
    expect(isoWeek(new Date(2021, 0, 3))).toBe('2020-W53');
    expect(isoWeek(new Date(2026, 10, 22))).toBe('2026-W47');
  });

  it('a policy of zero counts keeps nothing, and is recognised as such; any positive count, window or tag keeps something', () => {
    expect(policyKeepsNothing({ last: 0 })).toBe(true);
    expect(policyKeepsNothing({ last: 0, daily: 0, yearly: 0 })).toBe(true);
    expect(policyKeepsNothing({ last: 0, daily: 1 })).toBe(false);
    expect(policyKeepsNothing({ withinMs: 0 })).toBe(false);
    expect(policyKeepsNothing({ tags: ['x'] })).toBe(false);
    const snaps: PolicySnapshot[] = [{ id: 'a', time: '2025-01-01T00:00:00Z', hostname: 'h', paths: ['/'], tags: [] }];
    expect(applyPolicy(snaps, { last: 0 })[0]!.remove).toEqual(['a']);
  });

  it('parses durations and refuses nonsense', () => {
    expect(parseDuration('30d')).toBe(30 * 24 * HOUR);
    expect(parseDuration('1y6m')).toBe((365 + 180) * 24 * HOUR);
    expect(parseDuration('12h')).toBe(12 * HOUR);
    for (const bad of ['', 'd', '30', '3x', '-1d', '1.5d']) expect(parseDuration(bad), bad).toBeNull();
  });
});
