// One backup run as every caller runs it (`engine backup`, `engine bench`, the tests): the
// archiver over the repository's blob uploader, so the run's packs and the index naming them are
// durable when it returns and the caller saves the snapshot after (FORMAT.md ordering).
import type { BlobId } from '../format/ids.js';
import type { TreeNode } from '../format/tree.js';
import type { WorkerPool } from '../worker-pool/pool.js';
import type { UploadedStats } from '../repository/blob-uploader.js';
import type { IndexedRepository } from '../repository/indexed-repository.js';
import { Archiver, type SegmentSource } from './archiver.js';
import type { ArchiverOptions } from './options.js';
import { stopIfBackupAborted } from './run-state.js';

export interface BackupRunOptions {
  /** Index objects are written after this many packs (and at the end), so an interrupted run resumes. */
  indexEveryPacks?: number;
  /** Called with the archiver before the walk starts (a progress line reads its counters). */
  onStart?: (archiver: Archiver) => void;
  /** Awaited after the last file is read, before the last packs and the index are stored (a test hook). */
  beforeFlush?: () => Promise<void>;
  /** Instead of the paths: the snapshot is this one file (in these folders), its content read from `source` (backup --stdin). */
  stream?: { folders: readonly TreeNode[]; file: TreeNode; source: SegmentSource };
  /** Everything read, chunked and sealed, nothing stored (backup --dry-run): BlobUploader's dryRun. */
  dryRun?: boolean;
}

export interface BackupRun {
  /** The root tree of the snapshot to save. */
  tree: BlobId;
  archiver: Archiver;
  uploaded: UploadedStats;
}

export async function runBackup(indexed: IndexedRepository, pool: WorkerPool, paths: string[], parentRoot: BlobId | null, archiverOptions: ArchiverOptions, opts: BackupRunOptions = {}): Promise<BackupRun> {
  const { plan, signal } = archiverOptions;
  const uploaderOptions = { packTargetBytes: plan.packTargetBytes, writesInFlight: plan.writesInFlight, indexEveryPacks: opts.indexEveryPacks ?? 16, sealedBytes: plan.sealedBytes, dryRun: opts.dryRun === true, ...(signal ? { signal } : {}) };
  const { result, stats } = await indexed.withBlobUploader(uploaderOptions, async (uploader) => {
    const archiver = new Archiver(indexed, pool, uploader, archiverOptions);
    opts.onStart?.(archiver);
    const tree = opts.stream ? await archiver.runStream(opts.stream.folders, opts.stream.file, opts.stream.source) : await archiver.run(paths, parentRoot);
    await opts.beforeFlush?.();
    stopIfBackupAborted(signal);
    return { tree, archiver };
  });
  return { ...result, uploaded: stats };
}
