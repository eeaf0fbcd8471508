// Walks the snapshot's trees into the target: creates folders, symlinks, FIFOs and device nodes
// as it meets them, and plans each regular file (its blobs into the restore plan; hardlinks of a
// file planned earlier are kept for the end). Empty files are created at once, files whose every
// blob is missing as soon as they are planned. Subtrees are fetched several at once.
import type { PathSet } from './path-set.js';
import fs from 'node:fs';
import type { BlobId } from '../format/ids.js';
import type { TreeNode } from '../format/tree.js';
import type { DirTree } from '../fs/dir-handle.js';
import type { Concurrency } from '../util/concurrency.js';
import type { BlobIndex } from '../repository/blob-index.js';
import type { Repository } from '../repository/repository.js';
import { treeEntries } from '../repository/tree-stream.js';
import type { FileWriter } from './file-writer.js';
import type { IncludeFilter } from './includes.js';
import type { FileJob, PlannedDir, PlannedHardlink, PlannedSymlink } from './jobs.js';
import type { MetadataWriter } from './metadata.js';
import { planCost, type RestorePlan } from './plan.js';
import { depthOf, joinRel } from './rel-paths.js';
import { ExtraEntries } from './extra-entries.js';
import { isRealFolder } from './real-folder.js';
import type { RestoreReport } from './report.js';
import type { OverwriteMode } from './options.js';
import { keepsExisting } from './overwrite.js';

export interface TreePlannerParts {
  readonly repo: Repository;
  readonly index: BlobIndex;
  readonly tree: DirTree;
  readonly includes: IncludeFilter;
  readonly overwrite: OverwriteMode;
  /** Where the paths of the entries kept by `overwrite` go, when the caller wants them. */
  readonly skippedPaths: PathSet | null;
  /** restore --delete: entries of the target's folders that the snapshot does not have are removed. */
  readonly deleteExtra: boolean;
  /** What --delete must never remove, for a path of the target: why, or null (RestoreOptions.protectedFolders). */
  readonly protectedFolder: (path: string) => string | null;
  readonly plan: RestorePlan;
  readonly writer: FileWriter;
  readonly meta: MetadataWriter;
  readonly report: RestoreReport;
  /** Trees fetched at once while planning. */
  readonly treeReads: Concurrency;
  readonly signal: AbortSignal;
}

export class TreePlanner {
  private readonly p: TreePlannerParts;
  /** Folders, symlinks and hardlinks made or planned, finished at the end. */
  readonly dirs: PlannedDir[] = [];
  readonly hardlinks: PlannedHardlink[] = [];
  readonly symlinks: PlannedSymlink[] = [];
  private readonly linkGroups = new Map<string, FileJob>();
  /** Files without data being created (each leaves the set when done: a million empty files are not held). */
  readonly creating = new Set<Promise<void>>();
  /** The first failure of a file created while planning (caught at once, rethrown after planning). */
  planFailure: unknown = null;

  constructor(parts: TreePlannerParts) {
    this.p = parts;
  }

  /**
   * Creates folders, symlinks and empty-but-sized files, and records which blobs each file needs.
   * Subtrees are fetched several at once: on a remote store each fetch waits a round trip, and
   * one folder at a time made the plan of a tree of many folders take minutes.
   */
  async planTree(entries: AsyncIterable<TreeNode> | Iterable<TreeNode>, rel: string): Promise<number> {
    const { tree, report, plan } = this.p;
    const counters = report.counters;
    const subtrees: Promise<number>[] = [];
    let failure: unknown = null;
    // Entries restored here and below: a folder entered only on the way to what an --include may
    // match is restored (its metadata) only when something below it is.
    let planned = 0;
    const extra = this.p.deleteExtra ? await this.extraEntries(rel) : null;
    const removeExtra = (name: string): void => this.removeExtra(rel, name);
    try {
      for await (const node of entries) {
        if (failure) break;
        this.p.signal.throwIfAborted();
        if (extra) await extra.upTo(node.name, removeExtra);
        const r = rel ? `${rel}/${node.name}` : node.name;
        const scope = this.p.includes.scope(r);
        if (scope === 'no') continue;
        if (node.type === 'dir') {
          if (scope === 'all') {
            try {
              tree.ensureDir(r);
            } catch (err) {
              report.refused(r, err, 'folder not restored, nor anything in it', true);
              continue;
            }
            this.dirs.push({ rel: r, depth: depthOf(r), node });
            counters.dirs++;
            planned++;
          }
          // The failure is caught as it happens (an unhandled rejection would end the process
          // while this loop still awaits its siblings) and rethrown once every subtree settled.
          // A folder on the way is not created here: what is restored below it creates it (every
          // component, as ensureDir), and it takes its metadata once that is known.
          const subtree = this.planTree(this.entries(node.subtree!), r).then((below) => {
            if (scope === 'partial' && below > 0) {
              this.dirs.push({ rel: r, depth: depthOf(r), node });
              counters.dirs++;
              return below + 1;
            }
            return below;
          });
          subtrees.push(
            subtree.catch((err: unknown) => {
              failure ??= err;
              return 0;
            }),
          );
          continue;
        }
        if (scope === 'partial') continue;
        if (this.keepsExisting(rel, node)) continue;
        planned++;
        if (node.type === 'symlink') {
          try {
            tree.symlink(rel, node.name, node.linkTarget!);
          } catch (err) {
            report.refused(r, err, 'symlink not restored');
            continue;
          }
          this.symlinks.push({ dir: rel, name: node.name, node });
          counters.symlinks++;
        } else if (node.type === 'file') {
          const cost = planCost(node.content?.length ?? 0);
          await plan.reserve(cost);
          this.planFile(rel, node, cost);
          plan.flushIfDue();
        } else if (node.type === 'fifo' || node.type === 'chardev' || node.type === 'blockdev') {
          this.p.meta.restoreSpecial(rel, node);
        } else {
          // Sockets, as restic: a socket is made by the program that listens on it.
          report.problem({ path: report.display(r), message: `${node.type} entries are not restored` });
        }
      }
      if (extra && !failure) await extra.rest(removeExtra);
    } finally {
      await extra?.close();
    }
    for (const n of await Promise.all(subtrees)) planned += n;
    if (failure) throw failure;
    return planned;
  }

