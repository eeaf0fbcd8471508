// The libc calls of PosixOps, made through koffi (an FFI with prebuilt binaries, no compiler).
// Linux only (glibc or musl): macOS has other xattr signatures, errno values and no SEEK_DATA
// before 10.15, so there this loader refuses and the fallback is used.
//
// Structures are written by hand into Buffers rather than declared as koffi structs, so the layout
// is visible here and chosen per word size:
// - 64-bit (x64, arm64, riscv64, ppc64le, loong64, s390x): timespec = {int64 tv_sec; int64 tv_nsec}.
// - 32-bit (arm, ia32): the time64 entry points (glibc >= 2.34 `__utimensat64`/`__futimens64`,
//   musl >= 1.2 `__utimensat_time64`/`__futimens_time64`) take {int64 tv_sec; int32 tv_nsec; int32 pad}
//   (little-endian); without them the 32-bit-time_t calls are used and a time outside 1901..2038
//   fails with EOVERFLOW. off_t is 64-bit through lseek64/fallocate64 (glibc), or always (musl).
//   None of the 32-bit paths could be tested on the x86_64 machine this was written on.
import { constants, endianness } from 'node:os';
import type { PathLike, PosixCaps, PosixOps } from './types.js';
import { PosixError } from './errors.js';
import { importOptional } from '../optional-module.js';

const SPECIFIER = 'koffi';

// The part of koffi 3 used here (its own typings are not needed, see ../optional-module.ts).
type NativeFn = (...args: unknown[]) => number | bigint;
interface KoffiLib {
  func(prototype: string): NativeFn;
}
interface Koffi {
  load(path: string | null): KoffiLib;
  errno(): number;
  sizeof(type: string): number;
}

const SEEK_DATA = 3;
const SEEK_HOLE = 4;
const AT_SYMLINK_NOFOLLOW = 0x100;
const FALLOC_FL_KEEP_SIZE = 0x01;
const FALLOC_FL_PUNCH_HOLE = 0x02;
const XATTR_CREATE_OR_REPLACE = 0;

/** errno number → name, from Node's table for this platform; aliases resolved as libuv names them. */
const ERRNO_NAMES: ReadonlyMap<number, string> = (() => {
  const m = new Map<number, string>();
  const preferred = new Set(['ENOTSUP', 'EAGAIN', 'EDEADLK']);
  for (const [name, n] of Object.entries(constants.errno)) {
    if (!m.has(n) || preferred.has(name)) m.set(n, name);
  }
  return m;
})();

export async function loadLibcPosix(): Promise<PosixOps> {
  if (process.platform !== 'linux') throw new Error(`not implemented for ${process.platform} (Linux only)`);
  if (endianness() !== 'LE') throw new Error('not implemented for big-endian machines');
  const koffi = (await importOptional(SPECIFIER)) as unknown as Koffi;
  for (const f of ['load', 'errno', 'sizeof'] as const) {
    if (typeof koffi[f] !== 'function') throw new Error(`${SPECIFIER} lacks ${f} (unexpected version?)`);
  }
  const wordBytes = koffi.sizeof('long');
  if (wordBytes !== 8 && wordBytes !== 4) throw new Error(`unexpected sizeof(long) = ${wordBytes}`);
  // dlopen(NULL): the symbols of the running process, which include its libc whichever it is.
  const lib = koffi.load(null);
  return makeOps(koffi, lib, wordBytes === 8);
}

