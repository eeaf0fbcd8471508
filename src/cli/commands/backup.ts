import { flattenTagLists } from '../../repository/snapshot-filter.js';
import { appendFile, stat } from 'node:fs/promises';
import { hostname, userInfo } from 'node:os';
import { type Archiver, snapshotSummary, type ArchiverOptions, type ExcludedFolder, type Selection, type SourceProblem } from '../../archiver/archiver.js';
import { runBackup } from '../../archiver/backup-run.js';
import { stopIfBackupAborted as stopIfAborted } from '../../archiver/run-state.js';
import { indexStrayPacks } from '../../repository/stray-packs.js';
import { startScan } from '../../archiver/scanner.js';
import type { SnapshotId } from '../../format/ids.js';
import type { Snapshot } from '../../format/snapshot.js';
import type { UploadedStats } from '../../repository/blob-uploader.js';
import { formatBytes } from '../../util/bytes.js';
import { systemClock } from '../../util/clock.js';
import { peakRssBytes } from '../../util/memory.js';
import { testHooks, type GlobalOptions } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import type { Output } from '../output.js';
import { ProgressLine } from '../progress.js';
import { backupStatus } from '../json/status.js';
import { assertLocksHeld } from '../locking.js';
import { recordMetrics } from '../metrics.js';
import { memoryPlan, openIndex, openRepository } from '../session.js';
import type { OpenSession } from '../../session/open-session.js';
import { closeSessionIndex } from '../../session/session-index.js';
import { startPool } from '../../session/worker-pool.js';
import type { DiskIndex } from '../../disk-index/disk-index.js';
import { loadPosix, NotKeptNotices, PosixError, type PosixOps } from '../../../native-bindings/posix/index.js';
import { displayName } from '../../fs/names.js';
import { IndexedRepository } from '../../repository/indexed-repository.js';
import type { Repository } from '../../repository/repository.js';
import type { SnapshotSummary } from '../../format/snapshot.js';
import { ownFolders } from '../own-folders.js';
import { backupTargets, selectionFromFlags, type SelectionFlags, type TargetFlags } from '../backup-selection.js';
import { openStdinSource, stdinNodes, stdinRequest, type StdinFlags, type StdinRequest } from '../backup-stdin.js';
import { backupTime, chooseParent, readConcurrency, sameBackupPaths, type ParentFlags } from '../backup-options.js';

export interface BackupFlags extends GlobalOptions, SelectionFlags, TargetFlags, StdinFlags, ParentFlags {
  memBudget?: string;
  tag?: string[];
  host?: string;
  extraVerify?: boolean;
  /** Store access times (restic's flag): off by default, since atime changes on every read. */
  withAtime?: boolean;
  /** Read, chunk and count everything, store nothing (restic's -n): no pack, index, snapshot or lock. */
  dryRun?: boolean;
  /** restic 0.17's: no new snapshot when its tree is the parent's. */
  skipIfUnchanged?: boolean;
  /** Files read at once (restic's --read-concurrency): the plan's fileConcurrency. */
  readConcurrency?: string;
  /** The snapshot's time, "YYYY-MM-DD HH:MM:SS" in local time (restic's --time). */
  time?: string;
}

/** What the run backs up: paths, or one file read from a stream (--stdin). */
interface Chosen {
  selection: Selection;
  missing: SourceProblem[];
  stdin: StdinRequest | null;
  time: Date;
  /** --read-concurrency, undefined when not given (the plan's choice). */
  files: number | undefined;
}

export async function backupCommand(paths: string[], flags: BackupFlags, out: Output, signal: AbortSignal): Promise<number> {
  const started = systemClock.monotonicMs();
  // What to back up and what to leave out, before the repository is opened: a bad pattern or
  // list is said before anything is read. A missing path is a warning (exit 3), as in restic.
  const time = backupTime(flags.time);
  const files = readConcurrency(flags.readConcurrency);
  const stdin = stdinRequest(paths, flags);
  const targets = stdin ? { paths: [`/${stdin.name}`], missing: [] } : await backupTargets(paths, flags, (m) => out.warn(m));
  const selection = await selectionFromFlags(flags, (m) => out.warn(m));
  // A dry run takes no lock (as restic): it writes nothing a prune could lose.
  const session = await openRepository(flags, out, flags.dryRun ? undefined : { exclusive: false, command: 'backup', signal });
  const absPaths = targets.paths;
  const missing: SourceProblem[] = targets.missing.map((path) => ({ path, message: 'does not exist' }));
  const host = flags.host ?? (process.env.ENGINE_HOST || hostname());
  const index = await openIndex(session, memoryPlan(session, flags.memBudget, out, undefined, 'backup'), out, signal);
  try {
    return await backupWithIndex(session, index, absPaths, { selection, missing, stdin, time, files }, host, flags, out, signal, started);
  } finally {
    await closeSessionIndex(index);
  }
}

