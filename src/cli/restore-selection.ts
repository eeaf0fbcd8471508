// From restore's flags to what it restores: restic's --include / --exclude families (patterns of
// src/filter/pattern.ts and pattern files), `ID:subfolder`, and --dry-run (what would be restored,
// nothing written). docs/SELECTION.md "Restoring a part".
import { UsageError } from '../errors/engine-error.js';
import type { BlobId, SnapshotId } from '../format/ids.js';
import type { PatternSource } from '../filter/pattern.js';
import { PatternList } from '../filter/pattern.js';
import { patternSources } from '../filter/pattern-file.js';
import { displayName, fsPath } from '../fs/names.js';
import type { IndexedRepository } from '../repository/indexed-repository.js';
import { IncludeFilter } from '../restorer/includes.js';
import { ExtraEntries } from '../restorer/extra-entries.js';
import { isRealFolder } from '../restorer/real-folder.js';
import { keepsExisting } from '../restorer/overwrite.js';
import type { OverwriteMode } from '../restorer/options.js';
import type { TreeNode } from '../format/tree.js';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { formatBytes } from '../util/bytes.js';
import { ExitCode } from './exit-codes.js';
import type { Output } from './output.js';

export interface RestoreSelectionFlags {
  include?: string[];
  iinclude?: string[];
  includeFile?: string[];
  iincludeFile?: string[];
  exclude?: string[];
  iexclude?: string[];
  excludeFile?: string[];
  iexcludeFile?: string[];
}

export interface RestoreSelection {
  include: PatternSource[];
  exclude: PatternSource[];
}

/**
 * The patterns, read and checked (a malformed one is a usage error naming it). As restic,
 * includes and excludes do not mix: "restore these" and "restore all but these" in one run is
 * ambiguous about what a path matching both means.
 */
export async function restoreSelection(flags: RestoreSelectionFlags): Promise<RestoreSelection> {
  const include = await patternSources({ patterns: flags.include, files: flags.includeFile, ipatterns: flags.iinclude, ifiles: flags.iincludeFile });
  const exclude = await patternSources({ patterns: flags.exclude, files: flags.excludeFile, ipatterns: flags.iexclude, ifiles: flags.iexcludeFile });
  if (include.length > 0 && exclude.length > 0) throw new UsageError('--include and --exclude patterns cannot be given together', { hint: 'restore with includes only, or with excludes only (as restic)' });
  // Built once here so a bad pattern stops the restore before the repository is opened.
  new PatternList(include);
  new PatternList(exclude);
  return { include, exclude };
}

/** What the dry run compares with the target: --overwrite's mode and --delete. */
export interface DryRunTarget {
  target: string;
  overwrite: OverwriteMode;
  deleteExtra: boolean;
}

/**
 * --dry-run: walks what the restore would take, as the restore walks it, and writes nothing; with
 * -v, one line per entry. It looks at the target as the restore would (read only, never followed):
 * what --overwrite would keep, and what --delete would remove. Includes that match nothing are
 * named, and when none matches the exit code is 1, as for a real restore.
 */
export async function dryRun(indexed: IndexedRepository, root: BlobId, id: SnapshotId, selection: RestoreSelection, dest: DryRunTarget, out: Output): Promise<number> {
  const began = performance.now();
  const filter = new IncludeFilter(selection);
  const counts = { files: 0, dirs: 0, others: 0, bytes: 0, kept: 0, deleted: 0 };
  // The target is looked at only through real folders: a link on the way is what the restore
  // would replace, so nothing behind it counts as there.
  const kept = async (rel: string, r: string, node: TreeNode): Promise<boolean> => {
    if (dest.overwrite === 'always' || !isRealFolder(dest.target, rel)) return false;
    const st = await lstat(fsPath(join(dest.target, r)), { bigint: true }).catch(() => null);
    return st !== null && keepsExisting(dest.overwrite, node, st);
  };
  const walk = async (tree: BlobId, rel: string): Promise<number> => {
    let taken = 0;
    const extra = dest.deleteExtra && isRealFolder(dest.target, rel) ? await ExtraEntries.open(join(dest.target, rel)) : null;
    const deleted = (name: string): void => {
      const r = rel ? `${rel}/${name}` : name;
      if (filter.scope(r, { snapshotEntry: false }) !== 'all') return;
      counts.deleted++;
      say('delete', `/${r}`);
    };
    try {
      for await (const node of indexed.treeEntries(tree)) {
        if (extra) await extra.upTo(node.name, deleted);
        const r = rel ? `${rel}/${node.name}` : node.name;
        const scope = filter.scope(r);
        if (scope === 'no') continue;
        if (node.type === 'dir') {
          const below = node.subtree ? await walk(node.subtree, r) : 0;
          if (scope === 'all' || below > 0) {
            counts.dirs++;
            taken += below + 1;
            say('restore', `/${r}/`);
          }
          continue;
        }
        if (scope === 'partial') continue;
        if (await kept(rel, r, node)) {
          counts.kept++;
          say('keep', `/${r}`);
          continue;
        }
        taken++;
        if (node.type === 'file') {
          counts.files++;
          counts.bytes += node.size ?? 0;
        } else {
          counts.others++;
        }
        say('restore', `/${r}`);
      }
      if (extra) await extra.rest(deleted);
    } finally {
      await extra?.close();
    }
    return taken;
  };
  // restic's verbose_status actions: restored, unchanged, deleted.
  const actions = { restore: 'restored', keep: 'unchanged', delete: 'deleted' } as const;
  const say = (what: keyof typeof actions, path: string): void => {
    if (out.json) out.data({ message_type: 'verbose_status', action: actions[what], item: displayName(path) });
    else if (out.verbose) out.info(`would ${what} ${displayName(path)}`);
  };
  await walk(root, '');
  const unmatched = filter.unmatched();
  for (const inc of unmatched) out.warn(`--include ${displayName(inc)} matches nothing in snapshot ${id.slice(0, 8)}`);
  // restic's restore summary, of what would be done; dry_run, snapshot_id, dirs and others are engine's own.
  if (out.json) out.data({ message_type: 'summary', seconds_elapsed: Math.floor((performance.now() - began) / 1000), total_files: counts.files, files_restored: counts.files, files_skipped: counts.kept, files_deleted: counts.deleted, total_bytes: counts.bytes, bytes_restored: counts.bytes, bytes_skipped: 0, dry_run: true, snapshot_id: id, dirs: counts.dirs, others: counts.others });
  else {
    out.result(`would restore ${counts.files} files, ${counts.dirs} folders, ${counts.others} other entries, ${formatBytes(counts.bytes)} from snapshot ${id.slice(0, 8)} (dry run: nothing written)`);
    if (counts.kept > 0) out.result(`would leave ${counts.kept} entr${counts.kept === 1 ? 'y' : 'ies'} of the target as ${counts.kept === 1 ? 'it is' : 'they are'} (--overwrite ${dest.overwrite})`);
    if (counts.deleted > 0) out.result(`would delete ${counts.deleted} entr${counts.deleted === 1 ? 'y' : 'ies'} of the target that the snapshot does not hold (--delete)`);
  }
  if (selection.include.length > 0 && unmatched.length > 0 && counts.files + counts.dirs + counts.others === 0) return ExitCode.FAILURE;
  return unmatched.length > 0 ? ExitCode.PARTIAL : ExitCode.OK;
}
