// `engine tag`: changing the tags of snapshots, as restic does. A snapshot object is never edited
// in place (its name is the hash of its bytes): a new one is saved with the tags changed and
// `original` naming the first snapshot of the line (kept across later changes), then the old one
// is deleted. The caller holds the exclusive lock, as for every command that rewrites snapshots.
import type { SnapshotId } from '../format/ids.js';
import type { Snapshot } from '../format/snapshot.js';
import type { ListedSnapshot } from './snapshot-filter.js';

/** What a retag needs of the repository (Repository has it). */
export interface SnapshotStore {
  saveSnapshot(s: Snapshot): Promise<SnapshotId>;
  removeSnapshot(id: SnapshotId): Promise<void>;
}

export interface TagChange {
  /** The tags to have instead of the present ones (empty: none); undefined: add and remove. */
  readonly set?: readonly string[];
  readonly add: readonly string[];
  readonly remove: readonly string[];
}

/** The tags after the change, or null when they stay as they are. */
export function changedTags(present: readonly string[], change: TagChange): string[] | null {
  let next: string[];
  if (change.set !== undefined) {
    next = [...new Set(change.set)];
  } else {
    next = [...present];
    for (const t of change.add) if (!next.includes(t)) next.push(t);
    const remove = new Set(change.remove);
    next = next.filter((t) => !remove.has(t));
  }
  const same = next.length === present.length && next.every((t, i) => t === present[i]);
  return same ? null : next;
}

/** The snapshot saved in place of `old` (id `oldId`) with these tags. */
export function retagged(old: Snapshot, oldId: SnapshotId, tags: string[]): Snapshot {
  return { ...old, tags, original: old.original ?? oldId };
}

export interface RetagResult {
  readonly old: SnapshotId;
  readonly new: SnapshotId;
}

/**
 * Applies the change to each of `selected` (oldest first), saving the new snapshot before the old
 * one is deleted: a kill between the two leaves both, and the next run of the same change finds
 * the new one already saved (same contents) and only deletes the old one.
 */
export async function retagSnapshots(repo: SnapshotStore, all: readonly ListedSnapshot[], selected: readonly ListedSnapshot[], change: TagChange, opts: { signal?: AbortSignal; onChanged?: (r: RetagResult) => void } = {}): Promise<RetagResult[]> {
  const existing = new Map(all.map((s) => [JSON.stringify(s.snapshot), s.id]));
  const results: RetagResult[] = [];
  for (const { id, snapshot } of selected) {
    opts.signal?.throwIfAborted();
    const present = Array.isArray(snapshot.tags) ? snapshot.tags.map(String) : [];
    const tags = changedTags(present, change);
    if (tags === null) continue;
    const next = retagged(snapshot, id, tags);
    const key = JSON.stringify(next);
    const saved = existing.get(key) ?? (await repo.saveSnapshot(next));
    existing.set(key, saved);
    await repo.removeSnapshot(id);
    const r = { old: id, new: saved };
    results.push(r);
    opts.onChanged?.(r);
  }
  return results;
}
