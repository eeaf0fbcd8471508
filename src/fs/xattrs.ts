// Extended attributes of one file, directory or symlink, captured into the tree's form (names
// escaped like file names, values base64, sorted by name bytes) and applied back. POSIX ACLs are
// the xattrs system.posix_acl_access and system.posix_acl_default on Linux, so they come along
// as opaque values: the kernel checks and converts them on set.
//
// Files and directories go through an open fd (f*xattr) when the caller holds one; symlinks, and
// entries not held open, through their path with the l* calls, which never follow the last component. Attributes Linux refuses on some files are the caller's
// to report: capture and apply return what failed, by name, and go on with the rest.
import type { NotKeptNotices, PathLike, PosixOps } from '../../native-bindings/posix/index.js';
import { isNotSupported } from '../../native-bindings/posix/index.js';
import { XATTR_NAME_MAX_BYTES, XATTR_VALUE_MAX_BYTES, type Xattr } from '../format/tree.js';
import { compareNameBytes, decodeName, encodeName } from './names.js';

export const POSIX_ACL_ACCESS = 'system.posix_acl_access';
export const POSIX_ACL_DEFAULT = 'system.posix_acl_default';

/** An attribute that could not be read or set (code: the errno name, e.g. EPERM, ENOTSUP, E2BIG). */
export interface XattrFailure {
  readonly name: string;
  readonly code: string;
}

export interface XattrCapture {
  /** Sorted by name bytes; undefined when the entry has none (the tree then omits the field). */
  readonly xattrs: Xattr[] | undefined;
  readonly failures: XattrFailure[];
}

/** Where the attributes live: an open fd, or a symlink's path. */
type Target = { readonly fd: number } | { readonly path: PathLike };

/** Reads every attribute of an open file or directory. */
export function captureXattrs(ops: PosixOps, fd: number, notices?: NotKeptNotices): XattrCapture {
  return capture(ops, { fd }, notices);
}

/**
 * Reads every attribute of the entry at `path`, never following its last component (l* calls):
 * a symlink itself (on Linux only trusted.* and security.* can exist there), or any entry the
 * caller does not hold open. Under a directory fd, `/proc/self/fd/<fd>/<name>` is such a path.
 */
export function capturePathXattrs(ops: PosixOps, path: PathLike, notices?: NotKeptNotices): XattrCapture {
  return capture(ops, { path }, notices);
}

export interface ApplyOptions {
  /**
   * Also remove attributes the entry has and the list lacks (e.g. an ACL inherited from the
   * parent's default ACL on creation, which the original did not have). Default: false.
   */
  readonly exact?: boolean;
}

/** Sets the attributes on an open file or directory; returns those that failed. */
export function applyXattrs(ops: PosixOps, fd: number, xattrs: readonly Xattr[] | undefined, notices?: NotKeptNotices, opts: ApplyOptions = {}): XattrFailure[] {
  return apply(ops, { fd }, xattrs ?? [], notices, opts);
}

/** Sets the attributes on the entry at `path` (a symlink itself; never following it); returns those that failed. */
export function applyPathXattrs(ops: PosixOps, path: PathLike, xattrs: readonly Xattr[] | undefined, notices?: NotKeptNotices, opts: ApplyOptions = {}): XattrFailure[] {
  return apply(ops, { path }, xattrs ?? [], notices, opts);
}

function capture(ops: PosixOps, t: Target, notices: NotKeptNotices | undefined): XattrCapture {
  if (!ops.caps.xattrs) {
    notices?.note('xattrs', `${ops.impl} cannot read them`, 'path' in t ? String(t.path) : undefined);
    return { xattrs: undefined, failures: [] };
  }
  let names: Buffer[];
  try {
    names = 'fd' in t ? ops.flistxattr(t.fd) : ops.llistxattr(t.path);
  } catch (err) {
    // A filesystem without xattrs (some FUSE and network ones) has none to keep.
    if (isNotSupported(err)) return { xattrs: undefined, failures: [] };
    throw err;
  }
  const xattrs: Xattr[] = [];
  const failures: XattrFailure[] = [];
  for (const raw of names) {
    const name = decodeName(raw);
    if (raw.length > XATTR_NAME_MAX_BYTES) {
      failures.push({ name, code: 'ENAMETOOLONG' });
      continue;
    }
    let value: Buffer | null;
    try {
      value = 'fd' in t ? ops.fgetxattr(t.fd, raw) : ops.lgetxattr(t.path, raw);
    } catch (err) {
      failures.push({ name, code: errCode(err) });
      continue;
    }
    if (value === null) continue; // removed since it was listed
    if (value.length > XATTR_VALUE_MAX_BYTES) {
      failures.push({ name, code: 'E2BIG' });
      continue;
    }
    xattrs.push({ name, value: value.toString('base64') });
  }
  xattrs.sort((a, b) => compareNameBytes(a.name, b.name));
  return { xattrs: xattrs.length > 0 ? xattrs : undefined, failures };
}

function apply(ops: PosixOps, t: Target, xattrs: readonly Xattr[], notices: NotKeptNotices | undefined, opts: ApplyOptions): XattrFailure[] {
  if (!ops.caps.xattrs) {
    if (xattrs.length > 0) notices?.note('xattrs', `${ops.impl} cannot set them`, 'path' in t ? String(t.path) : undefined);
    return [];
  }
  const failures: XattrFailure[] = [];
  if (opts.exact) {
    const wanted = new Set(xattrs.map((x) => x.name));
    let present: Buffer[] = [];
    try {
      present = 'fd' in t ? ops.flistxattr(t.fd) : ops.llistxattr(t.path);
    } catch (err) {
      if (!isNotSupported(err)) throw err;
    }
    for (const raw of present) {
      const name = decodeName(raw);
      if (wanted.has(name)) continue;
      try {
        if ('fd' in t) ops.fremovexattr(t.fd, raw);
        else ops.lremovexattr(t.path, raw);
      } catch (err) {
        failures.push({ name, code: errCode(err) });
      }
    }
  }
  for (const x of xattrs) {
    try {
      const name = encodeName(x.name);
      const value = Buffer.from(x.value, 'base64');
      if ('fd' in t) ops.fsetxattr(t.fd, name, value);
      else ops.lsetxattr(t.path, name, value);
    } catch (err) {
      failures.push({ name: x.name, code: errCode(err) });
    }
  }
  return failures;
}

function errCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return code;
  throw err;
}
