// The backup paths as a tree of names from the filesystem root: a snapshot stores each path under
// its absolute path (as restic does), so `/srv/data` and `/home/data` coexist and a restore puts
// each file where a restic user looks for it (TARGET/srv/data/...). The folders on the way to a
// backup path ("intermediate folders") are stored with their own metadata but nothing else of
// their content. A path inside another backup path stays in the tree below it: the walk of the
// outer path takes it whatever would have left it out there (another filesystem under -x, an
// exclude that matches the way to it), and takes it as a folder on the way when the outer path is
// not walked as a folder at all (a symlink, excluded) — as restic's tree of targets does.
import { compareNames } from '../format/tree.js';

/** A folder on the way to one or more backup paths, with its children in name order. */
export interface TargetFolder {
  readonly kind: 'folder';
  readonly name: string;
  /** Its absolute path ('/' for the root). */
  readonly path: string;
  readonly children: TargetNode[];
}

/** A backup path itself: walked whole; `children`: the way to backup paths inside it (usually none). */
export interface TargetPath {
  readonly kind: 'path';
  readonly name: string;
  readonly path: string;
  readonly children: TargetNode[];
}

export type TargetNode = TargetFolder | TargetPath;

/** The names of an absolute, normalised path ('/' has none). */
export function pathNames(abs: string): string[] {
  return abs.split('/').filter((n) => n !== '');
}

/**
 * The tree of the given absolute, normalised paths. The root is a TargetPath when '/' itself is
 * backed up; otherwise a TargetFolder. Duplicates are dropped; a path inside another is kept below
 * it (the outer one's `children`).
 */
export function targetTree(paths: readonly string[]): TargetNode {
  interface Building {
    path: string;
    leaf: boolean;
    children: Map<string, Building>;
  }
  const root: Building = { path: '/', leaf: false, children: new Map() };
  for (const p of paths) {
    let at = root;
    for (const name of pathNames(p)) {
      let next = at.children.get(name);
      if (!next) {
        next = { path: at.path === '/' ? `/${name}` : `${at.path}/${name}`, leaf: false, children: new Map() };
        at.children.set(name, next);
      }
      at = next;
    }
    at.leaf = true;
  }
  const build = (name: string, b: Building): TargetNode => {
    const children = [...b.children.entries()].sort(([x], [y]) => compareNames(x, y)).map(([n, c]) => build(n, c));
    return b.leaf ? { kind: 'path', name, path: b.path, children } : { kind: 'folder', name, path: b.path, children };
  };
  return build('', root);
}

/** The outermost backup paths, in name order (the ones inside them are walked with them). */
export function walkedPaths(tree: TargetNode): string[] {
  return tree.kind === 'path' ? [tree.path] : tree.children.flatMap(walkedPaths);
}
