// restic's snapshot filter semantics (internal/data/snapshot.go HasHostname, HasTagList, HasPaths;
// tag_list.go; snapshot_find.go findLatest and FindAll; cmd_snapshots.go FilterLatestSnapshots),
// and the tag changes of `engine tag` (cmd_tag.go changeTags).
import { describe, expect, it } from 'vitest';
import type { SnapshotId } from '../format/ids.js';
import { decodeSnapshot, encodeSnapshot, type Snapshot } from '../format/snapshot.js';
import { describeFilter, filterIsEmpty, flattenTagLists, latestMatching, makeSnapshotFilter, newestPerHostAndPaths, NO_FILTER, selectSnapshots, snapshotMatches, splitTagList } from './snapshot-filter.js';
import { changedTags, retagged, retagSnapshots, type SnapshotStore } from './snapshot-tags.js';

const id = (n: number): SnapshotId => (n.toString(16).padStart(4, '0') + 'a'.repeat(60)) as SnapshotId;

function snap(n: number, hostname: string, paths: string[], tags: string[], time = `2026-01-01T00:00:${String(n).padStart(2, '0')}Z`): { id: SnapshotId; snapshot: Snapshot } {
  const snapshot = { version: 1, time, tree: 'b'.repeat(64), paths, hostname, username: 'u', uid: 0, gid: 0, tags, summary: {} } as unknown as Snapshot;
  return { id: id(n), snapshot };
}

const f = (input: { hosts?: string[]; tags?: string[]; paths?: string[] }) => makeSnapshotFilter(input, '/work');

describe('makeSnapshotFilter', () => {
  it('splits each --tag at commas and trims each tag, keeping empty ones', () => {
    expect(splitTagList(' a, b ,c')).toEqual(['a', 'b', 'c']);
    expect(splitTagList('')).toEqual(['']);
    expect(f({ tags: ['a,b', 'c'] }).tagLists).toEqual([['a', 'b'], ['c']]);
  });

  it('makes --path absolute and clean, from the current folder', () => {
    expect(f({ paths: ['/srv/data/', '/srv/./x/../y', 'rel/dir'] }).paths).toEqual(['/srv/data', '/srv/y', '/work/rel/dir']);
  });

  it('takes a lone --host "" as no host filter (restic), but keeps "" among others', () => {
    expect(f({ hosts: [''] }).hosts).toEqual([]);
    expect(f({ hosts: ['', 'a'] }).hosts).toEqual(['', 'a']);
  });

  it('is empty without flags, and describes itself as flags', () => {
    expect(filterIsEmpty(f({}))).toBe(true);
    expect(filterIsEmpty(f({ hosts: ['a'] }))).toBe(false);
    expect(describeFilter(f({ hosts: ['a'], tags: ['x,y', ''], paths: ['/p q'] }))).toBe('--host a --tag x,y --tag "" --path "/p q"');
  });

  it('flattens tag lists for tag --add/--remove/--set, dropping empty tags', () => {
    expect(flattenTagLists(['a,b', '', 'c, ,d'])).toEqual(['a', 'b', 'c', 'd']);
  });
});