async function backupWithIndex(session: OpenSession, index: DiskIndex, absPaths: string[], chosen: Chosen, host: string, flags: BackupFlags, out: Output, signal: AbortSignal, started: number): Promise<number> {
  const { repo } = session;
  const indexed = new IndexedRepository(repo, index);
  const planned = memoryPlan(session, flags.memBudget, out, index, 'backup');
  const plan = chosen.files === undefined ? planned : { ...planned, fileConcurrency: chosen.files };
  const dryRun = flags.dryRun === true;
  // Adopting stray packs writes an index object: not in a dry run.
  const adopted = dryRun ? 0 : await indexStrayPacks(indexed, signal);
  if (adopted > 0) out.info(`indexed ${adopted} pack(s) stored by an interrupted backup: their data is reused, not uploaded again`);
  stopIfAborted(signal);

  const parent = await chooseParent(repo, flags, { host, paths: absPaths, time: chosen.time, stdin: chosen.stdin !== null && !chosen.stdin.command });
  stopIfAborted(signal);
  const parentRoot = parent && !chosen.stdin && index.has(parent.snapshot.tree) ? parent.snapshot.tree : null;
  if (parent) out.info(`using parent snapshot ${parent.id.slice(0, 8)}`);
  else if (flags.force) out.info('--force: every file is read again, no parent snapshot');
  const exclude = await selfFolders(flags, session);
  stopIfAborted(signal);

  const hooks = backupHooks();
  // xattrs, POSIX ACLs and holes need the libc calls (ENGINE_POSIX=off forces Node's alone): what
  // this platform cannot keep is said once per run, not once per file, and is no failure (exit 0).
  const ops = hooks.posix((await loadPosix()).ops);
  const notices = new NotKeptNotices((m) => out.warn(m));
  const pool = startPool(session, plan.workers, flags.extraVerify !== false, { lazy: true });
  const problems: SourceProblem[] = [...chosen.missing];
  const inconsistent: SourceProblem[] = [];
  const metaProblems: SourceProblem[] = [];
  const archiverOptions: ArchiverOptions = {
    ...(hooks.beforeOpen ? { beforeOpen: hooks.beforeOpen } : {}),
    afterRead: () => hooks.pause('after-read'),
    plan,
    signal,
    exclude,
    selection: chosen.selection,
    onProblem: (p) => {
      problems.push(p);
      out.problem('archival', p.path, p.message);
    },
    onInconsistent: (p) => {
      inconsistent.push(p);
      out.problem('archival', p.path, p.message);
    },
    onNotice: (text) => out.info(text),
    // -vv, as restic's: each file as it is decided (stdout, one line each).
    ...(out.veryVerbose
      ? {
          onFile: (path: string, state: 'new' | 'modified' | 'unmodified') => {
            // restic's verbose_status, whose word for unmodified is "unchanged".
            if (out.json) return out.data({ message_type: 'verbose_status', action: state === 'unmodified' ? 'unchanged' : state, item: displayName(path) });
            // The progress line (stderr) is erased first: on a terminal the two would run together.
            ProgressLine.erase();
            out.result(`${state.padEnd(10)} ${displayName(path)}`);
          },
        }
      : {}),
    onMetaProblem: (p) => {
      metaProblems.push(p);
      out.problem('archival', p.path, p.message);
    },
    posix: { ops, notices },
    withAtime: flags.withAtime === true,
  };
  // The archiver exists only inside the run; the progress line reads it from here.
  const running: { archiver?: Archiver } = {};
  // The scan that gives the progress its totals runs only when there is a terminal to show them
  // (with --json there too). Not in unattended runs: it walks every folder a second time, without
  // the selection (an excluded cache is counted) and with whole listings in memory, a cost a
  // nightly job on a small board should not pay for a percentage nobody watches. Not for --stdin:
  // its path names no file here. Nor with --with-atime: listing a folder ahead of the walk would
  // change its atime before the walk records it.
  const scan = process.stderr.isTTY && !chosen.stdin && flags.withAtime !== true ? startScan(absPaths, signal) : null;
  const progress = new ProgressLine('backup', {
    files: () => running.archiver?.counters.filesDone ?? 0,
    filesTotal: () => (scan?.done ? scan.files : null),
    bytes: () => running.archiver?.counters.bytesDone ?? 0,
    totalBytes: () => (scan?.done ? scan.bytes : null),
    stored: () => running.archiver?.uploader.bytesStored ?? 0,
    current: () => running.archiver?.currentFile ?? null,
    errors: () => problems.length,
  }, backupStatus).start();
  // The snapshot's id once saved; null in a dry run or when --skip-if-unchanged found nothing changed.
  let snapshotId: SnapshotId | null = null;
  let skipped = false;
  let snapshot: Snapshot;
  const user = safeUser();
  const stdin = chosen.stdin ? openStdinSource(chosen.stdin, signal) : null;
  let archiver: Archiver;
  let u: UploadedStats;
  try {
    // Ordering: every pack durable, then the index naming them (both done when runBackup
    // returns), then the snapshot.
    const stream = stdin ? { ...stdinNodes(chosen.stdin!.name, chosen.time, user), source: stdin.source } : undefined;
    const run = await runBackup(indexed, pool, absPaths, parentRoot, archiverOptions, { onStart: (a) => (running.archiver = a), beforeFlush: () => hooks.pause('flush'), dryRun, ...(stream ? { stream } : {}) });
    const { tree } = run;
    ({ archiver, uploaded: u } = run);
    const c = archiver.counters;
    snapshot = {
      version: 1,
      time: chosen.time.toISOString(),
      tree,
      paths: absPaths,
      hostname: host,
      username: user.name,
      uid: user.uid,
      gid: user.gid,
      // As restic: `--tag a,b` is two tags, so the filters' `--tag a,b` finds the snapshot.
      tags: flattenTagLists(flags.tag ?? []),
      ...(parent ? { parent: parent.id } : {}),
      summary: snapshotSummary(c, u, problems.length + inconsistent.length + metaProblems.length, (systemClock.monotonicMs() - started) / 1000),
    };
    // restic's --skip-if-unchanged: the same tree as the parent's, or the same backed-up paths
    // with only the folders on the way to them touched (archiver.pathsUnchanged), is no new snapshot.
    skipped = flags.skipIfUnchanged === true && parent !== undefined && (parent.snapshot.tree === tree || (!chosen.stdin && sameBackupPaths(parent.snapshot.paths, absPaths) && archiver.pathsUnchanged));
    if (!dryRun && !skipped) {
      // The snapshot is what makes the new data referenced: only under a lock still held (a prune
      // that took a lost lock for stale may have deleted what this backup deduplicated against).
      await assertLocksHeld();
      await hooks.pause('snapshot');
      // The last moment an interruption counts: once the snapshot object is saved, the backup is
      // done and exit 0 is the truth (documented: 130 and no new snapshot before that point).
      stopIfAborted(signal);
      snapshotId = await repo.saveSnapshot(snapshot);
    }
    // Everything is stored (runBackup flushed the last pack and index): now the line says 100%.
    progress.finish();
  } finally {
    stdin?.stop();
    progress.stop();
    await pool.close();
  }
  const s = snapshot.summary;
  if (flags.metricsFile !== undefined && !dryRun) {
    // The snapshot is saved: a listing that fails here costs the metrics, not the backup.
    await recordBackupMetrics(repo, s).catch((err: unknown) => out.warn(`the repository's size for --metrics-file: ${(err as Error).message}`));
  }
  const c = archiver.counters;
  const peak = peakRssBytes();
  if (out.json) {
    const end = Date.now();
    // restic's summary, key for key, then engine's own figures (docs/json/backup.schema.json).
    out.data({
      message_type: 'summary',
      dry_run: dryRun,
      files_new: s.filesNew,
      files_changed: s.filesChanged,
      files_unmodified: s.filesUnmodified,
      dirs_new: c.dirsNew,
      dirs_changed: c.dirsChanged,
      dirs_unmodified: c.dirsUnmodified,
      data_blobs: u.blobsAdded - u.treeBlobsAdded,
      tree_blobs: u.treeBlobsAdded,
      data_added: s.bytesAddedRaw,
      data_added_packed: s.bytesAddedStored,
      total_files_processed: s.filesNew + s.filesChanged + s.filesUnmodified,
      total_bytes_processed: s.totalBytes,
      total_duration: s.durationSeconds,
      backup_start: new Date(end - Math.round(s.durationSeconds * 1000)).toISOString(),
      backup_end: new Date(end).toISOString(),
      ...(snapshotId ? { snapshot_id: snapshotId } : {}),
      // engine's own
      ...(parent ? { parent: parent.id } : {}),
      skipped,
      dirs: s.dirs,
      files_read: s.filesRead,
      bytes_read: s.bytesRead,
      errors: s.errors,
      files_read_again: c.filesReadAgain,
      files_changed_while_read: c.filesChangedWhileRead,
      hole_bytes_skipped: c.holeBytesSkipped,
      entries_xattrs_not_read: c.entriesXattrsNotRead,
      not_kept: notices.noted(),
      packs_written: u.packsWritten,
      packs_adopted: adopted,
      budget_bytes: plan.budgetBytes,
      worker_threads: plan.workers,
      file_concurrency: plan.fileConcurrency,
      peak_rss_bytes: peak,
      index: indexSummary(index),
      read_high_water_bytes: archiver.segments.highWaterBytes,
      sealed_high_water_bytes: u.sealedHighWaterBytes,
    });
  } else if (!flags.quiet) {
    // --quiet: the summary is status, not data (as restic's --quiet), and goes unsaid.
    if (snapshotId) out.result(`snapshot ${snapshotId.slice(0, 8)} saved`);
    else if (skipped) out.result(`skipped creating snapshot: nothing changed since parent snapshot ${parent!.id.slice(0, 8)}`);
    else out.result('dry run: nothing was written to the repository');
    out.result(`files: ${s.filesNew} new, ${s.filesChanged} changed, ${s.filesUnmodified} unmodified; ${s.dirs} folders`);
    out.result(`read ${formatBytes(s.bytesRead)} from ${s.filesRead} files; ${dryRun ? 'would add' : 'added'} ${formatBytes(s.bytesAddedRaw)} in ${s.blobsNew} blobs (${formatBytes(s.bytesAddedStored)} stored)`);
    if (c.filesReadAgain > 0) out.result(`${c.filesReadAgain} unmodified file(s) read again: their data was no longer in the repository`);
    if (c.holeBytesSkipped > 0) out.result(`${formatBytes(c.holeBytesSkipped)} of it in holes of sparse files, not read from disk`);
    out.result(`took ${s.durationSeconds.toFixed(1)} s, peak memory ${formatBytes(peak)} of a ${formatBytes(plan.budgetBytes)} budget`);
  }
  // Exit 3 when a file is missing from the snapshot, or is in it but possibly not as one
  // consistent state; each says which, so neither is reported as the other.
  if (problems.length > 0) out.warn(`${problems.length} source file(s) could not be read and were left out of the snapshot`);
  if (inconsistent.length > 0) out.warn(`${inconsistent.length} source file(s) changed while being read and were stored as read, possibly not in one consistent state`);
  if (metaProblems.length > 0) out.warn(`${metaProblems.length} source entry(ies) stored without some of their extended attributes`);
  return problems.length > 0 || inconsistent.length > 0 || metaProblems.length > 0 ? ExitCode.PARTIAL : ExitCode.OK;
}


