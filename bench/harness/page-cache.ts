// The page cache before a measured step. By default it is dropped (the peers comparison is taken so, docs/BENCHMARKS.md:
// every step starts cold, so no tool reads what an earlier one left in memory); `--warm` keeps
// it. Either way `sync` runs first, so no step pays for the write-back of an earlier one.
//
// Dropping needs Linux and root (it writes 3 to /proc/sys/vm/drop_caches). Without them, or when
// the write fails (a container whose /proc/sys is read-only), the harness says so once on stderr
// and goes on warm; pageCacheMethod() then says what the figures were taken with.

import fs from 'node:fs/promises';
import { commandOutput } from './process.js';

const DROP_CACHES = '/proc/sys/vm/drop_caches';

/** Why the cache cannot be dropped, once that was found out; undefined while it can be. */
let cannotDrop: string | undefined;
let announced = false;

function whyNotPossible(): string | undefined {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (process.getuid?.() !== 0) return 'not root';
  return undefined;
}

/**
 * `sync`, then drop the page cache, dentries and inodes (3 > /proc/sys/vm/drop_caches). When that
 * is not possible, says why once on stderr and leaves the cache warm. Returns whether it dropped.
 */
export async function dropPageCache(): Promise<boolean> {
  await commandOutput('sync', []);
  cannotDrop ??= whyNotPossible();
  if (cannotDrop === undefined) {
    try {
      await fs.writeFile(DROP_CACHES, '3\n');
      return true;
    } catch (err) {
      cannotDrop = `writing ${DROP_CACHES} failed: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
    }
  }
  if (!announced) {
    announced = true;
    process.stderr.write(`note: cannot drop the page cache (${cannotDrop}); the steps run with a warm cache\n`);
  }
  return false;
}

/** Before every measured step: `sync`, then drop the page cache unless `warm`. */
export async function settleBeforeStep(warm: boolean): Promise<void> {
  if (warm) await commandOutput('sync', []);
  else await dropPageCache();
}

/** How the page cache was treated, for the report: 'dropped', or why it stayed warm. */
export function pageCacheState(warm: boolean): { dropped: boolean; why?: string } {
  if (warm) return { dropped: false, why: '--warm' };
  if (cannotDrop !== undefined) return { dropped: false, why: cannotDrop };
  return { dropped: true };
}
