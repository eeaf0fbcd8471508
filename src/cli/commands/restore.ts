import { UsageError } from '../../errors/engine-error.js';
import { displayName } from '../../fs/names.js';
import { Restorer, type OverwriteMode } from '../../restorer/restorer.js';
import { formatBytes } from '../../util/bytes.js';
import { systemClock } from '../../util/clock.js';
import { peakRssBytes } from '../../util/memory.js';
import type { GlobalOptions } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import type { Output } from '../output.js';
import { ProgressLine } from '../progress.js';
import { restoreStatus } from '../json/status.js';
import { memoryPlan, openIndex, openRepository } from '../session.js';
import { restoreLimits } from '../../session/memory-plan.js';
import type { OpenSession } from '../../session/open-session.js';
import { closeSessionIndex } from '../../session/session-index.js';
import { startPool } from '../../session/worker-pool.js';
import type { DiskIndex } from '../../disk-index/disk-index.js';
import { indexSummary } from './backup.js';
import { loadPosix, NotKeptNotices } from '../../../native-bindings/posix/index.js';
import { IndexedRepository } from '../../repository/indexed-repository.js';
import { IncludeFilter } from '../../restorer/includes.js';
import { verifyRestored, type VerifyResult } from '../../restorer/verify.js';
import { ownFolders } from '../own-folders.js';
import { join, resolve } from 'node:path';
import { realpathSync, statSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { dryRun, restoreSelection, type RestoreSelection, type RestoreSelectionFlags } from '../restore-selection.js';
import { splitSubfolder, subfolderTree } from '../../inspect/dump.js';
import { snapshotFilterFromFlags } from '../snapshot-filter-flags.js';

export interface RestoreFlags extends GlobalOptions, RestoreSelectionFlags {
  target?: string;
  dryRun?: boolean;
  overwrite?: OverwriteMode;
  verify?: boolean;
  delete?: boolean;
  memBudget?: string;
}

/**
 * Exit codes of a restore: 0 everything restored; 3 some entries were not restored (each named:
 * out of space, an I/O error, something in the way that may not be removed), or an --include
 * matched nothing while another did; 4 data damaged in the repository (the files are named);
 * 1 no --include matched anything in the snapshot, so nothing was restored.
 *
 * Without the libc calls (ENGINE_POSIX=off, or koffi not loading) the run says once per feature
 * what it did not keep: times to the microsecond and extended attributes left off do not change
 * the exit code (as for backup: everything else is restored); FIFOs and device nodes not created
 * are entries missing from the target, so the restore exits 3 (said once, not once per entry).
 * A blob whose pack is missing or damaged is read from its other indexed copies (a warning, exit
 * 0 when one serves); only when none does are its files damaged (exit 4).
 */
export async function restoreCommand(ref: string, flags: RestoreFlags, out: Output, signal: AbortSignal): Promise<number> {
  if (!flags.target) throw new UsageError('no target folder given', { hint: 'pass --target DIR' });
  if (flags.dryRun && flags.verify) throw new UsageError('--dry-run and --verify cannot be given together', { hint: 'a dry run writes nothing to read back' });
  if (flags.delete && isFilesystemRoot(flags.target)) throw new UsageError('--delete with --target / would remove everything the snapshot does not hold from the whole system', { hint: 'restore into a folder, or leave --delete out' });
  // The patterns are read and checked before the repository is opened: a typo costs no key derivation.
  const selection = await restoreSelection(flags);
  const started = systemClock.monotonicMs();
  const session = await openRepository(flags, out, { exclusive: false, command: 'restore', signal });
  const index = await openIndex(session, memoryPlan(session, flags.memBudget, out, undefined, 'restore'), out, signal);
  try {
    return await restoreWithIndex(session, index, ref, selection, { ...flags, target: flags.target }, out, signal, started);
  } finally {
    await closeSessionIndex(index);
  }
}

async function restoreWithIndex(session: OpenSession, index: DiskIndex, ref: string, selection: RestoreSelection, flags: RestoreFlags & { target: string }, out: Output, signal: AbortSignal, started: number): Promise<number> {
  const { repo } = session;
  const plan = memoryPlan(session, flags.memBudget, out, index, 'restore');
  const indexed = new IndexedRepository(repo, index);
  // `ID:subfolder` (restic): the folder's contents go straight into the target.
  const { ref: snapshotRef, subfolder } = splitSubfolder(ref);
  const { id, snapshot } = await repo.resolveSnapshot(snapshotRef, snapshotFilterFromFlags(flags));
  const root = await subfolderTree((t) => indexed.treeEntries(t), snapshot.tree, subfolder);
  const { include, exclude } = selection;
  if (flags.dryRun) return dryRun(indexed, root, id, selection, { target: flags.target, overwrite: flags.overwrite ?? 'always', deleteExtra: flags.delete === true }, out);
  const pool = startPool(session, plan.workers, false);
  const problems: string[] = [];
  const hooks = process.env.ENGINE_TEST_HOOKS?.split(';') ?? [];
  const { ops } = await loadPosix();
  const notices = new NotKeptNotices((m) => out.warn(m));
  const repositoryNotices = new Set<string>();
  const restorer = new Restorer(indexed, pool, {
    include,
    exclude,
    overwrite: flags.overwrite ?? 'always',
    rememberSkipped: flags.verify === true,
    deleteExtra: flags.delete === true,
    ...(flags.delete ? { protectedFolders: protectedFolders(flags, session) } : {}),
    ...restoreLimits(session, plan),
    restoreOwnership: process.getuid?.() === 0,
    signal,
    onProblem: (p) => {
      problems.push(p.path);
      out.problem('restore', p.path, p.message);
    },
    onNotice: (p) => out.info(`${displayName(p.path)}: ${p.message}`),
    // -vv, as restic's: each file restored, left as it was or deleted (restic's verbose_status).
    ...(out.veryVerbose
      ? {
          onItem: (p: { action: 'restored' | 'unchanged' | 'deleted'; path: string; size: number }) => {
            if (out.json) return out.data({ message_type: 'verbose_status', action: p.action, item: displayName(p.path), size: p.size });
            ProgressLine.erase();
            out.result(`${p.action.padEnd(10)} ${displayName(p.path)}`);
          },
        }
      : {}),
    posix: { ops, notices },
    onRepositoryNotice: (message) => {
      if (repositoryNotices.has(message)) return;
      repositoryNotices.add(message);
      out.warn(message);
    },
    // Tests run the restore once more without /proc/self/fd, as on macOS (ENGINE_TEST_HOOKS=no-proc-fd).
    dirHandles: hooks.includes('no-proc-fd') ? { procFd: false } : undefined,
  });
  const c = restorer.counters;
  const progress = new ProgressLine('restore', { files: () => c.files, filesTotal: () => c.filesTotal, bytes: () => c.bytesWritten, totalBytes: () => c.bytesTotal }, (f) => restoreStatus(f, c)).start();
  try {
    await restorer.run(root, flags.target);
    progress.finish();
  } finally {
    progress.stop();
    await pool.close();
    // Said once, even when damage ends the restore with exit 4: the files were named one by one.
    if (c.noSpaceEntries > 0) {
      const n = c.noSpaceEntries;
      const atLeast = c.noSpaceFolders > 0 ? 'at least ' : '';
      out.warn(`out of space on ${displayName(flags.target)}: ${n} entr${n === 1 ? 'y was' : 'ies were'} not restored (named above); ${atLeast}${formatBytes(c.spaceNeededBytes)} (${c.spaceNeededBytes} bytes) more space is needed to restore them`);
    }
  }
  // An --include that names nothing in the snapshot is most likely a typo: said by name, and when
  // none matched (nothing was restored at all) the restore fails.
  const unmatched = restorer.unmatchedIncludes();
  for (const inc of unmatched) {
    problems.push(inc);
    out.warn(`--include ${displayName(inc)} matches nothing in snapshot ${id.slice(0, 8)}`);
  }
  if (include.length > 0 && unmatched.length > 0 && c.files + c.dirs + c.symlinks + c.hardlinks === 0) {
    out.warn(`nothing was restored: no --include matched a path of snapshot ${id.slice(0, 8)} (paths as \`engine ls\` shows them: a leading / anchors a pattern at the snapshot's root)`);
    return ExitCode.FAILURE;
  }
  // --verify: every file restored read back from the target and checked against the snapshot.
  let verified: VerifyResult | null = null;
  if (flags.verify) {
    out.info(`verifying the files restored in ${flags.target}`);
    // Test hook (ENGINE_TEST_HOOKS=verify-tamper=REL): one byte of a restored file flipped before
    // it is read back, as a disk that garbled a write would leave it.
    const tamper = hooks.find((h) => h.startsWith('verify-tamper='))?.slice('verify-tamper='.length);
    if (tamper) await flipFirstByte(join(flags.target, tamper));
    // ENGINE_TEST_HOOKS=verify-fifo=REL: a restored file replaced by a FIFO (another local user's
    // doing), whose open must not block the verification.
    const fifo = hooks.find((h) => h.startsWith('verify-fifo='))?.slice('verify-fifo='.length);
    if (fifo) {
      await rm(join(flags.target, fifo));
      execFileSync('mkfifo', [join(flags.target, fifo)]);
    }
    verified = await verifyRestored(indexed, root, flags.target, new IncludeFilter(selection), restorer.skippedPaths, signal);
    for (const b of verified.bad) out.warn(`${displayName(join(flags.target, b.path))}: ${b.message}`);
  }
  const secs = (systemClock.monotonicMs() - started) / 1000;
  if (out.json) {
    // restic's summary, key for key, then engine's own figures (docs/json/restore.schema.json).
    out.data({
      message_type: 'summary',
      seconds_elapsed: Math.floor(secs),
      total_files: c.filesTotal,
      files_restored: c.files,
      files_skipped: c.skipped,
      files_deleted: c.deleted,
      total_bytes: c.bytesTotal,
      bytes_restored: c.bytesWritten,
      bytes_skipped: c.skippedBytes,
      // engine's own
      snapshot_id: id,
      dirs: c.dirs,
      symlinks: c.symlinks,
      hardlinks: c.hardlinks,
      duration_seconds: secs,
      warnings: problems.length,
      not_restored: c.notRestored.length,
      damaged_files: c.damagedFiles.length,
      space_needed_bytes: c.spaceNeededBytes,
      ...(verified ? { verified_files: verified.files, verify_errors: verified.bad.length } : {}),
      peak_rss_bytes: peakRssBytes(),
      budget_bytes: plan.budgetBytes,
      worker_threads: plan.workers,
      index: indexSummary(index),
    });
  } else if (!flags.quiet) {
    // --quiet: the summary is status, not data (as restic's --quiet), and goes unsaid.
    out.result(`restored snapshot ${id.slice(0, 8)} to ${flags.target}: ${c.files} files, ${c.dirs} folders, ${c.symlinks} symlinks, ${c.hardlinks} hardlinks, ${formatBytes(c.bytesWritten)} in ${secs.toFixed(1)} s`);
    if (c.deleted > 0) out.result(`${c.deleted} entr${c.deleted === 1 ? 'y' : 'ies'} of the target that the snapshot does not hold deleted (--delete)`);
    if (c.skipped > 0) out.result(`${c.skipped} entr${c.skipped === 1 ? 'y' : 'ies'} already in the target left as ${c.skipped === 1 ? 'it was' : 'they were'} (--overwrite ${flags.overwrite}; ${formatBytes(c.skippedBytes)} of files)`);
  }
  if (verified) {
    if (!out.json) out.result(`verified ${verified.files} files (${formatBytes(verified.bytes)}): ${verified.bad.length === 0 ? 'all as in the snapshot' : `${verified.bad.length} differ (named above)`}`);
    // As restic: a file that does not read back as restored fails the restore.
    if (verified.bad.length > 0) return ExitCode.FAILURE;
  }
  return problems.length > 0 || c.specialsNotMade > 0 ? ExitCode.PARTIAL : ExitCode.OK;
}

async function flipFirstByte(path: string): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    const b = new Uint8Array(1);
    await fh.read(b, 0, 1, 0);
    b[0] = b[0]! ^ 0xff;
    await fh.write(b, 0, 1, 0);
  } finally {
    await fh.close();
  }
}

/**
 * What --delete must never remove, by real path: the repository being read (when it is a local
 * path) and this repository's cache. A backup leaves both out of its snapshots (backup.ts
 * selfFolders), so a restore of a folder holding them with --delete would otherwise take them for
 * entries the snapshot does not hold.
 */
function protectedFolders(flags: RestoreFlags, session: OpenSession): { path: string; why: string }[] {
  const out: { path: string; why: string }[] = [];
  for (const { path, why } of ownFolders(flags, session, 'the repository being restored from')) {
    try {
      out.push({ path: realpathSync(path), why });
    } catch {
      // Not there: nothing to protect.
    }
  }
  return out;
}

/**
 * The target is the filesystem's root: '/' itself, or a path that the kernel resolves there (a
 * link, `link/..`, a bind mount of /): compared by device and inode, as the restore will open it.
 */
function isFilesystemRoot(target: string): boolean {
  if (resolve(target) === '/') return true;
  try {
    // The path as given, not normalised first: the kernel follows a link before its `..`.
    const at = statSync(target, { bigint: true });
    const root = statSync('/', { bigint: true });
    return at.dev === root.dev && at.ino === root.ino;
  } catch {
    // Not there yet: a restore creates it, a new folder.
    return false;
  }
}
