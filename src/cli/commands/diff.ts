import { rmSync } from 'node:fs';
import type { BlobId } from '../../format/ids.js';
import { displayName } from '../../fs/names.js';
import { type Change, diffTrees, type Side } from '../../inspect/diff.js';
import { DiffTally } from '../../inspect/diff-stats.js';
import { scratchFolder } from '../../disk-index/scan-index.js';
import { indexAllowance } from '../../memory/planner.js';
import { IndexedRepository } from '../../repository/indexed-repository.js';
import type { GlobalOptions } from '../context.js';
import { changeJson, MODIFIER, statisticsJson } from '../json/diff-json.js';
import type { Output } from '../output.js';
import { scratchFor } from '../scratch.js';
import { memoryPlan, openIndex, openRepository } from '../session.js';
import { snapshotFilterFromFlags, type SnapshotFilterFlags } from '../snapshot-filter-flags.js';

export async function diffCommand(refA: string, refB: string, flags: GlobalOptions & SnapshotFilterFlags & { memBudget?: string }, out: Output): Promise<number> {
  const session = await openRepository(flags, out);
  const { repo } = session;
  const plan = memoryPlan(session, flags.memBudget, out);
  const index = await openIndex(session, plan, out);
  // The filter chooses what "latest" means, on either side (restic's diff takes no "latest").
  const filter = snapshotFilterFromFlags(flags);
  const a = await repo.resolveSnapshot(refA, filter);
  const b = await repo.resolveSnapshot(refB, filter);
  const counts: Record<Change, number> = { added: 0, removed: 0, modified: 0, type: 0, metadata: 0 };
  const indexed = new IndexedRepository(repo, index);
  // --json ends with restic's statistics, which need the blobs of both sides: every folder the
  // same on both is read too (restic does the same). Without --json nothing but the differences is read.
  const scratch = out.json ? scratchFolder(scratchFor(flags, plan.budgetBytes).tmpDir, 'diff') : null;
  const tally = scratch ? new DiffTally(index, (id, onChunk) => indexed.treeEntries(id, { onChunk }), { tmpDir: scratch, memBytes: indexAllowance(plan.budgetBytes).sortMemBytes }) : null;
  const load = tally ? (id: BlobId, side?: Side) => indexed.treeEntries(id, { onChunk: (c) => tally.chunk(side ?? 'after', c) }) : (id: BlobId) => indexed.treeEntries(id);
  try {
    tally?.roots(a.snapshot.tree, b.snapshot.tree);
    for await (const d of diffTrees(load, a.snapshot.tree, b.snapshot.tree, '', tally ?? undefined)) {
      counts[d.change]++;
      tally?.difference(d);
      // Escaped (displayName), as `ls` prints names: a newline in a name cannot forge a line.
      const path = displayName(d.path);
      if (out.json) out.data(changeJson(d, path));
      else out.result(`${MODIFIER[d.change]} ${path}`);
    }
    if (tally) out.data(statisticsJson(a.id, b.id, tally.finish()));
  } finally {
    tally?.discard();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  }
  if (!out.json) out.info(`${a.id.slice(0, 8)} -> ${b.id.slice(0, 8)}: ${counts.added} added, ${counts.removed} removed, ${counts.modified} modified, ${counts.type} changed type, ${counts.metadata} with only metadata changed`);
  return 0;
}