function makeOps(koffi: Koffi, lib: KoffiLib, is64: boolean): PosixOps {
  /** Declares the first prototype whose symbol exists, or returns undefined. */
  const optional = (...prototypes: string[]): NativeFn | undefined => {
    for (const p of prototypes) {
      try {
        return lib.func(p);
      } catch {
        // symbol absent from this libc: try the next spelling
      }
    }
    return undefined;
  };
  const required = (prototype: string): NativeFn => {
    const fn = optional(prototype);
    if (fn === undefined) throw new Error(`libc lacks ${prototype.replace(/^.*? (\w+)\(.*$/, '$1')}`);
    return fn;
  };

  // Times: 64-bit timespec on 64-bit machines; time64 entry points first on 32-bit ones.
  let timespec: TimespecLayout;
  let futimens: NativeFn;
  let utimensat: NativeFn;
  if (is64) {
    timespec = 'sec64-nsec64';
    futimens = required('int futimens(int fd, const uint8_t *times)');
    utimensat = required('int utimensat(int dirfd, const uint8_t *path, const uint8_t *times, int flags)');
  } else {
    const f64 = optional('int __futimens64(int fd, const uint8_t *times)', 'int __futimens_time64(int fd, const uint8_t *times)');
    const u64 = optional(
      'int __utimensat64(int dirfd, const uint8_t *path, const uint8_t *times, int flags)',
      'int __utimensat_time64(int dirfd, const uint8_t *path, const uint8_t *times, int flags)',
    );
    if (f64 !== undefined && u64 !== undefined) {
      timespec = 'sec64-nsec32';
      futimens = f64;
      utimensat = u64;
    } else {
      timespec = 'sec32-nsec32';
      futimens = required('int futimens(int fd, const uint8_t *times)');
      utimensat = required('int utimensat(int dirfd, const uint8_t *path, const uint8_t *times, int flags)');
    }
  }

  const off = is64 ? '' : '64';
  const lseek = optional(`int64_t lseek${off}(int fd, int64_t offset, int whence)`, ...(is64 ? [] : ['int64_t lseek(int fd, int64_t offset, int whence)']));
  // glibc < 2.33 has no mknodat symbol, only __xmknodat(version 0, ...) behind an inline wrapper.
  const mknodat = optional('int mknodat(int dirfd, const uint8_t *path, uint32_t mode, uint64_t dev)');
  const xmknodat = mknodat === undefined ? optional('int __xmknodat(int ver, int dirfd, const uint8_t *path, uint32_t mode, uint64_t *dev)') : undefined;
  const fallocate = optional(`int fallocate${off}(int fd, int mode, int64_t offset, int64_t len)`);
  const x = {
    flist: optional('intptr_t flistxattr(int fd, uint8_t *list, size_t size)'),
    fget: optional('intptr_t fgetxattr(int fd, const uint8_t *name, uint8_t *value, size_t size)'),
    fset: optional('int fsetxattr(int fd, const uint8_t *name, const uint8_t *value, size_t size, int flags)'),
    fremove: optional('int fremovexattr(int fd, const uint8_t *name)'),
    llist: optional('intptr_t llistxattr(const uint8_t *path, uint8_t *list, size_t size)'),
    lget: optional('intptr_t lgetxattr(const uint8_t *path, const uint8_t *name, uint8_t *value, size_t size)'),
    lset: optional('int lsetxattr(const uint8_t *path, const uint8_t *name, const uint8_t *value, size_t size, int flags)'),
    lremove: optional('int lremovexattr(const uint8_t *path, const uint8_t *name)'),
  };
  const hasXattrs = Object.values(x).every((f) => f !== undefined);

  // Every call: a negative result means failure, and errno says why (read at once, before any
  // other native call can change it).
  const check = (result: number | bigint, syscall: string, path?: PathLike): number => {
    const r = Number(result);
    if (r >= 0) return r;
    const errno = koffi.errno();
    throw new PosixError(ERRNO_NAMES.get(errno) ?? `E${errno}`, errno, syscall, path === undefined ? undefined : String(path));
  };
  const missing = (syscall: string): never => {
    throw new PosixError('ENOSYS', 0, syscall);
  };

  /** Calls a list-or-get style function twice (size, then data), again if the value grew between. */
  const sized = (call: (buf: Buffer | null, size: number) => number | bigint, syscall: string, path?: PathLike): Buffer | null => {
    for (let attempt = 0; ; attempt++) {
      let size: number;
      try {
        size = check(call(null, 0), syscall, path);
        if (size === 0) return Buffer.alloc(0);
        const buf = Buffer.allocUnsafeSlow(size);
        const got = check(call(buf, size), syscall, path);
        return buf.subarray(0, got);
      } catch (err) {
        if ((err as PosixError).code === 'ENODATA') return null;
        if ((err as PosixError).code === 'ERANGE' && attempt < 8) continue;
        throw err;
      }
    }
  };
  const splitNames = (list: Buffer | null): Buffer[] => {
    const names: Buffer[] = [];
    if (list === null) return names;
    let start = 0;
    for (let i = 0; i < list.length; i++) {
      if (list[i] !== 0) continue;
      if (i > start) names.push(Buffer.from(list.subarray(start, i)));
      start = i + 1;
    }
    return names;
  };
  const val = (v: Uint8Array): Buffer => Buffer.from(v.buffer, v.byteOffset, v.byteLength);

  const caps: PosixCaps = {
    nsTimes: true,
    xattrs: hasXattrs,
    seekData: lseek !== undefined,
    mknod: mknodat !== undefined || xmknodat !== undefined,
    punchHole: fallocate !== undefined,
  };

  return {
    impl: 'libc via koffi',
    caps,
    futimens(fd, atimeNs, mtimeNs) {
      check(futimens(fd, timespecPair(timespec, atimeNs, mtimeNs)), 'futimens');
    },
    lutimensat(dirfd, path, atimeNs, mtimeNs) {
      check(utimensat(dirfd, cstr(path), timespecPair(timespec, atimeNs, mtimeNs), AT_SYMLINK_NOFOLLOW), 'utimensat', path);
    },
    flistxattr(fd) {
      const f = x.flist ?? missing('flistxattr');
      return splitNames(sized((b, n) => f(fd, b, n), 'flistxattr'));
    },
    fgetxattr(fd, name) {
      const f = x.fget ?? missing('fgetxattr');
      const n = cstr(name);
      return sized((b, s) => f(fd, n, b, s), 'fgetxattr');
    },
    fsetxattr(fd, name, value) {
      const f = x.fset ?? missing('fsetxattr');
      check(f(fd, cstr(name), val(value), value.byteLength, XATTR_CREATE_OR_REPLACE), 'fsetxattr');
    },
    fremovexattr(fd, name) {
      const f = x.fremove ?? missing('fremovexattr');
      try {
        check(f(fd, cstr(name)), 'fremovexattr');
      } catch (err) {
        if ((err as PosixError).code !== 'ENODATA') throw err;
      }
    },
    llistxattr(path) {
      const f = x.llist ?? missing('llistxattr');
      const p = cstr(path);
      return splitNames(sized((b, n) => f(p, b, n), 'llistxattr', path));
    },
    lgetxattr(path, name) {
      const f = x.lget ?? missing('lgetxattr');
      const p = cstr(path);
      const n = cstr(name);
      return sized((b, s) => f(p, n, b, s), 'lgetxattr', path);
    },
    lsetxattr(path, name, value) {
      const f = x.lset ?? missing('lsetxattr');
      check(f(cstr(path), cstr(name), val(value), value.byteLength, XATTR_CREATE_OR_REPLACE), 'lsetxattr', path);
    },
    lremovexattr(path, name) {
      const f = x.lremove ?? missing('lremovexattr');
      try {
        check(f(cstr(path), cstr(name)), 'lremovexattr', path);
      } catch (err) {
        if ((err as PosixError).code !== 'ENODATA') throw err;
      }
    },
    seekData(fd, offset) {
      const f = lseek ?? missing('lseek');
      try {
        return check(f(fd, offset, SEEK_DATA), 'lseek');
      } catch (err) {
        if ((err as PosixError).code === 'ENXIO') return null;
        throw err;
      }
    },
    seekHole(fd, offset) {
      const f = lseek ?? missing('lseek');
      return check(f(fd, offset, SEEK_HOLE), 'lseek');
    },
    mknodat(dirfd, path, mode, rdev) {
      if (mknodat !== undefined) check(mknodat(dirfd, cstr(path), mode, rdev), 'mknodat', path);
      else if (xmknodat !== undefined) check(xmknodat(0, dirfd, cstr(path), mode, new BigUint64Array([rdev])), 'mknodat', path);
      else missing('mknodat');
    },
    punchHole(fd, offset, length) {
      const f = fallocate ?? missing('fallocate');
      check(f(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length), 'fallocate');
    },
  };
}

