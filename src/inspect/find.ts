// What `engine find` looks for in one snapshot's trees, with restic's semantics (restic
// cmd/restic/cmd_find.go, read at a80be14): each entry's full path in the snapshot ('/' + the
// names from the root, not its base name alone) is matched against the patterns as restic's
// filter.Match does (src/filter/pattern.ts); a folder no pattern can match below is not entered
// (filter.ChildMatch), a folder that matches is. Trees are streamed a chunk at a time, one
// directory per level of the walk, so memory does not grow with the snapshot.
import type { BlobId } from '../format/ids.js';
import type { TreeNode } from '../format/tree.js';
import type { PatternList } from '../filter/pattern.js';
import type { TreeLoader } from './diff.js';

export interface FindCriteria {
  readonly patterns: PatternList;
  /** Only entries modified at or after this time (nanoseconds since the epoch; restic --oldest). */
  readonly oldestNs?: bigint;
  /** Only entries modified at or before this time (restic --newest). */
  readonly newestNs?: bigint;
}

export interface Found {
  /** '/'-separated from the snapshot's root, names in escaped form (displayName before printing). */
  readonly path: string;
  readonly node: TreeNode;
}

/** The entries of the tree `root` that match, depth first in name order (restic's walk order). */
export async function* findByPattern(load: TreeLoader, root: BlobId, c: FindCriteria): AsyncGenerator<Found> {
  yield* walk(load, root, '', c);
}

async function* walk(load: TreeLoader, tree: BlobId, prefix: string, c: FindCriteria): AsyncGenerator<Found> {
  for await (const node of load(tree)) {
    const path = `${prefix}/${node.name}`;
    const { matched, childMayMatch } = c.patterns.matchWithChild(path);
    const mtime = BigInt(node.mtimeNs);
    const inTime = (c.oldestNs === undefined || mtime >= c.oldestNs) && (c.newestNs === undefined || mtime <= c.newestNs);
    const hit = matched && inTime;
    if (hit) yield { path, node };
    if (node.type === 'dir' && node.subtree && (hit || childMayMatch)) yield* walk(load, node.subtree, path, c);
  }
}

export interface FoundObject {
  readonly kind: 'blob' | 'tree';
  readonly id: BlobId;
  /** The file holding the blob, or the folder whose tree it is ('/' for the root tree). */
  readonly path: string;
  /** For a blob: the tree of the folder that lists the file. */
  readonly parentTree?: BlobId;
}

/**
 * restic find --blob/--tree: the files whose content holds one of `blobs`, and the folders whose
 * tree is one of `trees`, given as full ids or prefixes of at least 8 hex digits. Every occurrence is
 * reported (restic stops a snapshot at its first tree found once every id was seen somewhere).
 */
export async function* findObjects(load: TreeLoader, root: BlobId, blobs: readonly string[], trees: readonly string[]): AsyncGenerator<FoundObject> {
  const wanted = (list: readonly string[], id: string): boolean => list.some((p) => id.startsWith(p));
  if (wanted(trees, root)) yield { kind: 'tree', id: root, path: '/' };
  yield* walkObjects(load, root, '', blobs, trees, wanted);
}

async function* walkObjects(load: TreeLoader, tree: BlobId, prefix: string, blobs: readonly string[], trees: readonly string[], wanted: (list: readonly string[], id: string) => boolean): AsyncGenerator<FoundObject> {
  for await (const node of load(tree)) {
    const path = `${prefix}/${node.name}`;
    if (node.type === 'file' && blobs.length > 0) {
      for (const id of node.content ?? []) if (wanted(blobs, id)) yield { kind: 'blob', id, path, parentTree: tree };
    }
    if (node.type === 'dir' && node.subtree) {
      if (wanted(trees, node.subtree)) yield { kind: 'tree', id: node.subtree, path };
      yield* walkObjects(load, node.subtree, path, blobs, trees, wanted);
    }
  }
}
