// Turning lstat results into tree nodes and back: the one place that knows how file metadata maps
// onto the format.
import type { BigIntStats } from 'node:fs';
import type { NodeType, TreeNode } from '../format/tree.js';

export function nodeType(st: BigIntStats): NodeType | null {
  if (st.isFile()) return 'file';
  if (st.isDirectory()) return 'dir';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'chardev';
  if (st.isBlockDevice()) return 'blockdev';
  return null;
}

export function baseNode(name: string, type: NodeType, st: BigIntStats): TreeNode {
  const node: TreeNode = {
    name,
    type,
    mode: Number(st.mode & 0o7777n),
    mtimeNs: st.mtimeNs.toString(),
    ctimeNs: st.ctimeNs.toString(),
    uid: Number(st.uid),
    gid: Number(st.gid),
    deviceId: st.dev.toString(),
    inode: st.ino.toString(),
    links: Number(st.nlink),
  };
  if (type === 'chardev' || type === 'blockdev') node.rdev = st.rdev.toString();
  return node;
}

/** A file is taken from the parent snapshot unread when all of these are unchanged (as restic does). */
export function unchangedSince(parent: TreeNode | undefined, st: BigIntStats): parent is TreeNode & { content: NonNullable<TreeNode['content']> } {
  return (
    parent !== undefined &&
    parent.type === 'file' &&
    parent.content !== undefined &&
    parent.size === Number(st.size) &&
    parent.mtimeNs === st.mtimeNs.toString() &&
    parent.ctimeNs === st.ctimeNs.toString() &&
    parent.inode === st.ino.toString()
  );
}

/**
 * The number to pass to utimes for a nanosecond time. libuv turns it back into tv_nsec as
 * (t - floor(t)) * 1e9 and keeps whole microseconds, so aim at the middle of the microsecond:
 * the plain ns / 1e9 lands one microsecond early about half of the time.
 */
export function nsToSeconds(ns: string): number {
  const big = BigInt(ns);
  const sec = big / 1_000_000_000n - (big < 0n && big % 1_000_000_000n !== 0n ? 1n : 0n);
  const usec = (big - sec * 1_000_000_000n) / 1000n;
  return Number(sec) + (Number(usec) + 0.5) / 1e6;
}