describe('snapshotMatches', () => {
  const s = snap(1, 'h1', ['/a', '/b'], ['x', 'y']).snapshot;
  const untagged = snap(2, 'h1', ['/a'], []).snapshot;

  it('--host: any of the hosts given', () => {
    expect(snapshotMatches(s, f({ hosts: ['h1'] }))).toBe(true);
    expect(snapshotMatches(s, f({ hosts: ['h2', 'h1'] }))).toBe(true);
    expect(snapshotMatches(s, f({ hosts: ['h2'] }))).toBe(false);
  });

  it('--tag: all tags of one list, any list', () => {
    expect(snapshotMatches(s, f({ tags: ['x'] }))).toBe(true);
    expect(snapshotMatches(s, f({ tags: ['x,y'] }))).toBe(true);
    expect(snapshotMatches(s, f({ tags: ['x,z'] }))).toBe(false);
    expect(snapshotMatches(s, f({ tags: ['x,z', 'y'] }))).toBe(true);
    expect(snapshotMatches(s, f({ tags: ['z'] }))).toBe(false);
  });

  it('--tag "": only snapshots without tags', () => {
    expect(snapshotMatches(untagged, f({ tags: [''] }))).toBe(true);
    expect(snapshotMatches(s, f({ tags: [''] }))).toBe(false);
    expect(snapshotMatches(s, f({ tags: ['', 'x'] }))).toBe(true);
  });

  it('--path: the snapshot must hold every path given, compared cleaned', () => {
    expect(snapshotMatches(s, f({ paths: ['/a'] }))).toBe(true);
    expect(snapshotMatches(s, f({ paths: ['/a/', '/b'] }))).toBe(true);
    expect(snapshotMatches(s, f({ paths: ['/a', '/c'] }))).toBe(false);
    // Not a prefix match: /a/sub is not a path of the snapshot.
    expect(snapshotMatches(s, f({ paths: ['/a/sub'] }))).toBe(false);
  });

  it('all three together', () => {
    expect(snapshotMatches(s, f({ hosts: ['h1'], tags: ['y'], paths: ['/b'] }))).toBe(true);
    expect(snapshotMatches(s, f({ hosts: ['h1'], tags: ['y'], paths: ['/c'] }))).toBe(false);
  });

  it('treats malformed fields of a stored snapshot as absent instead of failing', () => {
    const bad = { hostname: 7, tags: 'x', paths: null } as unknown as Snapshot;
    expect(snapshotMatches(bad, NO_FILTER)).toBe(true);
    expect(snapshotMatches(bad, f({ tags: [''] }))).toBe(true);
    expect(snapshotMatches(bad, f({ hosts: ['7'] }))).toBe(false);
    expect(snapshotMatches(bad, f({ paths: ['/'] }))).toBe(false);
  });
});

describe('selection', () => {
  const list = [snap(1, 'h1', ['/a'], ['x']), snap(2, 'h2', ['/a'], []), snap(3, 'h1', ['/b'], ['x', 'y']), snap(4, 'h2', ['/a'], ['y'])];

  it('latest is the newest snapshot the filter keeps', () => {
    expect(latestMatching(list, NO_FILTER)?.id).toBe(id(4));
    expect(latestMatching(list, f({ hosts: ['h1'] }))?.id).toBe(id(3));
    expect(latestMatching(list, f({ tags: ['x'], paths: ['/a'] }))?.id).toBe(id(1));
    expect(latestMatching(list, f({ hosts: ['h3'] }))).toBeUndefined();
  });

  it('without ids: every snapshot the filter keeps, oldest first', () => {
    expect(selectSnapshots(list, [], f({ tags: ['x'] }), 'r').snapshots.map((s) => s.id)).toEqual([id(1), id(3)]);
    expect(selectSnapshots(list, [], NO_FILTER, 'r').snapshots).toHaveLength(4);
  });

  it('ids are taken whatever the filter says, and said to ignore it; "latest" uses it', () => {
    const byId = selectSnapshots(list, ['0002', '0001', '0002'], f({ hosts: ['h1'] }), 'r');
    expect(byId.snapshots.map((s) => s.id)).toEqual([id(1), id(2)]);
    expect(byId.filterIgnored).toBe(true);
    const latest = selectSnapshots(list, ['latest', '0002'], f({ hosts: ['h1'] }), 'r');
    expect(latest.snapshots.map((s) => s.id)).toEqual([id(2), id(3)]);
    expect(latest.filterIgnored).toBe(false);
    expect(selectSnapshots(list, ['0002'], NO_FILTER, 'r').filterIgnored).toBe(false);
  });

  it('a ref that names nothing, or "latest" that the filter empties, is a usage error naming it', () => {
    expect(() => selectSnapshots(list, ['0009'], NO_FILTER, 'r')).toThrow(/no snapshot matches "0009"/);
    expect(() => selectSnapshots(list, ['00'], NO_FILTER, 'r')).toThrow(/not a snapshot id/);
    expect(() => selectSnapshots(list, ['latest'], f({ hosts: ['h3'] }), 'r')).toThrow(/no snapshot matches --host h3/);
    expect(() => selectSnapshots([], ['latest'], NO_FILTER, 'r')).toThrow(/has no snapshots/);
  });

  it('--latest n keeps the n newest of each host and set of paths, in time order', () => {
    const more = [...list, snap(5, 'h2', ['/a'], []), snap(6, 'h1', ['/b'], [])];
    expect(newestPerHostAndPaths(more, 1).map((s) => s.id)).toEqual([id(1), id(5), id(6)]);
    expect(newestPerHostAndPaths(more, 2).map((s) => s.id)).toEqual([id(1), id(3), id(4), id(5), id(6)]);
    // The order of paths within a snapshot does not make another group.
    expect(newestPerHostAndPaths([snap(1, 'h', ['/a', '/b'], []), snap(2, 'h', ['/b', '/a'], [])], 1).map((s) => s.id)).toEqual([id(2)]);
  });
});

