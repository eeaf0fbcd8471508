// A backup with the real classes (archiver, pool, uploader), as `engine backup` runs it but in this
// process: for tests that need many backups quickly. Run `npm run build` first (the pool runs the
// compiled workers).
import { snapshotSummary } from '../../src/archiver/archiver.js';
import { runBackup } from '../../src/archiver/backup-run.js';
import type { OpenSession } from '../../src/session/open-session.js';
import type { SnapshotId } from '../../src/format/ids.js';
import type { Plan } from '../../src/memory/planner.js';
import type { WorkerPool } from '../../src/worker-pool/pool.js';
import { IndexedRepository } from '../../src/repository/indexed-repository.js';

export async function backupWithRealClasses(session: Pick<OpenSession, 'repo'>, pool: WorkerPool, plan: Plan, paths: string[], opts: { time?: Date; tags?: string[] } = {}): Promise<SnapshotId> {
  const { repo } = session;
  const index = await repo.loadIndex();
  const { tree, archiver, uploaded } = await runBackup(new IndexedRepository(repo, index), pool, paths, null, {
    plan,
    onProblem: (pr) => {
      throw new Error(`${pr.path}: ${pr.message}`);
    },
  });
  return repo.saveSnapshot({
    version: 1,
    time: (opts.time ?? new Date()).toISOString(),
    tree,
    paths,
    hostname: 'test',
    username: 'test',
    uid: -1,
    gid: -1,
    tags: opts.tags ?? [],
    summary: snapshotSummary(archiver.counters, uploaded, 0, 0),
  });
}
