// Opening a repository for a command: the location, password and primitives from the flags and
// the environment, the lock the command holds, and what is said about the plan and the index.
// The opening itself is the library's (src/session/).
import type { DiskIndex } from '../disk-index/disk-index.js';
import { describePlan, type Plan, type PlanCommand } from '../memory/planner.js';
import { openSession, type OpenSession } from '../session/open-session.js';
import { type IndexShareOf, planMemory } from '../session/memory-plan.js';
import { openSessionIndex } from '../session/session-index.js';
import { parseSize } from '../util/bytes.js';
import { nativePolicy, readPassword, repoLocation, type GlobalOptions } from './context.js';
import { lockRepository, type LockRequest } from './locking.js';
import type { Output } from './output.js';

/**
 * Opens the repository; with `lock`, also takes a shared or exclusive lock on it, held until the
 * command ends (src/cli/locking.ts).
 */
export async function openRepository(opts: GlobalOptions, out: Output, lock?: LockRequest): Promise<OpenSession> {
  const location = repoLocation(opts);
  const session = await openSession(location, { ...opts, policy: nativePolicy() }, () => readPassword(opts, 'open'), (m) => out.warn(m));
  if (lock) await lockRepository(session.repo, lock, opts.retryLock);
  return session;
}

/**
 * The memory plan for a command within --mem-budget (src/session/memory-plan.ts). Called once
 * before the index is opened and once after, with the index's share: that second time it says
 * what the plan is with --verbose.
 */
export function memoryPlan(s: OpenSession, memBudget: string | undefined, out: Output, index?: IndexShareOf, command: PlanCommand = 'other'): Plan {
  const p = planMemory(s, memBudget !== undefined ? parseSize(memBudget, '--mem-budget') : undefined, index, command);
  if (!index) return p;
  if (memBudget !== undefined && process.platform === 'linux' && process.env.ENGINE_LAUNCHER !== '1') {
    out.warn('engine was started without its launcher (bin/engine, which `npx engine` runs): the allocator and GC settings that keep --mem-budget are missing');
  }
  if (out.verbose) for (const line of describePlan(p)) out.info(line);
  return p;
}

/**
 * Opens the off-heap index (src/session/session-index.ts) within the allowance of the plan's
 * budget, saying its progress, and how it was opened when that took reading index objects (or
 * with --verbose). Close it with `closeSessionIndex`.
 */
export async function openIndex(s: OpenSession, plan: Plan, out: Output, signal?: AbortSignal): Promise<DiskIndex> {
  const index = await openSessionIndex(s, plan, { ...(signal ? { signal } : {}), onProgress: (m) => out.info(m) });
  const st = index.stats;
  if (out.verbose || (st.kind === 'cold' && st.indexObjectsRead > 0)) {
    out.info(`index: ${st.kind} open in ${st.openSeconds.toFixed(2)} s (${st.indexObjectsRead} index object(s) read, ${index.blobCount} entries in ${st.runs} run(s))`);
  }
  return index;
}
