// The worker pool of an opened repository: its threads hold the repository's keys, chunker
// parameters and cipher suite, and the primitives chosen in this process.
import { WorkerPool } from '../worker-pool/pool.js';
import { PROTOCOL_VERSION } from '../../workers/protocol.js';
import type { OpenSession } from './open-session.js';

/**
 * `lazy`: the threads start at the first task or `pool.start()` (a backup: one with nothing new to
 * read never starts them); otherwise now, so they load while the caller gets ready.
 */
export function startPool(s: Pick<OpenSession, 'repo' | 'chosen'>, threads: number, verifyAfterSeal: boolean, opts: { lazy?: boolean } = {}): WorkerPool {
  const { repo } = s;
  const pool = new WorkerPool(
    {
      protocol: PROTOCOL_VERSION,
      chosen: s.chosen,
      keys: repo.workerKeys(),
      gear: repo.gear,
      chunker: { minSize: repo.config.chunker.minSize, avgSize: repo.config.chunker.avgSize, maxSize: repo.config.chunker.maxSize },
      suite: repo.suite,
      zstdLevel: repo.config.compression.level,
      verifyAfterSeal,
    },
    threads,
  );
  if (opts.lazy !== true) pool.start();
  return pool;
}
