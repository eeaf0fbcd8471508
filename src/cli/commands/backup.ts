import { hostname, userInfo } from 'node:os';
import { resolve } from 'node:path';
import { Archiver, snapshotSummary, type SourceProblem } from '../../archiver/archiver.js';
import { startScan } from '../../archiver/scanner.js';
import { UsageError } from '../../errors/engine-error.js';
import type { SnapshotId } from '../../format/ids.js';
import type { Snapshot } from '../../format/snapshot.js';
import { ByteBudget } from '../../pipeline/budget.js';
import { BlobUploader } from '../../repository/blob-uploader.js';
import { formatBytes } from '../../util/bytes.js';
import { systemClock } from '../../util/clock.js';
import { peakRssBytes } from '../../util/memory.js';
import { testHooks, type GlobalOptions } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import type { Output } from '../output.js';
import { ProgressLine } from '../progress.js';
import { assertLocksHeld } from '../locking.js';
import { closeIndex, memoryPlan, openIndex, openRepository, startPool, type OpenSession } from '../session.js';
import type { DiskIndex } from '../../index/disk-index.js';

export interface BackupFlags extends GlobalOptions {
  memBudget?: string;
  tag?: string[];
  host?: string;
  extraVerify?: boolean;
}

export async function backupCommand(paths: string[], flags: BackupFlags, out: Output, signal: AbortSignal): Promise<number> {
  if (paths.length === 0) throw new UsageError('nothing to back up', { hint: 'give one or more paths: engine backup --repo R PATH...' });
  const started = systemClock.monotonicMs();
  const session = await openRepository(flags, out, { exclusive: false, command: 'backup', signal });
  const absPaths = paths.map((p) => resolve(p));
  const host = flags.host ?? hostname();
  const index = await openIndex(session, memoryPlan(session, flags.memBudget, out), out, signal);
  try {
    return await backupWithIndex(session, index, absPaths, host, flags, out, signal, started);
  } finally {
    await closeIndex(index);
  }
}

async function backupWithIndex(session: OpenSession, index: DiskIndex, absPaths: string[], host: string, flags: BackupFlags, out: Output, signal: AbortSignal, started: number): Promise<number> {
  const { repo } = session;
  const plan = memoryPlan(session, flags.memBudget, out, index);
  const adopted = await repo.indexStrayPacks(index, signal);
  if (adopted > 0) out.info(`indexed ${adopted} pack(s) stored by an interrupted backup: their data is reused, not uploaded again`);

  // Parent: the latest snapshot of the same paths from the same host (restic's rule).
  const all = await repo.listSnapshots();
  const key = JSON.stringify([...absPaths].sort());
  const parent = [...all].reverse().find((s) => s.snapshot.hostname === host && JSON.stringify([...s.snapshot.paths].sort()) === key);
  const parentRoot = parent && index.has(parent.snapshot.tree) ? await repo.loadTree(index, parent.snapshot.tree) : null;
  if (parent) out.info(`using parent snapshot ${parent.id.slice(0, 8)}`);

  const pool = startPool(session, plan.workers, flags.extraVerify !== false);
  const sealedBudget = new ByteBudget('sealed', plan.sealedBytes);
  const uploader = new BlobUploader(repo, index, { packTargetBytes: plan.packTargetBytes, writesInFlight: plan.writesInFlight, indexEveryPacks: 16, sealedBudget });
  const problems: SourceProblem[] = [];
  const archiver = new Archiver(repo, index, pool, uploader, sealedBudget, {
    ...pick(testHooks(), 'beforeOpen'),
    plan,
    signal,
    onProblem: (p) => {
      problems.push(p);
      out.warn(`${p.path}: ${p.message}`);
    },
  });
  const c = archiver.counters;
  // The scan that gives the progress line its total runs only when there is a terminal to show it.
  const scan = process.stderr.isTTY ? startScan(absPaths, signal) : null;
  const progress = new ProgressLine('backup', { files: () => c.filesDone, bytes: () => c.bytesDone, totalBytes: () => (scan?.done ? scan.bytes : null) }).start();
  let snapshotId: SnapshotId;
  let snapshot: Snapshot;
  try {
    const tree = await archiver.run(absPaths, parentRoot);
    // Ordering: every pack durable, then the index naming them, then the snapshot.
    await uploader.flush();
    const u = uploader.stats;
    const user = safeUser();
    snapshot = {
      version: 1,
      time: systemClock.now().toISOString(),
      tree,
      paths: absPaths,
      hostname: host,
      username: user.name,
      uid: user.uid,
      gid: user.gid,
      tags: flags.tag ?? [],
      ...(parent ? { parent: parent.id } : {}),
      summary: snapshotSummary(c, u, problems.length, (systemClock.monotonicMs() - started) / 1000),
    };
    // The snapshot is what makes the new data referenced: only under a lock still held (a prune
    // that took a lost lock for stale may have deleted what this backup deduplicated against).
    await assertLocksHeld();
    snapshotId = await repo.saveSnapshot(snapshot);
  } catch (err) {
    await uploader.abandon();
    throw err;
  } finally {
    progress.stop();
    await pool.close();
  }
  const s = snapshot.summary;
  const peak = peakRssBytes();
  if (out.json) {
    out.data({
      message_type: 'summary',
      snapshotId,
      parent: parent?.id ?? null,
      ...s,
      packsWritten: uploader.stats.packsWritten,
      packsAdopted: adopted,
      budgetBytes: plan.budgetBytes,
      peakRssBytes: peak,
      index: indexSummary(index),
      readHighWaterBytes: archiver.segments.highWaterBytes,
      sealedHighWaterBytes: sealedBudget.highWater,
    });
  } else {
    out.result(`snapshot ${snapshotId.slice(0, 8)} saved`);
    out.result(`files: ${s.filesNew} new, ${s.filesChanged} changed, ${s.filesUnmodified} unmodified; ${s.dirs} folders`);
    out.result(`read ${formatBytes(s.bytesRead)} from ${s.filesRead} files; added ${formatBytes(s.bytesAddedRaw)} in ${s.blobsNew} blobs (${formatBytes(s.bytesAddedStored)} stored)`);
    out.result(`took ${s.durationSeconds.toFixed(1)} s, peak memory ${formatBytes(peak)} of a ${formatBytes(plan.budgetBytes)} budget`);
  }
  if (problems.length > 0) {
    out.warn(`${problems.length} source file(s) could not be read and were left out of the snapshot`);
    return ExitCode.PARTIAL;
  }
  return ExitCode.OK;
}

function safeUser(): { name: string; uid: number; gid: number } {
  try {
    const u = userInfo();
    return { name: u.username, uid: u.uid, gid: u.gid };
  } catch {
    return { name: '', uid: -1, gid: -1 };
  }
}

function pick<T extends object, K extends keyof T>(o: T, key: K): Partial<Pick<T, K>> {
  return o[key] === undefined ? {} : ({ [key]: o[key] } as Partial<Pick<T, K>>);
}

/** What opening the index cost, for --json (the scale benchmark reads it). */
export function indexSummary(index: DiskIndex): Record<string, unknown> {
  return { open: index.stats.kind, openSeconds: index.stats.openSeconds, indexObjectsRead: index.stats.indexObjectsRead, entries: index.blobCount, runs: index.stats.runs, residentBytes: index.residentBytes, pageReads: index.pageReads };
}
