import { UsageError } from '../../errors/engine-error.js';
import { Restorer } from '../../restorer/restorer.js';
import { formatBytes } from '../../util/bytes.js';
import { systemClock } from '../../util/clock.js';
import { peakRssBytes } from '../../util/memory.js';
import type { GlobalOptions } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import type { Output } from '../output.js';
import { ProgressLine } from '../progress.js';
import { closeIndex, memoryPlan, openIndex, openRepository, restoreLimits, startPool, type OpenSession } from '../session.js';
import type { DiskIndex } from '../../index/disk-index.js';
import { indexSummary } from './backup.js';

export interface RestoreFlags extends GlobalOptions {
  target?: string;
  include?: string[];
  memBudget?: string;
}

export async function restoreCommand(ref: string, flags: RestoreFlags, out: Output, signal: AbortSignal): Promise<number> {
  if (!flags.target) throw new UsageError('no target folder given', { hint: 'pass --target DIR' });
  const started = systemClock.monotonicMs();
  const session = await openRepository(flags, out, { exclusive: false, command: 'restore', signal });
  const index = await openIndex(session, memoryPlan(session, flags.memBudget, out), out, signal);
  try {
    return await restoreWithIndex(session, index, ref, { ...flags, target: flags.target }, out, signal, started);
  } finally {
    await closeIndex(index);
  }
}

async function restoreWithIndex(session: OpenSession, index: DiskIndex, ref: string, flags: RestoreFlags & { target: string }, out: Output, signal: AbortSignal, started: number): Promise<number> {
  const { repo } = session;
  const plan = memoryPlan(session, flags.memBudget, out, index);
  const { id, snapshot } = await repo.resolveSnapshot(ref);
  const include = (flags.include ?? []).map((p) => p.replace(/^\/+|\/+$/g, '')).filter((p) => p.length > 0);
  const pool = startPool(session, plan.workers, false);
  const problems: string[] = [];
  const restorer = new Restorer(repo, index, pool, {
    include,
    ...restoreLimits(session, plan),
    restoreOwnership: process.getuid?.() === 0,
    signal,
    onProblem: (p) => {
      problems.push(p.path);
      out.warn(`${p.path}: ${p.message}`);
    },
  });
  const c = restorer.counters;
  const progress = new ProgressLine('restore', { files: () => c.files, bytes: () => c.bytesWritten, totalBytes: () => c.bytesTotal }).start();
  try {
    await restorer.run(snapshot.tree, flags.target);
  } finally {
    progress.stop();
    await pool.close();
  }
  const secs = (systemClock.monotonicMs() - started) / 1000;
  if (out.json) {
    out.data({ message_type: 'summary', snapshotId: id, files: c.files, dirs: c.dirs, symlinks: c.symlinks, hardlinks: c.hardlinks, bytesWritten: c.bytesWritten, durationSeconds: secs, peakRssBytes: peakRssBytes(), budgetBytes: plan.budgetBytes, warnings: problems.length, index: indexSummary(index) });
  } else {
    out.result(`restored snapshot ${id.slice(0, 8)} to ${flags.target}: ${c.files} files, ${c.dirs} folders, ${c.symlinks} symlinks, ${c.hardlinks} hardlinks, ${formatBytes(c.bytesWritten)} in ${secs.toFixed(1)} s`);
  }
  return problems.length > 0 ? ExitCode.PARTIAL : ExitCode.OK;
}
