// restore --overwrite (restic's modes): whether what stands at an entry's place in the target stays
// as it is. One rule for the restore and its dry run.
import type { BigIntStats } from 'node:fs';
import type { TreeNode } from '../format/tree.js';
import type { OverwriteMode } from './options.js';

/**
 * `existing` is the target's entry (lstat, never followed): 'never' keeps anything there,
 * 'if-newer' anything not older than the snapshot's entry, 'if-changed' a regular file of the
 * same size and modification time (to the nanosecond), 'always' nothing.
 */
export function keepsExisting(mode: OverwriteMode, node: TreeNode, existing: BigIntStats): boolean {
  switch (mode) {
    case 'always':
      return false;
    case 'never':
      return true;
    case 'if-newer':
      return BigInt(node.mtimeNs) <= existing.mtimeNs;
    case 'if-changed':
      return node.type === 'file' && existing.isFile() && existing.size === BigInt(node.size ?? 0) && existing.mtimeNs === BigInt(node.mtimeNs);
  }
}