  /**
   * --delete: the listing of the target's folder `rel`, when it is a real folder all the way down
   * (a link there would list what lies elsewhere: nothing is deleted through it). A folder that
   * cannot be listed is said (exit 3), not taken for empty.
   */
  private async extraEntries(rel: string): Promise<ExtraEntries | null> {
    const { tree, report } = this.p;
    try {
      if (!isRealFolder(tree.root, rel)) return null;
      return await ExtraEntries.open(tree.display(rel));
    } catch (err) {
      report.problem({ path: report.display(rel), message: `not listed, so nothing in it was deleted (--delete): ${err instanceof Error ? err.message : String(err)}` });
      return null;
    }
  }

  /** --delete: removes an entry of the target the snapshot's folder does not have, when the selection takes that path. */
  private removeExtra(dir: string, name: string): void {
    const r = joinRel(dir, name);
    if (this.p.includes.scope(r, { snapshotEntry: false }) !== 'all') return;
    // Never the repository being read, its cache, or a folder holding one of them: a backup leaves
    // them out of its snapshots, so they are "not in the snapshot" in every target that holds them.
    const kept = this.p.protectedFolder(this.p.tree.display(r));
    if (kept) {
      this.p.report.problem({ path: this.p.report.display(r), message: `not deleted: it is or holds ${kept}` });
      return;
    }
    try {
      this.p.tree.remove(dir, name);
      this.p.report.counters.deleted++;
      this.p.report.item('deleted', r, undefined, 0);
    } catch (err) {
      // Said and counted as a problem (exit 3); the restore goes on.
      this.p.report.problem({ path: this.p.report.display(r), message: `not deleted: ${err instanceof Error ? err.message : String(err)}` });
    }
  }

  /**
   * --overwrite: whether what stands at the entry's place in the target stays as it is. Looked
   * at with lstat through the folder's handle (never followed); nothing there, or something that
   * cannot be looked at, is restored as with 'always'.
   */
  private keepsExisting(dir: string, node: TreeNode): boolean {
    const mode = this.p.overwrite;
    if (mode === 'always') return false;
    let st: fs.BigIntStats;
    try {
      st = this.p.tree.withEntry(dir, node.name, (_fd, at) => fs.lstatSync(at, { bigint: true }));
    } catch {
      return false;
    }
    const keep = keepsExisting(mode, node, st);
    if (keep) {
      const counters = this.p.report.counters;
      counters.skipped++;
      if (node.type === 'file') counters.skippedBytes += node.size ?? 0;
      this.p.skippedPaths?.add(joinRel(dir, node.name));
      this.p.report.item('unchanged', dir, node.name, node.size ?? 0);
    }
    return keep;
  }

  private planFile(dir: string, node: TreeNode, planCost: number): void {
    const { plan, writer } = this.p;
    const group = node.links > 1 ? `${node.deviceId}:${node.inode}` : null;
    const first = group ? this.linkGroups.get(group) : undefined;
    if (first) {
      plan.budget.release(planCost);
      this.hardlinks.push({ dir, name: node.name, first });
      return;
    }
    const job: FileJob = { dir, name: node.name, node, blobs: 0, remaining: 0, damaged: false, failed: false, finished: false, fd: null, opening: null, linked: group !== null, ino: null, planCost };
    if (group) this.linkGroups.set(group, job);
    this.p.report.counters.bytesTotal += node.size ?? 0;
    this.p.report.counters.filesTotal++;
    plan.addFile(job, node.content ?? []);
    // Files with data are created when their first blob arrives; the others (empty, or with every
    // blob missing) now.
    if (job.remaining === 0 && !job.damaged && (node.size ?? 0) === 0) {
      // Empty files are most of a folder of a million entries: created, with their metadata, in
      // one go with synchronous calls, as single-blob files are written.
      writer.writeWholeFileSync(job, EMPTY, []);
      plan.budget.release(job.planCost);
      return;
    }
    if (job.remaining === 0) {
      const creating = writer.complete(job).catch((err: unknown) => void (this.planFailure ??= err));
      this.creating.add(creating);
      void creating.finally(() => this.creating.delete(creating));
    }
  }

  /** A directory's entries, one chunk at a time; the reads share the restorer's bound on tree reads. */
  entries(treeId: BlobId): AsyncIterable<TreeNode> {
    return treeEntries(this.p.repo, this.p.index, treeId, { run: (load) => this.p.treeReads.run(load) });
  }
}

const EMPTY = new Uint8Array(0);
