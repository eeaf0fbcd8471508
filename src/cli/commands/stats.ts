import type { BlobId } from '../../format/ids.js';
import { IndexedRepository } from '../../repository/indexed-repository.js';
import { SeenBlobs } from '../../repository/seen-blobs.js';
import { RefJoin } from '../../disk-index/ref-join.js';
import { scratchFolder } from '../../disk-index/scan-index.js';
import { rmSync } from 'node:fs';
import { indexAllowance } from '../../memory/planner.js';
import { scratchFor } from '../scratch.js';
import { formatBytes } from '../../util/bytes.js';
import { repoLocation, type GlobalOptions } from '../context.js';
import { filterIsEmpty, selectSnapshots } from '../../repository/snapshot-filter.js';
import { snapshotFilterFromFlags, warnFilterIgnored, type SnapshotFilterFlags } from '../snapshot-filter-flags.js';
import { type StatsFigures, statsJson } from '../json/stats-json.js';
import type { Output } from '../output.js';
import { memoryPlan, openIndex, openRepository } from '../session.js';

/**
 * Sizes of the whole repository or of some snapshots: what they restore to (files, bytes), what
 * that is once deduplicated (distinct blobs, their raw bytes), and what it takes stored
 * (compressed and encrypted), so the dedup and compression ratios show.
 */
export async function statsCommand(refs: string[], flags: GlobalOptions & SnapshotFilterFlags & { memBudget?: string }, out: Output): Promise<number> {
  const session = await openRepository(flags, out);
  const { repo } = session;
  const plan = memoryPlan(session, flags.memBudget, out);
  const index = await openIndex(session, plan, out);
  const indexed = new IndexedRepository(repo, index);
  // As restic: the snapshots named (ids or "latest"), else every one --host/--tag/--path keep.
  const filter = snapshotFilterFromFlags(flags);
  const selection = selectSnapshots(await repo.listSnapshots(), refs, filter, repoLocation(flags));
  if (selection.filterIgnored) warnFilterIgnored(out);
  const snaps = selection.snapshots;
  let files = 0;
  let restoreBytes = 0;
  // Trees: one bit per index entry, not a Set of ids (src/repository/seen-blobs.ts). Data blobs:
  // sorted off the heap and joined with the index's runs in one pass once the walk is done
  // (src/disk-index/ref-join.ts), not looked up one by one.
  const treeBlobs = new SeenBlobs(index);
  const scratch = scratchFolder(scratchFor(flags, plan.budgetBytes).tmpDir, 'stats');
  const dataBlobs = new RefJoin({ tmpDir: scratch, memBytes: indexAllowance(plan.budgetBytes).sortMemBytes, tag: 'stats-data' });
  let distinctData = 0;
  let uniqueRaw = 0;
  let uniqueStored = 0;
  const count = (id: BlobId): void => {
    const loc = index.lookup(id);
    if (!loc) return;
    uniqueRaw += loc.rawLength;
    uniqueStored += loc.length;
  };
  // Every file is counted in every snapshot, but the blobs of a tree already walked were counted
  // the first time: under it, only the files are (no index lookup per blob for each snapshot).
  const walk = async (treeId: BlobId, known: boolean): Promise<void> => {
    const fresh = !known && treeBlobs.addNew(treeId);
    if (fresh) count(treeId);
    const chunk = (id: BlobId): void => {
      if (fresh && treeBlobs.addNew(id)) count(id);
    };
    for await (const n of indexed.treeEntries(treeId, { onChunk: chunk })) {
      if (n.type === 'dir' && n.subtree) await walk(n.subtree, !fresh);
      if (n.type !== 'file') continue;
      files++;
      restoreBytes += n.size ?? 0;
      if (!fresh) continue;
      for (const b of n.content ?? []) dataBlobs.add(b);
    }
  };
  try {
    for (const s of snaps) await walk(s.snapshot.tree, false);
    for (const ref of dataBlobs.join(index.recordStreams())) {
      distinctData++;
      if (!ref.record) continue;
      uniqueRaw += ref.record.rawLength;
      uniqueStored += ref.record.length;
    }
  } finally {
    dataBlobs.discard();
    rmSync(scratch, { recursive: true, force: true });
  }
  let packBytes = 0;
  let packs = 0;
  for await (const o of repo.packs.listObjects()) {
    packBytes += o.size;
    packs++;
  }
  const stats: StatsFigures = {
    snapshots: snaps.length,
    files,
    restoreBytes,
    dataBlobs: distinctData,
    treeBlobs: treeBlobs.count,
    uniqueRawBytes: uniqueRaw,
    uniqueStoredBytes: uniqueStored,
    dedupRatio: uniqueRaw > 0 ? restoreBytes / uniqueRaw : 1,
    compressionRatio: uniqueStored > 0 ? uniqueRaw / uniqueStored : 1,
    indexedBlobs: index.blobCount,
    packs,
    packBytes,
  };
  if (out.json) {
    out.data(statsJson(stats));
    return 0;
  }
  out.result(`snapshots:            ${stats.snapshots}${refs.length === 0 && filterIsEmpty(filter) ? ' (all)' : ''}`);
  out.result(`files:                ${stats.files}, restoring to ${formatBytes(stats.restoreBytes)}`);
  out.result(`distinct blobs:       ${stats.dataBlobs} data + ${stats.treeBlobs} tree, ${formatBytes(stats.uniqueRawBytes)} raw, ${formatBytes(stats.uniqueStoredBytes)} stored`);
  out.result(`deduplication:        ${stats.dedupRatio.toFixed(2)}x, compression ${stats.compressionRatio.toFixed(2)}x`);
  out.result(`repository:           ${stats.packs} packs, ${formatBytes(stats.packBytes)}, ${stats.indexedBlobs} blobs indexed`);
  return 0;
}