/**
 * The folders a backup must never descend into: the repository it writes (when it is a local path,
 * inside a backed-up folder it would be stored into itself and grow each run) and this
 * repository's cache folder. Found by identity (st_dev, st_ino), so the folder is known whatever
 * path leads to it (a link, another spelling).
 */
async function selfFolders(flags: BackupFlags, session: OpenSession): Promise<ExcludedFolder[]> {
  const out: ExcludedFolder[] = [];
  for (const { path, why } of ownFolders(flags, session, 'the repository being written')) {
    try {
      // Followed: a repository given through a link is met in the walk as the folder it names.
      const st = await stat(path, { bigint: true });
      if (st.isDirectory()) out.push({ dev: st.dev, ino: st.ino, why });
    } catch {
      // Not there (yet): nothing to skip.
    }
  }
  return out;
}

/**
 * Backup's own test hooks, inert unless ENGINE_TEST_HOOKS holds them (beside those of
 * cli/context.ts): `grow=NAME` appends to any source file named NAME once, after its lstat and
 * just before it is first opened (a file that grows while backed up); `backup-pause=STAGE:MS`
 * prints "test hook: paused at STAGE" and waits MS ms, deaf to signals (a slow step), at STAGE:
 * after-read (every file read, before the top trees), flush (before the last packs and the
 * index), snapshot (just before the snapshot is saved). `xattr-fail=NAME`: reading any extended
 * attribute of an entry named NAME fails with EIO (an attribute that cannot be read).
 */
