// The operating-system calls Node does not expose and engine needs to keep what restic keeps
// (issue 12 point 9). Unlike the crypto primitives, two implementations do not produce the same
// result: the fallback cannot do some of these things at all, and says so through `caps`.
// Everything here is synchronous: each call is one system call on a local file (microseconds),
// and koffi reads errno on the calling thread, which an async call on its worker pool would lose.

/** A path or a name as Node's fs takes it: a string (UTF-8) or the exact bytes. */
export type PathLike = string | Buffer;

/** What the loaded implementation can do; the fallback can do none of it. */
export interface PosixCaps {
  /** futimens/utimensat: times set to the nanosecond, symlinks without following them. */
  readonly nsTimes: boolean;
  /** flistxattr/fgetxattr/fsetxattr and the l* calls (POSIX ACLs are the system.posix_acl_* xattrs). */
  readonly xattrs: boolean;
  /** lseek SEEK_DATA / SEEK_HOLE. */
  readonly seekData: boolean;
  /** mknodat: FIFOs, character and block devices. */
  readonly mknod: boolean;
  /** fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE). */
  readonly punchHole: boolean;
}

/** Directory fd meaning "relative to the working directory" (AT_FDCWD); absolute paths ignore it. */
export const AT_FDCWD = -100;

export interface PosixOps {
  readonly impl: string;
  readonly caps: PosixCaps;
  /** futimens(fd, {atime, mtime}); times in nanoseconds since the epoch. */
  futimens(fd: number, atimeNs: bigint, mtimeNs: bigint): void;
  /** utimensat(dirfd, path, times, AT_SYMLINK_NOFOLLOW): a symlink's own times. */
  lutimensat(dirfd: number, path: PathLike, atimeNs: bigint, mtimeNs: bigint): void;
  /** Names of the fd's extended attributes, as bytes. */
  flistxattr(fd: number): Buffer[];
  /** The value, or null when the attribute does not exist (ENODATA). */
  fgetxattr(fd: number, name: Buffer): Buffer | null;
  fsetxattr(fd: number, name: Buffer, value: Uint8Array): void;
  /** Removes the attribute; a missing one is not an error. */
  fremovexattr(fd: number, name: Buffer): void;
  /** The l* calls act on a symlink itself, never on its target. */
  llistxattr(path: PathLike): Buffer[];
  lgetxattr(path: PathLike, name: Buffer): Buffer | null;
  lsetxattr(path: PathLike, name: Buffer, value: Uint8Array): void;
  lremovexattr(path: PathLike, name: Buffer): void;
  /** lseek(fd, offset, SEEK_DATA): the next data at or after offset, or null when none (ENXIO). */
  seekData(fd: number, offset: number): number | null;
  /** lseek(fd, offset, SEEK_HOLE): the next hole at or after offset (the size counts as one). */
  seekHole(fd: number, offset: number): number;
  /** mknodat(dirfd, path, mode, dev): mode holds the type bits (S_IFIFO, S_IFCHR, S_IFBLK). */
  mknodat(dirfd: number, path: PathLike, mode: number, rdev: bigint): void;
  /** Deallocates [offset, offset+length) keeping the size; the range then reads as zeros. */
  punchHole(fd: number, offset: number, length: number): void;
}

/** 'auto' uses the libc calls when they load; 'off' (ENGINE_POSIX=off) forces the fallback. */
export type PosixPolicy = 'auto' | 'off';

/** What `engine doctor` prints about these calls. */
export interface PosixReport {
  readonly chosen: string;
  readonly kind: 'native' | 'js';
  readonly caps: PosixCaps;
  readonly rejected: readonly { readonly impl: string; readonly reason: string }[];
}
