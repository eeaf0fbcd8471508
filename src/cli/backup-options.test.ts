// backup --time and --read-concurrency as given on the command line: restic's time layout read in
// local time, out-of-range dates refused rather than carried over, and the concurrency's bounds.
import { describe, expect, it } from 'vitest';
import type { SnapshotId } from '../format/ids.js';
import type { Snapshot } from '../format/snapshot.js';
import { backupTime, chooseParent, readConcurrency, type SnapshotLister } from './backup-options.js';

describe('backupTime', () => {
  it('reads "YYYY-MM-DD HH:MM:SS" in local time', () => {
    expect(backupTime('2012-11-01 22:08:41').getTime()).toBe(new Date(2012, 10, 1, 22, 8, 41).getTime());
    expect(backupTime('2024-02-29 00:00:00').getTime()).toBe(new Date(2024, 1, 29).getTime());
  });

  it('is now when not given', () => {
    const before = Date.now();
    const t = backupTime(undefined).getTime();
    expect(t).toBeGreaterThanOrEqual(before);
    expect(t).toBeLessThanOrEqual(Date.now());
  });

  it.each(['2023-02-29 00:00:00', '2012-13-01 00:00:00', '2012-11-01 24:00:00', '2012-11-01T22:08:41', '2012-11-01', '', 'now'])('refuses %j, naming --time', (bad) => {
    expect(() => backupTime(bad)).toThrow(/--time .* is not a time as YYYY-MM-DD HH:MM:SS/);
  });
});

describe('readConcurrency', () => {
  it('takes a whole number from 1 to 1024, undefined when not given', () => {
    expect(readConcurrency(undefined)).toBeUndefined();
    expect(readConcurrency('1')).toBe(1);
    expect(readConcurrency('16')).toBe(16);
    expect(readConcurrency('1024')).toBe(1024);
  });

  it.each(['0', '-1', '1.5', '1e3', '1025', 'four', ''])('refuses %j', (bad) => {
    expect(() => readConcurrency(bad)).toThrow(/--read-concurrency/);
  });
});

describe('chooseParent', () => {
  const snap = (id: string, host: string, paths: string[], time: string): { id: SnapshotId; snapshot: Snapshot } => ({ id: id.padEnd(64, '0') as SnapshotId, snapshot: { hostname: host, paths, time } as Snapshot });
  const all = [snap('a1', 'h', ['/x'], '2020-01-01T00:00:00.000Z'), snap('b2', 'other', ['/x'], '2021-01-01T00:00:00.000Z'), snap('c3', 'h', ['/y'], '2022-01-01T00:00:00.000Z'), snap('d4', 'h', ['/x'], '2023-01-01T00:00:00.000Z')];
  const resolved: string[] = [];
  const repo: SnapshotLister = {
    listSnapshots: async () => all,
    resolveSnapshot: async (ref) => {
      resolved.push(ref);
      return all.find((s) => s.id.startsWith(ref))!;
    },
  };
  const run = { host: 'h', paths: ['/x'], time: new Date('2024-01-01T00:00:00Z'), stdin: false };

  it('takes the latest of the same host and paths', async () => {
    expect((await chooseParent(repo, {}, run))?.id.slice(0, 2)).toBe('d4');
  });

  it('takes none newer than the backup\'s time', async () => {
    expect((await chooseParent(repo, {}, { ...run, time: new Date('2022-06-01T00:00:00Z') }))?.id.slice(0, 2)).toBe('a1');
    expect(await chooseParent(repo, {}, { ...run, time: new Date('2019-06-01T00:00:00Z') })).toBeUndefined();
  });

  it('takes the one --parent names, whatever its host and paths; none with --force, even over --parent; none for --stdin', async () => {
    expect((await chooseParent(repo, { parent: 'b2' }, run))?.id.slice(0, 2)).toBe('b2');
    expect(resolved).toEqual(['b2']);
    expect(await chooseParent(repo, { force: true, parent: 'b2' }, run)).toBeUndefined();
    expect(await chooseParent(repo, {}, { ...run, stdin: true })).toBeUndefined();
    expect(resolved).toEqual(['b2']);
  });
});