function backupHooks(): { beforeOpen?: (path: string) => Promise<void>; pause: (stage: string) => Promise<void>; posix: (ops: PosixOps) => PosixOps } {
  const hooks = process.env.ENGINE_TEST_HOOKS?.split(';') ?? [];
  let beforeOpen = testHooks().beforeOpen;
  const grow = hooks.find((h) => h.startsWith('grow='))?.slice('grow='.length);
  if (grow) {
    const grown = new Set<string>();
    const inner = beforeOpen;
    beforeOpen = async (path: string) => {
      if (path.endsWith(`/${grow}`) && !grown.has(path)) {
        grown.add(path);
        await appendFile(path, 'grown while backed up\n'.repeat(64));
      }
      await inner?.(path);
    };
  }
  const pauses = new Map<string, number>();
  for (const h of hooks) {
    if (!h.startsWith('backup-pause=')) continue;
    const [stage, ms] = h.slice('backup-pause='.length).split(':');
    pauses.set(stage!, Number(ms));
  }
  const pause = async (stage: string): Promise<void> => {
    const ms = pauses.get(stage);
    if (ms === undefined) return;
    process.stderr.write(`test hook: paused at ${stage}\n`);
    await new Promise((r) => setTimeout(r, ms));
  };
  const xattrFail = hooks.find((h) => h.startsWith('xattr-fail='))?.slice('xattr-fail='.length);
  const posix = (ops: PosixOps): PosixOps => {
    if (xattrFail === undefined) return ops;
    return {
      ...ops,
      lgetxattr(path, name) {
        if (String(path).endsWith(`/${xattrFail}`)) throw new PosixError('EIO', 5, 'lgetxattr', String(path));
        return ops.lgetxattr(path, name);
      },
    };
  };
  return { ...(beforeOpen ? { beforeOpen } : {}), pause, posix };
}

