// The off-heap index (src/disk-index/disk-index.ts) of an opened repository: in the repository's cache
// folder, or in a temporary folder removed when the process ends.
import { rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskIndex } from '../disk-index/disk-index.js';
import { indexAllowance, type Plan } from '../memory/planner.js';
import type { OpenSession } from './open-session.js';

export interface OpenIndexOptions {
  signal?: AbortSignal;
  /** Progress of a cold open (index objects read, runs merged). */
  onProgress?: (message: string) => void;
}

/**
 * Opens the off-heap index in this repository's cache folder, within the allowance of the plan's
 * budget. Without a cache folder (--no-cache) it is built in a temporary folder and removed when
 * the process ends. Close it with `closeSessionIndex`.
 */
export async function openSessionIndex(s: Pick<OpenSession, 'repo' | 'indexCacheDir'>, plan: Plan, opts: OpenIndexOptions = {}): Promise<DiskIndex> {
  const allowance = indexAllowance(plan.budgetBytes);
  let dir = s.indexCacheDir;
  if (!dir) {
    const made = await mkdtemp(join(tmpdir(), 'engine-index-'));
    temporaryIndexDirs.push(made);
    // Commands that do not close their index (ls, diff, stats) still leave nothing behind.
    process.once('exit', () => rmSync(made, { recursive: true, force: true }));
    dir = made;
  }
  return DiskIndex.open(s.repo, {
    dir,
    pageCacheBytes: allowance.pageCacheBytes,
    sortMemBytes: allowance.sortMemBytes,
    readBytes: allowance.readBytes,
    readsInFlight: s.repo.metadataReads,
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
  });
}

const temporaryIndexDirs: string[] = [];

/** Closes the index, and removes it when it was built for this run only (no cache folder). */
export async function closeSessionIndex(index: DiskIndex): Promise<void> {
  index.close();
  for (const dir of temporaryIndexDirs.splice(0)) await rm(dir, { recursive: true, force: true });
}
