import { UsageError } from '../../errors/engine-error.js';
import { copySnapshots, READ_SPAN } from '../../repair/copy.js';
import { IndexedRepository } from '../../repository/indexed-repository.js';
import { selectSnapshots } from '../../repository/snapshot-filter.js';
import { closeSessionIndex } from '../../session/session-index.js';
import { openSession } from '../../session/open-session.js';
import { formatBytes } from '../../util/bytes.js';
import { fromRepoLocation, nativePolicy, readFromPassword, repoLocation, type FromRepoOptions, type GlobalOptions } from '../context.js';
import { assertLocksHeld, lockRepository } from '../locking.js';
import type { Output } from '../output.js';
import { memoryPlan, openIndex, openRepository } from '../session.js';
import { snapshotFilterFromFlags, warnFilterIgnored, type SnapshotFilterFlags } from '../snapshot-filter-flags.js';

export interface CopyFlags extends GlobalOptions, SnapshotFilterFlags, FromRepoOptions {
  dryRun?: boolean;
  memBudget?: string;
}

/**
 * restic's `copy`: the snapshots named (or every one the filters keep) of the --from-repo
 * repository saved in this one (--repo), with the data they need; a snapshot copied before is not
 * copied again. Both repositories are held under a shared lock, as a backup holds it. What moves
 * depends on whether this repository was made with `init --from-repo SRC --copy-chunker-params`
 * (src/repair/copy.ts).
 */
export async function copyCommand(refs: string[], flags: CopyFlags, out: Output, signal: AbortSignal): Promise<number> {
  const from = fromRepoLocation(flags);
  if (from === undefined) throw new UsageError('copy needs the repository to copy from', { hint: 'pass --from-repo PATH (or set ENGINE_FROM_REPOSITORY); --repo is where the snapshots go' });
  if (from === repoLocation(flags)) throw new UsageError('--from-repo and --repo name the same repository: nothing to copy');
  const filter = snapshotFilterFromFlags(flags);
  const dest = await openRepository(flags, out, { exclusive: false, command: 'copy', signal });
  const source = await openSession(from, { ...flags, policy: nativePolicy() }, () => readFromPassword(flags), (m) => out.warn(m));
  if (source.repo.config.id === dest.repo.config.id) throw new UsageError('--from-repo and --repo are the same repository (one config id): nothing to copy');
  await lockRepository(source.repo, { exclusive: false, command: 'copy', signal }, flags.retryLock);
  const plan = memoryPlan(dest, flags.memBudget, out);
  // The two indexes share the index's allowance of the budget.
  const half = { ...plan, budgetBytes: Math.floor(plan.budgetBytes / 2) };
  const sourceIndex = await openIndex(source, half, out, signal);
  let destIndex;
  try {
    destIndex = await openIndex(dest, half, out, signal);
  } catch (err) {
    await closeSessionIndex(sourceIndex);
    throw err;
  }
  try {
    // The plan again, with both indexes' share of it.
    const withIndexes = memoryPlan(dest, flags.memBudget, out, {
      residentBytes: sourceIndex.residentBytes + destIndex.residentBytes,
      pageCacheBytes: sourceIndex.pageCacheBytes + destIndex.pageCacheBytes,
    });
    const selection = selectSnapshots(await source.repo.listSnapshots(), refs, filter, from);
    if (selection.filterIgnored) warnFilterIgnored(out);
    const dry = flags.dryRun === true;
    const maxChunk = source.repo.config.chunker.maxSize;
    const r = await copySnapshots(new IndexedRepository(source.repo, sourceIndex), new IndexedRepository(dest.repo, destIndex), selection.snapshots, {
      packTargetBytes: withIndexes.packTargetBytes,
      sealedBytes: withIndexes.sealedBytes,
      // The plan's read share holds a batch of blobs to read (their plaintext and sealed bytes,
      // at least two of the largest chunks) and the ranges in flight (each up to READ_SPAN read,
      // gaps included, and its plaintext): half for each.
      batchBytes: Math.max(2 * maxChunk, Math.floor(withIndexes.readBytes / 2)),
      readsInFlight: Math.max(1, Math.min(source.remote ? source.repo.readParallelism : 2, Math.floor(withIndexes.readBytes / 2 / (2 * READ_SPAN)))),
      assertLocked: assertLocksHeld,
      signal,
      ...(dry ? { dryRun: true } : {}),
      onSnapshot: (e) => {
        if (out.json) return;
        if (e.kind === 'present') out.info(`snapshot ${e.source.slice(0, 8)} is already here as ${e.copy.slice(0, 8)}`);
        else if (e.kind === 'would-copy') out.result(`would copy snapshot ${e.source.slice(0, 8)}`);
        else out.result(`snapshot ${e.source.slice(0, 8)} copied as ${e.copy.slice(0, 8)}`);
      },
    });
    if (out.json) {
      out.data({ message_type: 'summary', dryRun: dry, considered: selection.snapshots.length, copied: r.copied, present: r.present, blobsAdded: r.blobsAdded, bytesAdded: r.bytesAdded, sharedChunking: r.sharedIds });
    } else {
      const toCopy = selection.snapshots.length - r.present.length;
      if (dry) out.result(`${toCopy} of ${selection.snapshots.length} snapshot(s) would be copied`);
      else out.result(`${r.copied.length} of ${selection.snapshots.length} snapshot(s) copied (${r.present.length} already here), ${r.blobsAdded} blob(s) added, ${formatBytes(r.bytesAdded)}`);
      if (!r.sharedIds && r.copied.length > 0 && out.verbose) {
        out.info('this repository names chunks with its own key: every file was read to name it here (a repository made with `init --from-repo SRC --copy-chunker-params` reads only what it lacks)');
      }
    }
    return 0;
  } finally {
    await closeSessionIndex(destIndex);
    await closeSessionIndex(sourceIndex);
  }
}
