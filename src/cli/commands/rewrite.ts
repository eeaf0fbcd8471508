import { UsageError } from '../../errors/engine-error.js';
import { PatternList } from '../../filter/pattern.js';
import { patternSources } from '../../filter/pattern-file.js';
import { displayName } from '../../fs/names.js';
import { rewriteSnapshots } from '../../repair/rewrite.js';
import { IndexedRepository } from '../../repository/indexed-repository.js';
import { selectSnapshots } from '../../repository/snapshot-filter.js';
import { closeSessionIndex } from '../../session/session-index.js';
import { repoLocation, type GlobalOptions } from '../context.js';
import type { Output } from '../output.js';
import { memoryPlan, openIndex, openRepository } from '../session.js';
import { snapshotFilterFromFlags, warnFilterIgnored, type SnapshotFilterFlags } from '../snapshot-filter-flags.js';

export interface RewriteFlags extends GlobalOptions, SnapshotFilterFlags {
  exclude?: string[];
  iexclude?: string[];
  excludeFile?: string[];
  iexcludeFile?: string[];
  forget?: boolean;
  dryRun?: boolean;
  memBudget?: string;
}

/**
 * restic's `rewrite`: the snapshots named (or every one the filter keeps) saved again without
 * what the exclude patterns match, matched against paths as `engine ls` prints them. The new
 * snapshot is tagged "rewrite" and names the original in `original`; with --forget the original
 * is removed instead (its data stays until `engine prune`). A snapshot left with nothing is
 * removed. Under the exclusive lock when snapshots are removed, else the shared one (as backup).
 */
export async function rewriteCommand(refs: string[], flags: RewriteFlags, out: Output, signal: AbortSignal): Promise<number> {
  const patterns = await patternSources({ patterns: flags.exclude, files: flags.excludeFile, ipatterns: flags.iexclude, ifiles: flags.iexcludeFile });
  if (patterns.length === 0) throw new UsageError('nothing to rewrite: no --exclude pattern given', { hint: 'give --exclude PATTERN (or --iexclude, --exclude-file, --iexclude-file) for what to take out of the snapshots' });
  const exclude = new PatternList(patterns);
  const filter = snapshotFilterFromFlags(flags);
  // Removing snapshots (--forget, or one left empty) takes the exclusive lock; a dry run changes nothing.
  const session = await openRepository(flags, out, { exclusive: !flags.dryRun, command: 'rewrite', signal });
  const { repo } = session;
  const plan = memoryPlan(session, flags.memBudget, out);
  const index = await openIndex(session, plan, out, signal);
  try {
    const all = await repo.listSnapshots();
    const selection = selectSnapshots(all, refs, filter, repoLocation(flags));
    if (selection.filterIgnored) warnFilterIgnored(out);
    const r = await rewriteSnapshots(new IndexedRepository(repo, index), selection.snapshots, {
      exclude,
      packTargetBytes: plan.packTargetBytes,
      signal,
      ...(flags.forget ? { forget: true } : {}),
      ...(flags.dryRun ? { dryRun: true } : {}),
      onExcluded: (snapshot, path) => {
        if (out.json) out.data({ message_type: 'excluded', snapshot_id: snapshot, path: displayName(path) });
        else if (out.verbose || flags.dryRun) out.info(`snapshot ${snapshot.slice(0, 8)}: excluding ${displayName(path)}`);
      },
    });
    if (out.json) {
      out.data({ message_type: 'summary', dryRun: flags.dryRun === true, considered: selection.snapshots.length, rewritten: r.rewritten, removedEmpty: r.removedEmpty });
    } else {
      const dry = flags.dryRun === true;
      for (const w of r.rewritten) if (!dry) out.result(`snapshot ${w.old.slice(0, 8)} ${flags.forget ? 'replaced by' : 'rewritten as'} ${w.new.slice(0, 8)}`);
      for (const id of r.removedEmpty) out.result(`snapshot ${id.slice(0, 8)} ${dry ? 'would be' : 'was'} removed: nothing was left in it`);
      out.result(`${r.rewritten.length} of ${selection.snapshots.length} snapshot(s) ${dry ? 'would be rewritten' : 'rewritten'}${flags.forget || dry ? '' : ' (tagged "rewrite"; the originals stay until `engine forget`)'}`);
    }
    return 0;
  } finally {
    await closeSessionIndex(index);
  }
}
