import { describe, expect, it } from 'vitest';
import { pathNames, targetTree, walkedPaths, type TargetNode } from './target-tree.js';

/** The tree as lines "path (kind)", depth first. */
function lines(n: TargetNode): string[] {
  return [`${n.path} (${n.kind})`, ...n.children.flatMap(lines)];
}

describe('targetTree', () => {
  it('places each path under its absolute path, same last names side by side, children in name order', () => {
    expect(lines(targetTree(['/srv/data', '/home/data', '/home/alice']))).toEqual([
      '/ (folder)',
      '/home (folder)',
      '/home/alice (path)',
      '/home/data (path)',
      '/srv (folder)',
      '/srv/data (path)',
    ]);
  });

  it('drops duplicates and keeps a path inside another below it, whichever comes first', () => {
    expect(lines(targetTree(['/a/b/c', '/a/b', '/a/b', '/a/bc']))).toEqual(['/ (folder)', '/a (folder)', '/a/b (path)', '/a/b/c (path)', '/a/bc (path)']);
  });

  it("'/' itself is the whole root, with the paths inside it below", () => {
    expect(lines(targetTree(['/srv/x', '/']))).toEqual(['/ (path)', '/srv (folder)', '/srv/x (path)']);
    expect(targetTree(['/'])).toEqual({ kind: 'path', name: '', path: '/', children: [] });
  });

  it('orders names by bytes, as trees are stored', () => {
    const root = targetTree(['/x/b', '/x/B', '/x/a']);
    expect(lines(root).slice(2)).toEqual(['/x/B (path)', '/x/a (path)', '/x/b (path)']);
  });

  it('walkedPaths: each path walked whole, once', () => {
    expect(walkedPaths(targetTree(['/b/x', '/a', '/a/y', '/b/x']))).toEqual(['/a', '/b/x']);
    expect(walkedPaths(targetTree(['/', '/a']))).toEqual(['/']);
  });

  it('pathNames', () => {
    expect(pathNames('/')).toEqual([]);
    expect(pathNames('/a/b')).toEqual(['a', 'b']);
  });
});
