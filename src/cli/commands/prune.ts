import { UsageError } from '../../errors/engine-error.js';
import { Pruner, type PruneStats } from '../../prune/pruner.js';
import { scratchFor } from '../scratch.js';
import { formatBytes } from '../../util/bytes.js';
import { systemClock } from '../../util/clock.js';

import type { Output } from '../output.js';
import { assertLocksHeld } from '../locking.js';
import type { WorkerPool } from '../../worker-pool/pool.js';
import { memoryPlan, openRepository } from '../session.js';
import type { OpenSession } from '../../session/open-session.js';
import { startPool } from '../../session/worker-pool.js';
import { testHooks, type GlobalOptions } from '../context.js';
import { maintenancePause } from './check.js';

export interface PruneFlags extends GlobalOptions {
  maxUnused?: string;
  dryRun?: boolean;
  memBudget?: string;
}

/** `--max-unused 5%` (or a fraction such as 0.05). */
export function parseMaxUnused(text: string | undefined): number {
  if (text === undefined) return 0.05;
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(text);
  const v = pct ? Number(pct[1]) / 100 : /^\d*\.?\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(v >= 0 && v <= 1)) throw new UsageError(`--max-unused "${text}" is not a share between 0% and 100%`, { hint: 'give for example 5% (the default) or 0% to repack every partly used pack' });
  return v;
}

/** Runs prune on an open session (already holding the exclusive lock). */
export async function pruneSession(session: OpenSession, flags: PruneFlags, out: Output, signal: AbortSignal): Promise<PruneStats> {
  const plan = memoryPlan(session, flags.memBudget, out);
  let pool: WorkerPool | undefined;
  try {
    const hooks = testHooks();
    const pause = maintenancePause();
    return await new Pruner(session.repo, {
      maxUnused: parseMaxUnused(flags.maxUnused),
      dryRun: flags.dryRun === true,
      pool: () => (pool ??= startPool(session, plan.workers, false)),
      closePool: async () => {
        const p = pool;
        pool = undefined;
        await p?.close();
      },
      packTargetBytes: plan.packTargetBytes,
      sealedBytes: plan.sealedBytes,
      writesInFlight: plan.writesInFlight,
      scratch: scratchFor(flags, plan.budgetBytes),
      indexCacheDir: session.indexCacheDir,
      onProgress: (what) => out.info(what),
      signal,
      assertLocked: assertLocksHeld,
      ...(hooks.beforePruneStep ? { beforeStep: hooks.beforePruneStep } : {}),
      ...(pause ? { pause } : {}),
    }).run();
  } finally {
    await pool?.close();
  }
}

export function reportPrune(s: PruneStats, dryRun: boolean, secs: number, out: Output): void {
  if (out.json) {
    out.data({ message_type: 'summary', dryRun, ...s, durationSeconds: secs });
    return;
  }
  const would = dryRun ? 'would ' : '';
  out.result(`${s.snapshots} snapshot(s) use ${s.usedBlobs} blob(s) in ${s.packs} pack(s)`);
  out.result(`${would}delete ${s.packsDeleted} unused pack(s) and ${s.strayPacksDeleted} unindexed pack(s), ${would}repack ${s.blobsRepacked} blob(s) from ${s.packsRepacked} pack(s)${dryRun ? '' : ` into ${s.packsWritten}`}`);
  out.result(`stored ${formatBytes(s.bytesBefore)} -> ${formatBytes(s.bytesAfter)}${dryRun ? ' (estimated)' : ''}, ${formatBytes(s.unusedBytesAfter)} unused left, in ${secs.toFixed(1)} s`);
}

export async function pruneCommand(flags: PruneFlags, out: Output, signal: AbortSignal): Promise<number> {
  parseMaxUnused(flags.maxUnused);
  const started = systemClock.monotonicMs();
  const session = await openRepository(flags, out, { exclusive: !flags.dryRun, command: 'prune', signal });
  const stats = await pruneSession(session, flags, out, signal);
  reportPrune(stats, flags.dryRun === true, (systemClock.monotonicMs() - started) / 1000, out);
  return 0;
}
