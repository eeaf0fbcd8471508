// `engine rewrite` (restic's): snapshots saved again without the entries that exclude patterns
// match, for a file that should never have been backed up. Each folder is read twice, streamed: a
// first pass rewrites its subfolders and finds whether anything below it changed, and only then a
// second pass writes it again through the streaming tree writer (no folder is held whole; chunked
// folders stay chunked). A folder where nothing changed keeps its id, so a snapshot untouched by
// the patterns is left as it is. The new trees and the index naming them are stored before the new
// snapshot, which names the first snapshot of its line in `original` (FORMAT.md "Snapshots").
import type { BlobId, SnapshotId } from '../format/ids.js';
import type { Snapshot } from '../format/snapshot.js';
import type { TreeNode } from '../format/tree.js';
import type { PatternList } from '../filter/pattern.js';
import type { IndexedRepository } from '../repository/indexed-repository.js';
import type { ListedSnapshot } from '../repository/snapshot-filter.js';
import { TreeWriter } from '../repository/tree-stream.js';
import { uploaderTreeStore } from '../repository/uploader-tree-store.js';

export interface RewriteOptions {
  /** What to leave out: matched against each entry's path in the snapshot ("/home/me/secret.key"). */
  exclude: Pick<PatternList, 'matches'>;
  /** Remove each original once its replacement is saved (restic's --forget); else tag the new one "rewrite". */
  forget?: boolean;
  /** Say what would change; write nothing. */
  dryRun?: boolean;
  packTargetBytes: number;
  signal?: AbortSignal;
  /** Each entry left out, with the snapshot it was in. */
  onExcluded?: (snapshot: SnapshotId, path: string) => void;
}

export interface RewriteResult {
  /** Snapshots replaced: the old id and the new one (the old one again in a dry run). */
  rewritten: { old: SnapshotId; new: SnapshotId }[];
  /** Snapshots that every entry of was excluded from: removed (as restic), or would be. */
  removedEmpty: SnapshotId[];
}

export async function rewriteSnapshots(indexed: IndexedRepository, selected: readonly ListedSnapshot[], opts: RewriteOptions): Promise<RewriteResult> {
  const { repo } = indexed;
  const result: RewriteResult = { rewritten: [], removedEmpty: [] };
  const uploaderOptions = { packTargetBytes: opts.packTargetBytes, writesInFlight: 2, indexEveryPacks: 16, sealedBytes: 4 * opts.packTargetBytes, ...(opts.signal ? { signal: opts.signal } : {}) };
  await indexed.withBlobUploader(uploaderOptions, async (uploader) => {
    const store = uploaderTreeStore(repo, uploader, { ...(opts.dryRun ? { dryRun: true } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });

    /**
     * The tree of folder `dir` (its path in the snapshot, "" for the root) without what is
     * excluded, and how many entries it keeps. `way`: the snapshot's paths, whose folders on the
     * way (FORMAT.md "Layout of the root tree") go too when the rewrite leaves them empty: they
     * were stored only to lead to what is now excluded.
     */
    const rewriteTree = async (treeId: BlobId, dir: string, snapshot: SnapshotId, way: readonly string[]): Promise<{ id: BlobId; kept: number }> => {
      opts.signal?.throwIfAborted();
      // New subtrees by name; null: a folder on the way left empty, dropped.
      const newSubtrees = new Map<string, BlobId | null>();
      let changed = false;
      let kept = 0;
      for await (const node of indexed.treeEntries(treeId)) {
        const path = `${dir}/${node.name}`;
        if (opts.exclude.matches(path)) {
          changed = true;
          opts.onExcluded?.(snapshot, node.type === 'dir' ? `${path}/` : path);
          continue;
        }
        if (node.type === 'dir' && node.subtree) {
          const sub = await rewriteTree(node.subtree, path, snapshot, way);
          if (sub.id !== node.subtree) {
            changed = true;
            if (sub.kept === 0 && isOnTheWay(path, way)) {
              newSubtrees.set(node.name, null);
              continue;
            }
            newSubtrees.set(node.name, sub.id);
          }
        }
        kept++;
      }
      if (!changed) return { id: treeId, kept };
      const writer = new TreeWriter(store);
      for await (const node of indexed.treeEntries(treeId)) {
        if (opts.exclude.matches(`${dir}/${node.name}`)) continue;
        const sub = newSubtrees.get(node.name);
        if (sub === null) continue;
        await writer.add(sub !== undefined && node.type === 'dir' ? ({ ...node, subtree: sub } satisfies TreeNode) : node);
      }
      return { id: await writer.finish(), kept };
    };

    for (const { id, snapshot } of selected) {
      opts.signal?.throwIfAborted();
      const root = await rewriteTree(snapshot.tree, '', id, snapshot.paths);
      if (root.id === snapshot.tree) continue;
      if (root.kept === 0) {
        // Nothing left: no empty snapshot is saved, and the original goes (as restic).
        result.removedEmpty.push(id);
        if (!opts.dryRun) await repo.removeSnapshot(id);
        continue;
      }
      if (opts.dryRun) {
        result.rewritten.push({ old: id, new: id });
        continue;
      }
      // The trees first, with the index naming them, then the snapshot (FORMAT.md write ordering).
      await uploader.flush();
      opts.signal?.throwIfAborted();
      const tags = opts.forget || snapshot.tags.includes('rewrite') ? snapshot.tags : [...snapshot.tags, 'rewrite'];
      // A rewritten copy no longer holds what it was copied from: it loses `copiedFrom`, so that
      // `engine copy` does not take it for the source's snapshot (FORMAT.md "Snapshots").
      const { copiedFrom: _copiedFrom, ...kept } = snapshot;
      const next: Snapshot = { ...kept, tree: root.id, tags, original: snapshot.original ?? id };
      const saved = await repo.saveSnapshot(next);
      if (opts.forget) await repo.removeSnapshot(id);
      result.rewritten.push({ old: id, new: saved });
    }
  });
  return result;
}

/**
 * `path` is a folder on the way to one of `paths`: a strict ancestor of one (component by
 * component) and inside none (a folder inside a backed-up path is the user's, kept even empty).
 */
function isOnTheWay(path: string, paths: readonly string[]): boolean {
  const inside = (p: string): boolean => p === '/' || path === p || path.startsWith(`${p}/`);
  return paths.some((p) => p.startsWith(`${path}/`)) && !paths.some(inside);
}
