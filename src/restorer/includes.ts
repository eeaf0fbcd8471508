// Which entries of the snapshot a restore takes (its `include` paths), and which of those paths
// named no entry at all, for the caller to report once the restore has run.
import type { RestoreOptions } from './options.js';

export class IncludeFilter {
  private readonly opts: Pick<RestoreOptions, 'include'>;
  /** Includes that named an entry of the snapshot. */
  private readonly matched = new Set<string>();

  constructor(opts: Pick<RestoreOptions, 'include'>) {
    this.opts = opts;
  }

  /** 'all': the entry and what is below it; 'partial': only some of what is below it; 'no': none of it. */
  scope(rel: string): 'all' | 'partial' | 'no' {
    if (this.opts.include.length === 0) return 'all';
    let partial = false;
    for (const inc of this.opts.include) {
      if (rel === inc) {
        this.matched.add(inc);
        return 'all';
      }
      if (rel.startsWith(`${inc}/`)) return 'all';
      if (inc.startsWith(`${rel}/`)) partial = true;
    }
    return partial ? 'partial' : 'no';
  }

  /** The includes that matched no entry of the snapshot (known once the restore has run). */
  unmatched(): string[] {
    return this.opts.include.filter((inc) => !this.matched.has(inc));
  }
}
