import { EngineError, ErrorCode, isEngineError, UsageError } from '../../errors/engine-error.js';
import type { SnapshotId } from '../../format/ids.js';
import { applyPolicy, type GroupDecision, type GroupKey, parseDuration, policyIsEmpty, policyKeepsNothing, type RetentionPolicy } from '../../retention/policy.js';
import { lockRepository, releaseLocks } from '../locking.js';
import { systemClock } from '../../util/clock.js';
import { repoLocation, type GlobalOptions } from '../context.js';
import type { Output } from '../output.js';
import { openRepository } from '../session.js';
import { snapshotFilterFromFlags, warnFilterIgnored, type SnapshotFilterFlags } from '../snapshot-filter-flags.js';
import { selectSnapshots } from '../../repository/snapshot-filter.js';
import { pruneSession, reportPrune, parseMaxUnused, type PruneFlags } from './prune.js';
import type { Snapshot } from '../../format/snapshot.js';
import { snapshotJson } from '../json/snapshot-json.js';

export interface ForgetFlags extends GlobalOptions, PruneFlags, SnapshotFilterFlags {
  keepLast?: string;
  keepHourly?: string;
  keepDaily?: string;
  keepWeekly?: string;
  keepMonthly?: string;
  keepYearly?: string;
  keepWithin?: string;
  keepTag?: string[];
  groupBy?: string;
  prune?: boolean;
}

function count(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw new UsageError(`${flag} "${text}" is not a number`, { hint: `give a count, e.g. ${flag} 7` });
  return Number(text);
}

export function policyFromFlags(f: ForgetFlags): RetentionPolicy {
  const within = f.keepWithin === undefined ? undefined : parseDuration(f.keepWithin);
  if (within === null) throw new UsageError(`--keep-within "${f.keepWithin}" is not a duration`, { hint: 'give for example 30d, 12h, 2w, 6m or 1y6m' });
  const p: Record<string, unknown> = {
    last: count('--keep-last', f.keepLast),
    hourly: count('--keep-hourly', f.keepHourly),
    daily: count('--keep-daily', f.keepDaily),
    weekly: count('--keep-weekly', f.keepWeekly),
    monthly: count('--keep-monthly', f.keepMonthly),
    yearly: count('--keep-yearly', f.keepYearly),
    withinMs: within,
    tags: f.keepTag,
  };
  return Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as RetentionPolicy;
}

export function groupByFromFlag(text: string | undefined): GroupKey[] {
  if (text === undefined) return ['host', 'paths'];
  if (text === '') return [];
  const keys = text.split(',').map((k) => k.trim());
  for (const k of keys) if (k !== 'host' && k !== 'paths' && k !== 'tags') throw new UsageError(`--group-by "${text}": unknown key "${k}"`, { hint: 'give a comma-separated list of host, paths, tags (or "" for one group)' });
  return keys as GroupKey[];
}

export async function forgetCommand(ids: string[], flags: ForgetFlags, out: Output, signal: AbortSignal): Promise<number> {
  const policy = policyFromFlags(flags);
  const groupBy = groupByFromFlag(flags.groupBy);
  if (flags.prune) parseMaxUnused(flags.maxUnused);
  if (ids.length > 0 && !policyIsEmpty(policy)) throw new UsageError('give snapshot ids or a retention policy, not both', { hint: 'run `engine forget ID...` and `engine forget --keep-...` separately' });
  if (ids.length === 0 && policyIsEmpty(policy)) {
    throw new UsageError('no snapshot and no retention policy given: nothing would be kept or removed', { hint: 'give snapshot ids, or e.g. --keep-daily 7 --keep-weekly 4 --keep-monthly 12' });
  }
  if (ids.length === 0 && policyKeepsNothing(policy)) {
    throw new UsageError('this retention policy keeps no snapshot at all (every --keep count is 0): it would remove every snapshot', {
      hint: 'give a count above 0 (e.g. --keep-last 1); to remove snapshots on purpose, name them: `engine forget ID...`',
    });
  }
  const filter = snapshotFilterFromFlags(flags);
  const started = systemClock.monotonicMs();
  // Forgetting only removes snapshot objects, which no backup depends on: a shared lock suffices.
  const session = await openRepository(flags, out, { exclusive: false, command: 'forget', signal });
  const { repo } = session;
  const all = await repo.listSnapshots();
  signal.throwIfAborted();
  // Named snapshots ("latest" the newest the filter keeps), or the policy applied to the ones the
  // filter keeps: the others are not considered at all (restic's --host, --tag, --path).
  const selection = selectSnapshots(all, ids, filter, repoLocation(flags));
  if (selection.filterIgnored) warnFilterIgnored(out);
  const considered = selection.snapshots;
  let decisions: GroupDecision[];
  if (ids.length > 0) {
    // Named: those are removed, nothing is decided about the others (no group, nothing kept).
    decisions = [{ group: {}, keep: [], remove: [...new Set<string>(considered.map((s) => s.id))] }];
  } else {
    decisions = applyPolicy(considered.map(({ id, snapshot: s }) => ({ id, time: s.time, hostname: s.hostname, paths: s.paths, tags: s.tags })), policy, groupBy);
    refuseEmptiedGroups(decisions, policy, considered.map((s) => s.snapshot.tags ?? []));
  }
  const byId = new Map(all.map((s) => [s.id as string, s.snapshot]));
  const remove = decisions.flatMap((d) => d.remove);
  if (out.json) {
    out.data(forgetGroupsJson(decisions, byId));
  } else {
    for (const d of decisions) {
      const label = [d.group.hostname ? `host ${d.group.hostname}` : '', d.group.paths ? `paths ${d.group.paths.join(', ')}` : '', d.group.tags ? `tags ${d.group.tags.join(', ') || '(none)'}` : ''].filter(Boolean).join(', ');
      if (ids.length === 0) out.result(`${label || 'all snapshots'}: keep ${d.keep.length}, remove ${d.remove.length}`);
      for (const k of ids.length === 0 ? d.keep : []) out.result(`  keep    ${k.id.slice(0, 8)}  ${byId.get(k.id)?.time ?? ''}  ${k.reasons.join(', ')}`);
      for (const r of d.remove) out.result(`  remove  ${r.slice(0, 8)}  ${byId.get(r)?.time ?? ''}`);
    }
  }
  if (flags.dryRun) {
    out.info(`dry run: ${remove.length} snapshot(s) would be removed${flags.prune ? '; what prune would then reclaim depends on that removal, so it is not estimated (`engine prune --dry-run` after a real forget does)' : ''}`);
    return 0;
  }
  for (const id of remove) {
    signal.throwIfAborted();
    await repo.removeSnapshot(id as SnapshotId);
  }
  out.info(`removed ${remove.length} snapshot(s)`);
  if (flags.prune) {
    // Prune needs the repository to itself: the shared lock is upgraded by taking the exclusive one
    // after this command's shared lock is released.
    signal.throwIfAborted();
    await releaseLocks();
    try {
      await lockRepository(repo, { exclusive: true, command: 'prune', signal }, flags.retryLock);
    } catch (err) {
      if (isEngineError(err, ErrorCode.REPO_LOCKED)) {
        throw new EngineError(ErrorCode.REPO_LOCKED, `${remove.length} snapshot(s) were removed, but prune could not start: ${err.message}`, {
          hint: 'run `engine prune` when that command is done (or give --retry-lock to wait)',
        });
      }
      throw err;
    }
    const stats = await pruneSession(session, flags, out, signal);
    reportPrune(stats, false, (systemClock.monotonicMs() - started) / 1000, out);
  }
  return 0;
}

