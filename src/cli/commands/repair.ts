import { BLOBS_PER_INDEX } from '../../format/index-file.js';
import { IntegrityError } from '../../errors/engine-error.js';
import type { PackId } from '../../format/ids.js';
import { displayName } from '../../fs/names.js';
import { repairIndex, repairSnapshots } from '../../repair/repair.js';
import type { GlobalOptions } from '../context.js';
import { maintenancePause } from './check.js';
import type { Output } from '../output.js';
import { memoryPlan, openRepository } from '../session.js';
import { IndexedRepository } from '../../repository/indexed-repository.js';
import { ScanIndex } from '../../disk-index/scan-index.js';
import { PackTable } from '../../disk-index/pack-table.js';
import type { OpenSession } from '../../session/open-session.js';
import { scratchFor } from '../scratch.js';

export interface RepairFlags extends GlobalOptions {
  dryRun?: boolean;
  memBudget?: string;
}

export async function repairIndexCommand(flags: RepairFlags, out: Output, signal: AbortSignal): Promise<number> {
  const session = await openRepository({ ...flags, cache: false }, out, { exclusive: true, command: 'repair index', signal });
  const plan = memoryPlan(session, flags.memBudget, out);
  const pause = maintenancePause();
  const r = await repairIndex(session.repo, { onProgress: (w) => out.info(w), signal, tmpDir: scratchFor(flags, plan.budgetBytes).tmpDir, blobsPerIndex: blobsPerIndexFor(plan.budgetBytes), ...(pause ? { pause } : {}) });
  if (out.json) {
    out.data({ message_type: 'summary', ...r });
    return 0;
  }
  for (const u of r.unreadable) out.warn(`pack ${u.packId}: header unreadable (${u.reason}); ${u.keptFromOldIndex ? 'its entries are kept from the old index: run `engine check --read-data`' : 'no old index named it: left out'}`);
  out.result(`index rebuilt from ${r.packs} pack(s), ${r.blobs} blob(s): ${r.indexObjectsWritten} index object(s) written, ${r.indexObjectsDeleted} replaced`);
  const lostPacks = r.unreadable.filter((u) => !u.keptFromOldIndex).length;
  if (lostPacks > 0) out.result(`${lostPacks} pack(s) with an unreadable header are in no index now (\`engine prune\` deletes them)`);
  return 0;
}

export async function repairSnapshotsCommand(flags: RepairFlags, out: Output, signal: AbortSignal): Promise<number> {
  const session = await openRepository({ ...flags, cache: false }, out, { exclusive: !flags.dryRun, command: 'repair snapshots', signal });
  const { repo } = session;
  const plan = memoryPlan(session, flags.memBudget, out);
  // The index as stored, off the heap (src/disk-index/scan-index.ts).
  const index = await ScanIndex.build(repo, { ...scratchFor(flags, plan.budgetBytes), readsInFlight: repo.metadataReads, signal });
  try {
    return await repairSnapshotsWith(session, index, plan.packTargetBytes, flags, out, signal);
  } finally {
    index.close();
  }
}

async function repairSnapshotsWith(session: OpenSession, index: ScanIndex, packTargetBytes: number, flags: RepairFlags, out: Output, signal: AbortSignal): Promise<number> {
  const { repo } = session;
  signal.throwIfAborted();
  // Blobs the index places in packs that are gone would be taken for present: the index must
  // first be rebuilt from the packs that exist.
  const stored = new Set<string>();
  for await (const { packId } of repo.packs.list()) {
    signal.throwIfAborted();
    stored.add(packId);
  }
  const gone = [...new PackTable(index).numbers].map((no) => index.packIdOf(no)).filter((id: PackId) => !stored.has(id));
  if (gone.length > 0) {
    throw new IntegrityError(`the index names ${gone.length} pack(s) that are missing (${gone.slice(0, 3).join(', ')}${gone.length > 3 ? ', ...' : ''})`, { hint: 'run `engine repair index` first, then `engine repair snapshots`' });
  }
  const pause = maintenancePause();
  const r = await repairSnapshots(new IndexedRepository(repo, index), {
    packTargetBytes,
    ...(flags.dryRun ? { dryRun: true } : {}),
    signal,
    ...(pause ? { pause } : {}),
    onLost: (l) => {
      if (out.json) out.data({ message_type: 'lost', ...l });
      else out.result(`snapshot ${l.snapshot.slice(0, 8)}: ${displayName(l.path)}: ${l.why}`);
    },
  });
  if (out.json) {
    out.data({ message_type: 'summary', dryRun: flags.dryRun === true, snapshots: r.snapshots, rewritten: r.rewritten, lostPaths: r.lost.length });
  } else if (flags.dryRun) {
    out.result(`${r.rewritten.length} of ${r.snapshots} snapshot(s) would be rewritten, ${r.lost.length} path(s) left out`);
  } else {
    for (const w of r.rewritten) out.result(`snapshot ${w.old.slice(0, 8)} replaced by ${w.new.slice(0, 8)} (tag "repaired")`);
    out.result(`${r.rewritten.length} of ${r.snapshots} snapshot(s) rewritten, ${r.lost.length} path(s) left out`);
  }
  return 0;
}

/**
 * Smaller index objects below 256 MiB: an object of 100,000 blobs took ~45 MiB of buffers while it
 * was encoded, compressed, encrypted and parked (`repair index` of 1M blobs peaked 132 MiB at
 * 128M); 25,000 blobs take a quarter of that. More objects cost one more read each when the index
 * cache is built.
 */
function blobsPerIndexFor(budgetBytes: number): number {
  return budgetBytes < 256 * 1024 * 1024 ? Math.floor(BLOBS_PER_INDEX / 4) : BLOBS_PER_INDEX;
}
