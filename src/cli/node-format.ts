// How a tree node is shown by `ls -l` and `find -l`/`find --json`, in restic's shapes
// (restic cmd/restic/format.go formatNodeOutput, cmd_find.go PrintPatternJSON): Go's FileMode
// string and number, uid, gid, size, local mtime, path. Names and targets are printed escaped
// (displayName): a hostile name cannot forge a line.
import type { TreeNode } from '../format/tree.js';
import { displayName } from '../fs/names.js';

// Go's os.FileMode type bits (io/fs), which restic's JSON `mode` carries above the permissions.
const GO_DIR = 2 ** 31;
const GO_SYMLINK = 2 ** 27;
const GO_DEVICE = 2 ** 26;
const GO_NAMED_PIPE = 2 ** 25;
const GO_SOCKET = 2 ** 24;
const GO_SETUID = 2 ** 23;
const GO_SETGID = 2 ** 22;
const GO_CHAR_DEVICE = 2 ** 21;
const GO_STICKY = 2 ** 20;

/** The node's mode as Go's os.FileMode number (what restic stores and prints in JSON). */
export function goFileMode(node: TreeNode): number {
  let m = node.mode & 0o777;
  if (node.mode & 0o4000) m += GO_SETUID;
  if (node.mode & 0o2000) m += GO_SETGID;
  if (node.mode & 0o1000) m += GO_STICKY;
  switch (node.type) {
    case 'dir':
      return m + GO_DIR;
    case 'symlink':
      return m + GO_SYMLINK;
    case 'blockdev':
      return m + GO_DEVICE;
    case 'chardev':
      return m + GO_DEVICE + GO_CHAR_DEVICE;
    case 'fifo':
      return m + GO_NAMED_PIPE;
    case 'socket':
      return m + GO_SOCKET;
    default:
      return m;
  }
}

/** Go's FileMode.String(): type letters in the order "dalTLDpSugct?" (or '-'), then rwxrwxrwx. */
export function permissionString(node: TreeNode): string {
  let letters = '';
  if (node.type === 'dir') letters += 'd';
  if (node.type === 'symlink') letters += 'L';
  if (node.type === 'blockdev' || node.type === 'chardev') letters += 'D';
  if (node.type === 'fifo') letters += 'p';
  if (node.type === 'socket') letters += 'S';
  if (node.mode & 0o4000) letters += 'u';
  if (node.mode & 0o2000) letters += 'g';
  if (node.type === 'chardev') letters += 'c';
  if (node.mode & 0o1000) letters += 't';
  const rwx = 'rwxrwxrwx';
  let perm = '';
  for (let i = 0; i < 9; i++) perm += node.mode & (1 << (8 - i)) ? rwx[i] : '-';
  return (letters || '-') + perm;
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** restic's TimeFormat "2006-01-02 15:04:05", in local time (TZ applies, as for restic). */
export function localTime(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}`;
}

/** Milliseconds since the epoch of a node time in nanoseconds (a decimal string). */
export const nsToMs = (ns: string): number => Number(BigInt(ns) / 1_000_000n);

/** RFC 3339 with nanoseconds in UTC, as Go marshals a time.Time (restic's JSON mtime/atime/ctime). */
export function rfc3339Nano(ns: string): string {
  const big = BigInt(ns);
  const secs = big / 1_000_000_000n - (big % 1_000_000_000n < 0n ? 1n : 0n);
  const frac = big - secs * 1_000_000_000n;
  const base = new Date(Number(secs) * 1000).toISOString().slice(0, 19);
  const digits = frac === 0n ? '' : `.${frac.toString().padStart(9, '0').replace(/0+$/, '')}`;
  return `${base}${digits}Z`;
}

/** restic's ui.FormatBytes (--human-readable): three decimals in the largest binary unit that fits. */
export function humanBytes(n: number): string {
  const units: [number, string][] = [
    [2 ** 40, 'TiB'],
    [2 ** 30, 'GiB'],
    [2 ** 20, 'MiB'],
    [2 ** 10, 'KiB'],
  ];
  for (const [size, unit] of units) if (n >= size) return `${(n / size).toFixed(3)} ${unit}`;
  return `${n} B`;
}

/** restic's long listing line: `-rw-r--r--  1000  1000   1234 2026-12-07 13:15:19 /path -> target`. */
export function longLine(path: string, node: TreeNode, human = false): string {
  const bytes = node.type === 'file' ? (node.size ?? 0) : 0;
  const size = human ? humanBytes(bytes) : String(bytes).padStart(6);
  const target = node.type === 'symlink' ? ` -> ${displayName(node.linkTarget ?? '')}` : '';
  return `${permissionString(node)} ${String(node.uid).padStart(5)} ${String(node.gid).padStart(5)} ${size} ${localTime(nsToMs(node.mtimeNs))} ${displayName(path)}${target}`;
}

/** A decimal string as a JSON number when it is one exactly, else as the string. */
const bigNumber = (s: string): number | string => (Number.isSafeInteger(Number(s)) ? Number(s) : s);

/** restic find --json's match object: path and permissions, then the node's fields (restic's names). */
export function nodeJson(path: string, node: TreeNode): Record<string, unknown> {
  return {
    path: displayName(path),
    permissions: permissionString(node),
    // restic's NodeType names a block device "dev".
    type: node.type === 'blockdev' ? 'dev' : node.type,
    mode: goFileMode(node),
    mtime: rfc3339Nano(node.mtimeNs),
    ...(node.atimeNs !== undefined ? { atime: rfc3339Nano(node.atimeNs) } : {}),
    ctime: rfc3339Nano(node.ctimeNs),
    uid: node.uid,
    gid: node.gid,
    inode: bigNumber(node.inode),
    device_id: bigNumber(node.deviceId),
    ...(node.type === 'file' ? { size: node.size ?? 0 } : {}),
    links: node.links,
    ...(node.type === 'symlink' ? { linktarget: displayName(node.linkTarget ?? '') } : {}),
  };
}