/**
 * restic's ForgetGroup array (docs/json/forget.schema.json): per group the key it was grouped by
 * (`tags` and `paths` null and `host` "" when not grouped by them, as restic prints them), the
 * snapshots kept and removed as Snapshot objects, newest first, and why each kept one is kept.
 * Snapshots named on the command line: one group with no key, the named ones in `remove`.
 */
function forgetGroupsJson(decisions: readonly GroupDecision[], byId: ReadonlyMap<string, Snapshot>): Record<string, unknown>[] {
  const snap = (id: string): Record<string, unknown> => snapshotJson(id, byId.get(id)!);
  return decisions.map((d) => ({
    tags: d.group.tags ?? null,
    host: d.group.hostname ?? '',
    paths: d.group.paths ?? null,
    keep: d.keep.map((k) => snap(k.id)),
    remove: d.remove.map(snap),
    reasons: d.keep.map((k) => ({ snapshot: snap(k.id), matches: k.reasons })),
  }));
}

/**
 * Only --keep-tag can leave a group with no snapshot (every count keeps the newest, --keep-within
 * counts back from it): a tag misspelt, or one that group never had, would remove all of it. As
 * restic does since 0.17, forget refuses then (exit 1, E_POLICY), naming the tag and the group;
 * nothing is removed. To remove a whole group on purpose, name its snapshots: `engine forget ID...`.
 */
function refuseEmptiedGroups(decisions: readonly GroupDecision[], policy: RetentionPolicy, tagsOfAll: readonly (readonly string[])[]): void {
  const tags = policy.tags ?? [];
  if (tags.length === 0) return;
  const emptied = decisions.filter((d) => d.keep.length === 0 && d.remove.length > 0);
  if (emptied.length === 0) return;
  const present = new Set(tagsOfAll.flat());
  const unknown = tags.filter((t) => !present.has(t));
  const label = (d: GroupDecision): string => [d.group.hostname ? `host ${d.group.hostname}` : '', d.group.paths ? `paths ${d.group.paths.join(', ')}` : '', d.group.tags ? `tags ${d.group.tags.join(', ') || '(none)'}` : ''].filter(Boolean).join(', ') || 'all snapshots';
  const what = unknown.length > 0 ? `--keep-tag ${unknown.map((t) => `"${t}"`).join(', ')} matches no snapshot in the repository` : `--keep-tag ${tags.map((t) => `"${t}"`).join(', ')} matches no snapshot of ${emptied.length === 1 ? 'a group' : `${emptied.length} groups`}`;
  throw new EngineError(ErrorCode.POLICY, `${what}: this policy would remove every snapshot of ${emptied.map((d) => `${label(d)} (${d.remove.length})`).join('; ')}; nothing was removed`, {
    hint: 'check the tag (`engine snapshots --json` shows each snapshot\'s tags), or add a rule that keeps something in every group (e.g. --keep-last 1); to remove snapshots on purpose, name them: `engine forget ID...`',
  });
}