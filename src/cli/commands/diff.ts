import type { BlobId } from '../../format/ids.js';
import { displayName } from '../../fs/names.js';
import { type Change, diffTrees } from '../../inspect/diff.js';
import { IndexedRepository } from '../../repository/indexed-repository.js';
import type { GlobalOptions } from '../context.js';
import type { Output } from '../output.js';
import { memoryPlan, openIndex, openRepository } from '../session.js';
import { snapshotFilterFromFlags, type SnapshotFilterFlags } from '../snapshot-filter-flags.js';

const MARK: Record<Change, string> = { added: '+', removed: '-', modified: 'M', type: 'T', metadata: 'U' };

export async function diffCommand(refA: string, refB: string, flags: GlobalOptions & SnapshotFilterFlags & { memBudget?: string }, out: Output): Promise<number> {
  const session = await openRepository(flags, out);
  const { repo } = session;
  const index = await openIndex(session, memoryPlan(session, flags.memBudget, out), out);
  // The filter chooses what "latest" means, on either side (restic's diff takes no "latest").
  const filter = snapshotFilterFromFlags(flags);
  const a = await repo.resolveSnapshot(refA, filter);
  const b = await repo.resolveSnapshot(refB, filter);
  const counts: Record<Change, number> = { added: 0, removed: 0, modified: 0, type: 0, metadata: 0 };
  const indexed = new IndexedRepository(repo, index);
  const load = (id: BlobId) => indexed.treeEntries(id);
  for await (const d of diffTrees(load, a.snapshot.tree, b.snapshot.tree)) {
    counts[d.change]++;
    // Escaped (displayName), as `ls` prints names: a newline in a name cannot forge a line.
    const path = displayName(d.path);
    if (out.json) out.data({ message_type: 'change', ...d, path });
    else out.result(`${MARK[d.change]} ${path}`);
  }
  if (out.json) out.data({ message_type: 'summary', from: a.id, to: b.id, ...counts });
  else out.info(`${a.id.slice(0, 8)} -> ${b.id.slice(0, 8)}: ${counts.added} added, ${counts.removed} removed, ${counts.modified} modified, ${counts.type} changed type, ${counts.metadata} with only metadata changed`);
  return 0;
}
