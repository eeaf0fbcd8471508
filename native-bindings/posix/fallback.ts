// What Node alone can do: times through futimes/lutimes (libuv keeps whole microseconds), and
// nothing else. `caps` says so; callers check it and report what is not kept, once per run.
import { futimesSync, lutimesSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import type { PathLike, PosixOps } from './types.js';
import { AT_FDCWD } from './types.js';
import { unsupported } from './errors.js';

/**
 * libuv before 1.52 (Node 20, 22) cuts the time it is given to whole microseconds; 1.52 and later
 * (Node 24, 26) keep the nanoseconds of the double, which near today's epoch is exact to about
 * 240 ns (one step of a double at 2^30 s).
 */
const LIBUV_KEEPS_NS = ((): boolean => {
  const [maj = 0, min = 0] = (process.versions.uv ?? '0.0').split('.').map(Number);
  return maj > 1 || (maj === 1 && min >= 52);
})();

/**
 * The number to pass to futimes for a nanosecond time. libuv turns it back into tv_nsec as
 * (t - floor(t)) * 1e9. When it then keeps whole microseconds, aim at the middle of the
 * microsecond: the plain ns / 1e9 lands one microsecond early about half of the time. When it
 * keeps nanoseconds, aim at the time itself (+0.5 µs would be set as such: Node 24 restored
 * 1600000000.500000476 for 1600000000.5).
 */
export function nsToUtimesSeconds(ns: bigint, keepsNs: boolean = LIBUV_KEEPS_NS): number {
  const sec = ns / 1_000_000_000n - (ns < 0n && ns % 1_000_000_000n !== 0n ? 1n : 0n);
  const frac = ns - sec * 1_000_000_000n;
  if (keepsNs) return Number(sec) + (Number(frac) + 0.5) / 1e9;
  return Number(sec) + (Number(frac / 1000n) + 0.5) / 1e6;
}

/**
 * Node has no *at calls. On Linux /proc/self/fd/<dirfd>/<name> is the same thing: the kernel
 * resolves the magic link to exactly the directory held open, and lutimes does not follow the last
 * component (src/fs/dir-handle.ts relies on the same). Elsewhere only absolute paths can be served.
 */
function atPath(dirfd: number, path: PathLike): PathLike {
  const rel = typeof path === 'string' ? !isAbsolute(path) : path[0] !== 0x2f;
  if (dirfd === AT_FDCWD || !rel) return path;
  if (process.platform !== 'linux') throw unsupported('utimensat');
  const dir = `/proc/self/fd/${dirfd}/`;
  return typeof path === 'string' ? dir + path : Buffer.concat([Buffer.from(dir), path]);
}

export function nodeFallbackPosix(): PosixOps {
  const none = (syscall: string) => (): never => {
    throw unsupported(syscall);
  };
  return {
    impl: 'node:fs',
    caps: { nsTimes: false, xattrs: false, seekData: false, mknod: false, punchHole: false },
    futimens(fd, atimeNs, mtimeNs) {
      futimesSync(fd, nsToUtimesSeconds(atimeNs), nsToUtimesSeconds(mtimeNs));
    },
    lutimensat(dirfd, path, atimeNs, mtimeNs) {
      lutimesSync(atPath(dirfd, path), nsToUtimesSeconds(atimeNs), nsToUtimesSeconds(mtimeNs));
    },
    flistxattr: none('flistxattr'),
    fgetxattr: none('fgetxattr'),
    fsetxattr: none('fsetxattr'),
    fremovexattr: none('fremovexattr'),
    llistxattr: none('llistxattr'),
    lgetxattr: none('lgetxattr'),
    lsetxattr: none('lsetxattr'),
    lremovexattr: none('lremovexattr'),
    seekData: none('lseek'),
    seekHole: none('lseek'),
    mknodat: none('mknodat'),
    punchHole: none('fallocate'),
  };
}
