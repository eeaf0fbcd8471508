// The restore's bookkeeping of what went wrong, per entry: an entry the target refused (exit 3),
// a file whose data is damaged in the repository (exit 4), attributes that could not be set. Each
// is counted in the RestoreCounters and named through onProblem, with the path a person reads
// (the target joined with the entry's path in the snapshot); the parts of the restorer report
// here instead of each keeping counters of its own.
import type { DirTree } from '../fs/dir-handle.js';
import type { XattrFailure } from '../fs/xattrs.js';
import type { FileJob } from './jobs.js';
import { describeTargetError, isTargetError } from './not-restored.js';
import type { RestoreCounters, RestoreOptions } from './options.js';
import { joinRel } from './rel-paths.js';

export class RestoreReport {
  private readonly tree: DirTree;
  private readonly opts: RestoreOptions;
  readonly counters: RestoreCounters;

  constructor(tree: DirTree, opts: RestoreOptions, counters: RestoreCounters) {
    this.tree = tree;
    this.opts = opts;
    this.counters = counters;
  }

  /** The path of an entry for people: the target joined with its path inside the snapshot. */
  display(dir: string, name?: string): string {
    return this.tree.display(name === undefined ? dir : joinRel(dir, name));
  }

  /**
   * A file restored, an entry left as it was (--overwrite) or one deleted (--delete): named to
   * onItem (-vv, restic's verbose_status), when it is given: the path is made only then (this is
   * called for every file). `dir` and `name` as display() takes them.
   */
  item(action: 'restored' | 'unchanged' | 'deleted', dir: string, name: string | undefined, size: number): void {
    if (this.opts.onItem) this.opts.onItem({ action, path: this.display(dir, name), size });
  }

  /** An entry not restored as it is in the snapshot, or damaged. */
  problem(p: { path: string; message: string }): void {
    this.opts.onProblem(p);
  }

  /**
   * An entry the target refused (a failed mkdir or symlink, something in the way that may not be
   * removed): named (exit 3), and the restore goes on. An error that is not the target's doing (a
   * bug) ends the restore.
   */
  refused(rel: string, err: unknown, what: string, folder = false): void {
    if (!isTargetError(err)) throw err;
    const path = this.display(rel);
    const { reason, text } = describeTargetError(err);
    this.counters.notRestored.push(path);
    if (reason === 'no-space') {
      this.counters.noSpaceEntries++;
      if (folder) this.counters.noSpaceFolders++;
    }
    this.opts.onProblem({ path, message: `${what}: ${text}` });
  }

  damage(job: FileJob, message: string): void {
    const path = this.display(job.dir, job.name);
    if (!job.damaged) {
      job.damaged = true;
      this.counters.damagedFiles.push(path);
    }
    this.opts.onProblem({ path, message });
  }

  /**
   * The target refused a file (its creation, a write, the close): it is named once, counted as not
   * restored (and its size as space needed when space ran out), and, unless only its metadata
   * failed, what was written of it is removed, so no complete-looking file is left behind.
   */
  fileFailed(job: FileJob, err: unknown, stage: 'create' | 'write' | 'metadata'): void {
    if (!isTargetError(err)) throw err;
    if (job.failed) return;
    const { reason, text } = describeTargetError(err);
    const path = this.display(job.dir, job.name);
    if (stage === 'metadata') {
      this.opts.onProblem({ path, message: `restored without its owner, mode or times: ${text}` });
      return;
    }
    job.failed = true;
    this.counters.notRestored.push(path);
    if (reason === 'no-space') {
      this.counters.noSpaceEntries++;
      this.counters.spaceNeededBytes += job.node.size ?? 0;
    }
    this.opts.onProblem({ path, message: `not restored: ${text}${stage === 'write' ? ' (what was written of it was removed)' : ''}` });
  }

  /** Attributes the target refused (trusted.* when not root, a filesystem without user.*...): the entry is named (exit 3). */
  xattrFailures(path: () => string, failures: XattrFailure[]): void {
    if (failures.length === 0) return;
    this.opts.onProblem({ path: path(), message: `restored without extended attribute${failures.length === 1 ? '' : 's'} ${failures.map((f) => `${displayAttr(f.name)} (${f.code})`).join(', ')}` });
  }
}

/** An attribute name for a message: printable, whatever bytes it holds. */
function displayAttr(name: string): string {
  return JSON.stringify(name);
}
