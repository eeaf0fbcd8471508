// Where a maintenance command (check, prune, repair) keeps its off-heap view of the index
// (src/disk-index/scan-index.ts) and its sort files, and with how much memory. On disk, in the
// cache folder (--cache-dir, $XDG_CACHE_HOME/engine or ~/.cache/engine) under `scratch/`: not in
// the system's temporary folder, which is often a tmpfs held in RAM (Debian 13, Fedora, Arch), where
// ten million entries (~0.5 GB) would take the very memory the budget protects. With --no-cache,
// nothing goes to the cache folder: the system's temporary folder ($TMPDIR) is used. Check and
// repair read no cached copy of the repository's objects, but the user's --no-cache still decides
// where the scratch goes. Its memory is the index allowance of the budget (sort buffers, page
// cache, index objects read at once), as a cold open of the index cache has.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ScanScratch } from '../disk-index/scan-index.js';
import { indexAllowance } from '../memory/planner.js';
import { cacheBaseDir } from '../session/open-backend.js';
import type { GlobalOptions } from './context.js';

export function scratchFor(flags: Pick<GlobalOptions, 'cache' | 'cacheDir'>, budgetBytes: number): ScanScratch {
  const a = indexAllowance(budgetBytes);
  return { tmpDir: flags.cache === false ? tmpdir() : join(cacheBaseDir(flags.cacheDir), 'scratch'), sortMemBytes: a.sortMemBytes, pageCacheBytes: a.pageCacheBytes, readBytes: a.readBytes };
}