describe('tag changes', () => {
  it('--add appends the tags not there yet, --remove drops every copy, both at once', () => {
    expect(changedTags(['a'], { add: ['b', 'a', 'b'], remove: [] })).toEqual(['a', 'b']);
    expect(changedTags(['a', 'b', 'a'], { add: [], remove: ['a'] })).toEqual(['b']);
    expect(changedTags(['a'], { add: ['b'], remove: ['a'] })).toEqual(['b']);
    expect(changedTags(['a'], { add: ['b'], remove: ['b'] })).toBeNull();
  });

  it('no change is null, so nothing is rewritten', () => {
    expect(changedTags(['a'], { add: ['a'], remove: ['z'] })).toBeNull();
    expect(changedTags(['a', 'b'], { set: ['a', 'b'], add: [], remove: [] })).toBeNull();
  });

  it('--set replaces the tags; an empty set removes them all', () => {
    expect(changedTags(['a'], { set: ['c', 'd', 'c'], add: [], remove: [] })).toEqual(['c', 'd']);
    expect(changedTags(['a'], { set: [], add: [], remove: [] })).toEqual([]);
    expect(changedTags([], { set: [], add: [], remove: [] })).toBeNull();
  });

  it('the new snapshot names the first one as original, kept across changes', () => {
    const first = snap(1, 'h', ['/a'], []);
    const second = retagged(first.snapshot, first.id, ['x']);
    expect(second.original).toBe(first.id);
    expect(second.tags).toEqual(['x']);
    expect(second.tree).toBe(first.snapshot.tree);
    const third = retagged(second, id(2), ['y']);
    expect(third.original).toBe(first.id);
  });

  it('saves the new snapshot before deleting the old one, and after a kill between the two does not save it again', async () => {
    const ops: string[] = [];
    let n = 100;
    const store: SnapshotStore = {
      saveSnapshot: async (s) => {
        ops.push(`save ${s.tags.join(',')}`);
        return id(n++);
      },
      removeSnapshot: async (x) => {
        ops.push(`remove ${x.slice(0, 4)}`);
      },
    };
    const a = snap(1, 'h', ['/a'], []);
    const b = snap(2, 'h', ['/a'], ['k']);
    const r = await retagSnapshots(store, [a, b], [a, b], { add: ['x'], remove: [] });
    expect(ops).toEqual(['save x', 'remove 0001', 'save k,x', 'remove 0002']);
    expect(r).toEqual([{ old: id(1), new: id(100) }, { old: id(2), new: id(101) }]);
    // A run killed after it saved a's replacement: both are there; the same change again only
    // deletes a, and leaves the replacement (already tagged) alone.
    ops.length = 0;
    const saved = { id: id(7), snapshot: retagged(a.snapshot, a.id, ['x']) };
    const again = await retagSnapshots(store, [a, saved], [a, saved], { add: ['x'], remove: [] });
    expect(ops).toEqual(['remove 0001']);
    expect(again).toEqual([{ old: id(1), new: id(7) }]);
  });

  it('the snapshot reader keeps `original` (and fields it does not know), and refuses one that is not an id', () => {
    const s = { ...retagged(snap(1, 'h', ['/a'], []).snapshot, id(1), ['x']), later: 'field' };
    const back = decodeSnapshot(encodeSnapshot(s), 'snapshots/x');
    expect(back.original).toBe(id(1));
    expect((back as unknown as { later: string }).later).toBe('field');
    expect(() => decodeSnapshot(encodeSnapshot({ ...s, original: 'nope' as SnapshotId }), 'snapshots/x')).toThrow(/original/);
  });
});

