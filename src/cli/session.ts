// Opening a repository for a command and building the worker pool and memory plan for it.
import { availableParallelism, freemem, totalmem } from 'node:os';
import type { PrimitiveName } from '../../native-bindings/types.js';
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskIndex } from '../index/disk-index.js';
import { defaultBudget, describePlan, indexAllowance, plan as makePlan, type Plan } from '../pipeline/planner.js';
import { WorkerPool } from '../pipeline/pool.js';
import { Repository } from '../repository/repository.js';
import type { RestoreOptions } from '../restorer/restorer.js';
import { parseSize } from '../util/bytes.js';
import { enableExplicitGc } from '../util/gc.js';

import { PROTOCOL_VERSION } from '../../workers/protocol.js';
import { primitives, readPassword, repoLocation, type GlobalOptions } from './context.js';
import { openBackend } from './open-backend.js';
import { lockRepository, type LockRequest } from './locking.js';
import type { Output } from './output.js';

export interface OpenSession {
  repo: Repository;
  /** The repository is on another machine: worth more requests in flight. */
  remote: boolean;
  chosen: Record<PrimitiveName, string>;
  fallback: boolean;
  /** Where the off-heap index is kept; null with --no-cache (a temporary folder then). */
  indexCacheDir: string | null;
}

/**
 * Opens the repository; with `lock`, also takes a shared or exclusive lock on it, held until the
 * command ends (src/cli/locking.ts).
 */
export async function openRepository(opts: GlobalOptions, out: Output, lock?: LockRequest): Promise<OpenSession> {
  const location = repoLocation(opts);
  const { backend, remote, indexCacheDir } = await openBackend(location, opts, (m) => out.warn(m));
  const { primitives: p, report, policy } = await primitives();
  const password = await readPassword(opts, 'open');
  const repo = await Repository.open(backend, p, password);
  if (lock) await lockRepository(repo, lock, opts.retryLock);
  const chosen = Object.fromEntries(report.map((r) => [r.primitive, r.chosen])) as Record<PrimitiveName, string>;
  return { repo, remote, chosen, fallback: policy === 'fallback', indexCacheDir };
}

/**
 * The memory plan for a command. Called once before the index is opened (to refuse a budget too
 * small early, and to size the index's allowance) and once after, with the index's share.
 */
export function memoryPlan(s: OpenSession, memBudget: string | undefined, out: Output, index?: DiskIndex): Plan {
  const input = {
    cpus: availableParallelism(),
    packSizeBytes: s.repo.config.packSizeBytes,
    maxChunkBytes: s.repo.config.chunker.maxSize,
    fallback: s.fallback,
    kdfBytes: s.repo.kdf.mKiB * 1024,
  };
  const budgetBytes = memBudget !== undefined ? parseSize(memBudget, '--mem-budget') : defaultBudget(totalmem(), freemem(), input);
  // Before the index is open its page cache is known (its filters are not): counted already, so
  // that the minimum named by a refusal here is the one the second plan holds to.
  const share = index ? { residentBytes: index.residentBytes, pageCacheBytes: index.pageCacheBytes } : { residentBytes: 0, pageCacheBytes: indexAllowance(budgetBytes).pageCacheBytes };
  const p = makePlan({ ...input, index: share, budgetBytes });
  // Full GC of the main thread each time the headroom's worth of buffers was dropped (docs/MEMORY.md):
  // collecting at a quarter of it kept the same peak and cost time (2 GiB backup at 1 GiB: 14.9 s, not 14.1 s).
  enableExplicitGc(Math.max(8 * 1024 * 1024, p.headroomBytes));
  if (!index) return p;
  if (memBudget !== undefined && process.platform === 'linux' && process.env.ENGINE_LAUNCHER !== '1') {
    out.warn('engine was started without its launcher (bin/engine, which `npx engine` runs): the allocator and GC settings that keep --mem-budget are missing');
  }
  if (out.verbose) for (const line of describePlan(p)) out.info(line);
  return p;
}

/**
 * Opens the off-heap index (src/index/disk-index.ts) in this repository's cache folder, within
 * the allowance of the plan's budget. With --no-cache it is built in a temporary folder and
 * removed when the command ends. Close it with `closeIndex`.
 */
export async function openIndex(s: OpenSession, plan: Plan, out: Output, signal?: AbortSignal): Promise<DiskIndex> {
  const allowance = indexAllowance(plan.budgetBytes);
  let dir = s.indexCacheDir;
  if (!dir) {
    const made = await mkdtemp(join(tmpdir(), 'engine-index-'));
    temporaryIndexDirs.push(made);
    // Commands that do not close their index (ls, diff, stats) still leave nothing behind.
    process.once('exit', () => rmSync(made, { recursive: true, force: true }));
    dir = made;
  }
  const index = await DiskIndex.open(s.repo, {
    dir,
    pageCacheBytes: allowance.pageCacheBytes,
    sortMemBytes: allowance.sortMemBytes,
    readBytes: allowance.readBytes,
    readsInFlight: s.repo.metadataReads,
    ...(signal ? { signal } : {}),
    onProgress: (m) => out.info(m),
  });
  const st = index.stats;
  if (out.verbose || (st.kind === 'cold' && st.indexObjectsRead > 0)) {
    out.info(`index: ${st.kind} open in ${st.openSeconds.toFixed(2)} s (${st.indexObjectsRead} index object(s) read, ${index.blobCount} entries in ${st.runs} run(s))`);
  }
  return index;
}

const temporaryIndexDirs: string[] = [];

/** Closes the index, and removes it when it was built for this command only (--no-cache). */
export async function closeIndex(index: DiskIndex): Promise<void> {
  index.close();
  for (const dir of temporaryIndexDirs.splice(0)) await rm(dir, { recursive: true, force: true });
}

export function startPool(s: OpenSession, threads: number, verifyAfterSeal: boolean): WorkerPool {
  const { repo } = s;
  return new WorkerPool(
    {
      protocol: PROTOCOL_VERSION,
      chosen: s.chosen,
      keys: { xchacha: repo.keys.xchacha, aes: repo.keys.aes, blobId: repo.keys.blobId },
      gear: repo.gear,
      chunker: { minSize: repo.config.chunker.minSize, avgSize: repo.config.chunker.avgSize, maxSize: repo.config.chunker.maxSize },
      suite: repo.suite,
      zstdLevel: repo.config.compression.level,
      verifyAfterSeal,
    },
    threads,
  );
}

/** How restore reads packs within a plan: shared by `engine restore` and `engine bench`. */
export function restoreLimits(s: OpenSession, plan: Plan): Pick<RestoreOptions, 'readBudgetBytes' | 'minRangeBudgetBytes' | 'maxRangeBytes' | 'readsInFlight' | 'rangesPerBudget'> {
  return {
    // A range in flight holds its bytes and their plaintext (counted exactly), and the garbage of
    // ranges already written lingers until collected: so restore gets half of the data share of
    // the plan (measured in docs/MEMORY.md).
    readBudgetBytes: Math.floor((plan.readBytes + plan.sealedBytes + plan.writesInFlight * plan.packTargetBytes) / 2),
    minRangeBudgetBytes: 8 * 1024 * 1024,
    maxRangeBytes: 32 * 1024 * 1024,
    // A local disk is kept busy by a few reads; a remote store needs many in flight to hide
    // its latency (the byte budget still bounds what they hold).
    readsInFlight: s.remote ? s.repo.backend.parallelism : plan.workers + 1,
    rangesPerBudget: s.remote ? 8 : 4,
  };
}
