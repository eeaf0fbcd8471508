// A backup with the real classes (archiver, pool, uploader), as `engine backup` runs it but in this
// process: for tests that need many backups quickly. Run `npm run build` first (the pool runs the
// compiled workers).
import { Archiver, snapshotSummary } from '../../src/archiver/archiver.js';
import type { OpenSession } from '../../src/session/open-session.js';
import type { SnapshotId } from '../../src/format/ids.js';
import { ByteBudget } from '../../src/pipeline/budget.js';
import type { Plan } from '../../src/pipeline/planner.js';
import type { WorkerPool } from '../../src/pipeline/pool.js';
import { BlobUploader } from '../../src/repository/blob-uploader.js';

export async function backupWithRealClasses(session: Pick<OpenSession, 'repo'>, pool: WorkerPool, plan: Plan, paths: string[], opts: { time?: Date; tags?: string[] } = {}): Promise<SnapshotId> {
  const { repo } = session;
  const index = await repo.loadIndex();
  const sealedBudget = new ByteBudget('sealed', plan.sealedBytes);
  const uploader = new BlobUploader(repo, index, { packTargetBytes: plan.packTargetBytes, writesInFlight: plan.writesInFlight, indexEveryPacks: 16, sealedBudget });
  const archiver = new Archiver(repo, index, pool, uploader, sealedBudget, {
    plan,
    onProblem: (pr) => {
      throw new Error(`${pr.path}: ${pr.message}`);
    },
  });
  const tree = await archiver.run(paths, null);
  await uploader.flush();
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
    summary: snapshotSummary(archiver.counters, uploader.stats, 0, 0),
  });
}
