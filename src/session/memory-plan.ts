// The memory plan of a command or benchmark run on an opened repository, and how restore reads
// packs within it.
import { availableParallelism, freemem, totalmem } from 'node:os';
import type { DiskIndex } from '../disk-index/disk-index.js';
import { defaultBudget, indexAllowance, plan as makePlan, RESTORE_MIN_RANGE, type Plan, type PlanCommand } from '../memory/planner.js';
import type { RestoreOptions } from '../restorer/restorer.js';
import { enableExplicitGc } from '../util/gc.js';
import type { OpenSession } from './open-session.js';

/** What the plan counts of an open index (or of several: `copy` holds two). */
export type IndexShareOf = Pick<DiskIndex, 'residentBytes' | 'pageCacheBytes'>;

/**
 * The memory plan within `budgetBytes` (undefined: a default from the machine's memory). Called
 * once before the index is opened (to refuse a budget too small early, and to size the index's
 * allowance) and once after, with the index's share. `command`: a backup's segment pool has a
 * floor of its own (planner.ts minimumReadBytes); the minimum named is the command's.
 */
export function planMemory(s: Pick<OpenSession, 'repo' | 'fallback'> & { remote?: boolean }, budgetBytes: number | undefined, index?: IndexShareOf, command: PlanCommand = 'other'): Plan {
  const input = {
    cpus: availableParallelism(),
    packSizeBytes: s.repo.config.packSizeBytes,
    maxChunkBytes: s.repo.config.chunker.maxSize,
    fallback: s.fallback,
    kdfBytes: s.repo.kdf.mKiB * 1024,
    command,
    // The CLI derives the key of a local repository before loading the rest (src/cli/early-key.ts).
    keyDerivedEarly: s.remote !== true,
  };
  const budget = budgetBytes ?? defaultBudget(totalmem(), freemem(), input);
  // Before the index is open its page cache is known (its filters are not): counted already, so
  // that the minimum named by a refusal here is the one the second plan holds to.
  const share = index ? { residentBytes: index.residentBytes, pageCacheBytes: index.pageCacheBytes } : { residentBytes: 0, pageCacheBytes: indexAllowance(budget).pageCacheBytes };
  const p = makePlan({ ...input, index: share, budgetBytes: budget });
  // Full GC of the main thread each time the headroom's worth of buffers was dropped (docs/MEMORY.md):
  // collecting at a quarter of it kept the same peak and cost time (2 GiB backup at 1 GiB: 14.9 s, not 14.1 s).
  enableExplicitGc(Math.max(8 * 1024 * 1024, p.headroomBytes));
  return p;
}


/**
 * How restore reads packs within a plan: shared by `engine restore` and `engine bench`. Also
 * sizes the main thread's explicit GC for restore (see below).
 */
export function restoreLimits(s: Pick<OpenSession, 'remote' | 'repo'>, plan: Plan): Pick<RestoreOptions, 'readBudgetBytes' | 'minRangeBudgetBytes' | 'maxRangeBytes' | 'readsInFlight' | 'rangesPerBudget'> {
  const dataBytes = plan.readBytes + plan.sealedBytes + plan.writesInFlight * plan.packTargetBytes;
  // A range in flight holds its bytes and their plaintext (counted exactly), and the garbage of
  // ranges already written lingers until collected: so restore gets half of the data share of
  // the plan (measured in docs/MEMORY.md).
  const readBudgetBytes = Math.floor(dataBytes / 2);
  // That garbage may use half of what restore leaves of the data share beyond the headroom
  // before the main thread collects: at the headroom alone, a small budget collected after every
  // second range written (60 full GCs, 0.7 s of a 1 GiB restore at 256M).
  enableExplicitGc(Math.max(8 * 1024 * 1024, plan.headroomBytes) + Math.floor((dataBytes - readBudgetBytes) / 2));
  return {
    readBudgetBytes,
    minRangeBudgetBytes: RESTORE_MIN_RANGE,
    // The bytes read and their plaintext: a whole pack of the default 16 MiB and its plaintext.
    maxRangeBytes: 64 * 1024 * 1024,
    // A local disk is kept busy by a few reads; a remote store needs many in flight to hide
    // its latency (the byte budget still bounds what they hold).
    readsInFlight: s.remote ? s.repo.readParallelism : plan.workers + 1,
    rangesPerBudget: s.remote ? 8 : 4,
  };
}
