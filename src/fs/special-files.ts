// Creates FIFOs and device nodes on restore (mknodat through native-bindings/posix). Node has no
// mknod, so the fallback cannot, and says so once per run. Device nodes need CAP_MKNOD (root);
// FIFOs do not. The mode passed is filtered by the umask: set the stored mode with chmod after.
import { AT_FDCWD, type NotKeptNotices, type PathLike, type PosixOps } from '../../native-bindings/posix/index.js';

export type SpecialType = 'fifo' | 'chardev' | 'blockdev';

const TYPE_BITS: Record<SpecialType, number> = {
  fifo: 0o010000, // S_IFIFO
  chardev: 0o020000, // S_IFCHR
  blockdev: 0o060000, // S_IFBLK
};

/**
 * Creates the node at `path` (relative to `dirfd` when relative). `mode` holds the permission bits
 * (the tree's mode), `rdev` the device number as stat reported it (the tree's decimal string;
 * ignored for FIFOs). Returns false when this implementation cannot make such nodes (noted once);
 * throws the system error otherwise (EEXIST, EPERM when not root for a device...).
 */
export function makeSpecialFile(ops: PosixOps, path: PathLike, type: SpecialType, mode: number, rdev: bigint | string | undefined, notices?: NotKeptNotices, dirfd: number = AT_FDCWD): boolean {
  if (!ops.caps.mknod) {
    notices?.note('special-files', `${ops.impl} has no mknod`, String(path));
    return false;
  }
  const dev = type === 'fifo' ? 0n : BigInt(rdev ?? 0);
  ops.mknodat(dirfd, path, TYPE_BITS[type] | (mode & 0o7777), dev);
  return true;
}

/** Linux's major and minor numbers of a dev_t (glibc's gnu_dev_major/minor), for messages. */
export function deviceNumbers(rdev: bigint | string): { major: number; minor: number } {
  const d = BigInt(rdev);
  const major = ((d >> 32n) & 0xfffff000n) | ((d >> 8n) & 0xfffn);
  const minor = ((d >> 12n) & 0xffffff00n) | (d & 0xffn);
  return { major: Number(major), minor: Number(minor) };
}
