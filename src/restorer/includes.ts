// Which entries of the snapshot a restore takes: restic's --include / --exclude (and their
// case-insensitive forms), patterns of src/filter/pattern.ts matched against each entry's path in
// the snapshot ("/home/me/docs/a.txt", as `engine ls` prints it; below ID:subfolder, relative to it).
// With includes, an entry is restored when a pattern matches it, and a folder is entered when a
// pattern may match something below it (restic's ListWithChild), so only the folders on the way are
// created. With excludes, an entry is restored unless a pattern matches it, and a folder left out
// is not entered. Also which include patterns matched nothing, for the caller to report.
import { PatternList, type PatternSource } from '../filter/pattern.js';
import type { RestoreOptions } from './options.js';

export class IncludeFilter {
  private readonly include: PatternList | null;
  private readonly exclude: PatternList | null;
  /** Each positive include on its own, until it first matches: to name those that match nothing. */
  private readonly pending: { source: PatternSource; list: PatternList }[];

  constructor(opts: Pick<RestoreOptions, 'include' | 'exclude'>) {
    const include = opts.include;
    const exclude = opts.exclude ?? [];
    this.include = include.length > 0 ? new PatternList(include) : null;
    this.exclude = exclude.length > 0 ? new PatternList(exclude) : null;
    this.pending = include.filter((s) => s.text !== '' && !s.text.startsWith('!')).map((source) => ({ source, list: new PatternList([source]) }));
  }

  /**
   * For the entry at `rel` (its path in the snapshot, without the leading /): 'all' restores it
   * (and a folder is entered), 'partial' only creates the folder on the way to something below it
   * that may be restored, 'no' leaves it and all below it out.
   */
  scope(rel: string, opts: { snapshotEntry?: boolean } = {}): 'all' | 'partial' | 'no' {
    const path = `/${rel}`;
    if (this.exclude && this.exclude.matches(path)) return 'no';
    if (!this.include) return 'all';
    // Only the snapshot's entries count as an include matching something (not a name that is
    // only in the target, asked about by --delete).
    if (this.pending.length > 0 && opts.snapshotEntry !== false) this.notePending(path);
    const { matched, childMayMatch } = this.include.matchWithChild(path);
    return matched ? 'all' : childMayMatch ? 'partial' : 'no';
  }

  private notePending(path: string): void {
    for (let i = this.pending.length - 1; i >= 0; i--) if (this.pending[i]!.list.matches(path)) this.pending.splice(i, 1);
  }

  /** The include patterns that matched no entry of the snapshot (known once the restore has run). */
  unmatched(): string[] {
    return this.pending.map((p) => p.source.text);
  }
}