function safeUser(): { name: string; uid: number; gid: number } {
  try {
    const u = userInfo();
    return { name: u.username, uid: u.uid, gid: u.gid };
  } catch {
    return { name: '', uid: -1, gid: -1 };
  }
}

/** What opening the index cost, for --json (the scale benchmark reads it). */
export function indexSummary(index: DiskIndex): Record<string, unknown> {
  return { open: index.stats.kind, open_seconds: index.stats.openSeconds, index_objects_read: index.stats.indexObjectsRead, entries: index.blobCount, runs: index.stats.runs, resident_bytes: index.residentBytes, page_reads: index.pageReads };
}

/** What --metrics-file says of a backup (src/cli/metrics.ts): its counters, and the repository after it. */
async function recordBackupMetrics(repo: Repository, s: SnapshotSummary): Promise<void> {
  let stored = 0;
  for await (const p of repo.packs.list()) stored += p.size;
  for (const i of await repo.listIndexObjects()) stored += i.size;
  recordMetrics([
    { name: 'engine_backup_files', value: s.filesNew, labels: { state: 'new' } },
    { name: 'engine_backup_files', value: s.filesChanged, labels: { state: 'changed' } },
    { name: 'engine_backup_files', value: s.filesUnmodified, labels: { state: 'unmodified' } },
    { name: 'engine_backup_dirs', value: s.dirs },
    { name: 'engine_backup_read_bytes', value: s.bytesRead },
    { name: 'engine_backup_total_bytes', value: s.totalBytes },
    { name: 'engine_backup_added_bytes', value: s.bytesAddedRaw },
    { name: 'engine_backup_stored_bytes', value: s.bytesAddedStored },
    { name: 'engine_backup_errors', value: s.errors },
    { name: 'engine_snapshots_total', value: (await repo.listSnapshotIds()).length },
    { name: 'engine_repository_size_bytes', value: stored },
  ]);
}