type TimespecLayout = 'sec64-nsec64' | 'sec64-nsec32' | 'sec32-nsec32';

const NS = 1_000_000_000n;

/** struct timespec[2] {atime, mtime} in this platform's layout (little-endian). */
function timespecPair(layout: TimespecLayout, atimeNs: bigint, mtimeNs: bigint): Buffer {
  const size = layout === 'sec32-nsec32' ? 8 : 16;
  const buf = Buffer.alloc(2 * size);
  [atimeNs, mtimeNs].forEach((t, i) => {
    // Floor division, so times before 1970 get a negative second and a non-negative tv_nsec.
    let sec = t / NS;
    let nsec = t % NS;
    if (nsec < 0n) {
      sec -= 1n;
      nsec += NS;
    }
    const at = i * size;
    if (layout === 'sec32-nsec32') {
      if (sec < -(2n ** 31n) || sec >= 2n ** 31n) throw new PosixError('EOVERFLOW', constants.errno.EOVERFLOW, 'utimensat');
      buf.writeInt32LE(Number(sec), at);
      buf.writeInt32LE(Number(nsec), at + 4);
    } else {
      buf.writeBigInt64LE(sec, at);
      if (layout === 'sec64-nsec64') buf.writeBigInt64LE(nsec, at + 8);
      else buf.writeInt32LE(Number(nsec), at + 8);
    }
  });
  return buf;
}

/** A NUL-terminated copy of a path or xattr name; a NUL inside would silently cut it. */
function cstr(p: PathLike): Buffer {
  const bytes = typeof p === 'string' ? Buffer.from(p, 'utf8') : p;
  if (bytes.includes(0)) throw new TypeError(`a path or attribute name holds a NUL byte: ${JSON.stringify(String(p))}`);
  const out = Buffer.allocUnsafe(bytes.length + 1);
  bytes.copy(out);
  out[bytes.length] = 0;
  return out;
}

