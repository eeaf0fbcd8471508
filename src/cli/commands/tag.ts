import { UsageError } from '../../errors/engine-error.js';
import { flattenTagLists, selectSnapshots } from '../../repository/snapshot-filter.js';
import { retagSnapshots, type TagChange } from '../../repository/snapshot-tags.js';
import { repoLocation, type GlobalOptions } from '../context.js';
import type { Output } from '../output.js';
import { openRepository } from '../session.js';
import { snapshotFilterFromFlags, warnFilterIgnored, type SnapshotFilterFlags } from '../snapshot-filter-flags.js';

export interface TagFlags extends GlobalOptions, SnapshotFilterFlags {
  add?: string[];
  remove?: string[];
  set?: string[];
}

/**
 * restic's `tag`: --add, --remove or --set (each repeatable, each value `tag[,tag,...]`) on the
 * snapshots named, or on every snapshot the filter keeps. Each changed snapshot gets a new id
 * (docs/FORMAT.md "Snapshots": `original`). Under the exclusive lock.
 */
export async function tagCommand(refs: string[], flags: TagFlags, out: Output, signal: AbortSignal): Promise<number> {
  const change = tagChangeFromFlags(flags);
  const filter = snapshotFilterFromFlags(flags);
  const session = await openRepository(flags, out, { exclusive: true, command: 'tag', signal });
  const { repo } = session;
  const all = await repo.listSnapshots();
  const selection = selectSnapshots(all, refs, filter, repoLocation(flags));
  if (selection.filterIgnored) warnFilterIgnored(out);
  const changed = await retagSnapshots(repo, all, selection.snapshots, change, {
    signal,
    onChanged: (r) => {
      if (out.json) out.data({ message_type: 'changed', old_snapshot_id: r.old, new_snapshot_id: r.new });
      else if (out.verbose) out.info(`snapshot ${r.old.slice(0, 8)} -> ${r.new.slice(0, 8)}`);
    },
  });
  if (out.json) out.data({ message_type: 'summary', changed_snapshots: changed.length });
  else out.result(changed.length === 0 ? 'no snapshots were modified' : `modified ${changed.length} snapshot(s)`);
  return 0;
}

/**
 * The change the flags ask for, refused before the repository is opened when there is none or
 * when --set comes with --add or --remove (as restic). `--set ""` removes every tag (restic's own
 * code says so, but there the empty value is dropped first and nothing changes).
 */
export function tagChangeFromFlags(flags: Pick<TagFlags, 'add' | 'remove' | 'set'>): TagChange {
  const { add, remove, set } = flags;
  if (set === undefined && add === undefined && remove === undefined) {
    throw new UsageError('nothing to do: no tag to add, remove or set', { hint: 'give --add TAG, --remove TAG or --set TAG (each repeatable; TAG may be a comma-separated list)' });
  }
  if (set !== undefined && (add !== undefined || remove !== undefined)) {
    throw new UsageError('--set cannot be given with --add or --remove', { hint: 'use --set alone to replace the tags, or --add/--remove to change some of them' });
  }
  if (set !== undefined) return { set: flattenTagLists(set), add: [], remove: [] };
  return { add: flattenTagLists(add ?? []), remove: flattenTagLists(remove ?? []) };
}
