// Sets a restored entry's times to the nanosecond (utimensat/futimens through native-bindings/posix),
// or to the microsecond with Node's futimes/lutimes when the libc calls are not available, noted
// once per run. Times are set last, after data, ownership, mode and xattrs, since each of those
// changes ctime and writing data changes mtime.
import { AT_FDCWD, type NotKeptNotices, type PathLike, type PosixOps } from '../../native-bindings/posix/index.js';

export type TimePrecision = 'ns' | 'us';

/** Times in nanoseconds since the epoch: a bigint, or the decimal string trees store. */
export type TimeNs = bigint | string;

/** Sets atime and mtime of an open file or directory. Returns the precision actually used. */
export function setTimesOnFd(ops: PosixOps, fd: number, atimeNs: TimeNs, mtimeNs: TimeNs, notices?: NotKeptNotices): TimePrecision {
  ops.futimens(fd, BigInt(atimeNs), BigInt(mtimeNs));
  return precision(ops, notices);
}

/**
 * Sets the times of a symlink itself (never its target), by path, relative to `dirfd` when the
 * path is relative (AT_FDCWD: the working directory). The fallback goes through
 * /proc/self/fd/<dirfd>/ for a relative path under a dirfd (Linux), else needs an absolute path.
 */
export function setSymlinkTimes(ops: PosixOps, path: PathLike, atimeNs: TimeNs, mtimeNs: TimeNs, notices?: NotKeptNotices, dirfd: number = AT_FDCWD): TimePrecision {
  ops.lutimensat(dirfd, path, BigInt(atimeNs), BigInt(mtimeNs));
  return precision(ops, notices, path);
}

function precision(ops: PosixOps, notices: NotKeptNotices | undefined, path?: PathLike): TimePrecision {
  if (ops.caps.nsTimes) return 'ns';
  notices?.note('ns-times', `${ops.impl} sets times through libuv, which keeps microseconds`, path === undefined ? undefined : String(path));
  return 'us';
}
