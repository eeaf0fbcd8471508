// The backup paths as a tree of names from the filesystem root: a snapshot stores each path under
// its absolute path (as restic does), so `/srv/data` and `/home/data` coexist and a restore puts
// each file where a restic user looks for it (TARGET/srv/data/...). The folders on the way to a
// backup path ("intermediate folders") are stored with their own metadata but nothing else of
// their content. A path inside another backup path is already covered by it and is dropped.
import { compareNames } from '../format/tree.js';

/** A folder on the way to one or more backup paths, with its children in name order. */
export interface TargetFolder {
  readonly kind: 'folder';
  readonly name: string;
  /** Its absolute path ('/' for the root). */
  readonly path: string;
  readonly children: TargetNode[];
}

/** A backup path itself: walked whole. */
export interface TargetPath {
  readonly kind: 'path';
  readonly name: string;
  readonly path: string;
}

export type TargetNode = TargetFolder | TargetPath;

/** The names of an absolute, normalised path ('/' has none). */
export function pathNames(abs: string): string[] {
  return abs.split('/').filter((n) => n !== '');
}

/**
 * The tree of the given absolute, normalised paths. The root is a TargetPath when '/' itself is
 * backed up (then every other path is inside it); otherwise a TargetFolder. Duplicates and paths
 * inside another one are dropped: the outer path holds them already.
 */
export function targetTree(paths: readonly string[]): TargetNode {
  if (paths.some((p) => pathNames(p).length === 0)) return { kind: 'path', name: '', path: '/' };
  interface Building {
    path: string;
    leaf: boolean;
    children: Map<string, Building>;
  }
  const root: Building = { path: '/', leaf: false, children: new Map() };
  // Shorter paths first: an outer path is placed before any path inside it is met.
  const sorted = [...paths].sort((a, b) => pathNames(a).length - pathNames(b).length);
  for (const p of sorted) {
    let at = root;
    for (const name of pathNames(p)) {
      if (at.leaf) break;
      let next = at.children.get(name);
      if (!next) {
        next = { path: at.path === '/' ? `/${name}` : `${at.path}/${name}`, leaf: false, children: new Map() };
        at.children.set(name, next);
      }
      at = next;
    }
    if (!at.leaf) {
      at.leaf = true;
      at.children.clear();
    }
  }
  const build = (name: string, b: Building): TargetNode =>
    b.leaf
      ? { kind: 'path', name, path: b.path }
      : {
          kind: 'folder',
          name,
          path: b.path,
          children: [...b.children.entries()].sort(([x], [y]) => compareNames(x, y)).map(([n, c]) => build(n, c)),
        };
  return build('', root);
}

/** The backup paths the tree walks whole, in name order: duplicates and nested paths dropped. */
export function walkedPaths(tree: TargetNode): string[] {
  return tree.kind === 'path' ? [tree.path] : tree.children.flatMap(walkedPaths);
}
