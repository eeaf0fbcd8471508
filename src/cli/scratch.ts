// Where a maintenance command (check, prune, repair, stats) keeps its off-heap view of the index
// (src/disk-index/scan-index.ts), and with how much memory: beside the repository's index cache,
// or in the system's temporary folder without one (--no-cache, and check, which reads no cache);
// its memory is the index allowance of the budget (sort buffers, page cache, index objects read
// at once), as a cold open of the index cache has.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ScanScratch } from '../disk-index/scan-index.js';
import { indexAllowance } from '../memory/planner.js';
import type { OpenSession } from '../session/open-session.js';

export function scratchFor(session: Pick<OpenSession, 'indexCacheDir'>, budgetBytes: number): ScanScratch {
  const a = indexAllowance(budgetBytes);
  return { tmpDir: session.indexCacheDir ? join(session.indexCacheDir, 'tmp') : tmpdir(), sortMemBytes: a.sortMemBytes, pageCacheBytes: a.pageCacheBytes, readBytes: a.readBytes };
}
