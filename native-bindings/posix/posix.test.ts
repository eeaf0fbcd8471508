// The libc calls through koffi, on real files of this machine, and the selection between them and
// the Node fallback. The libc implementation must load on Linux x64/arm64: if koffi is missing
// there, these tests fail rather than skip, so a broken install cannot pass unnoticed.
import { closeSync, lstatSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AT_FDCWD, loadPosix, NotKeptNotices, POSIX_DISABLED_REASON, PosixError, posixPolicyFromEnv } from './index.js';
import { nsToUtimesSeconds } from './fallback.js';

const dir = mkdtempSync(join(tmpdir(), 'engine-posix-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const linuxWithKoffi = process.platform === 'linux' && (process.arch === 'x64' || process.arch === 'arm64');

describe('posix selection', () => {
  it('uses libc via koffi here, and reports every capability', async () => {
    const { ops, report } = await loadPosix('auto');
    if (!linuxWithKoffi) return;
    expect(report.chosen).toBe('libc via koffi');
    expect(report.kind).toBe('native');
    expect(ops.caps).toEqual({ nsTimes: true, xattrs: true, seekData: true, mknod: true, punchHole: true });
  });

  it('ENGINE_POSIX=off forces the Node fallback and says why; ENGINE_NATIVE does not', async () => {
    expect(posixPolicyFromEnv({ ENGINE_POSIX: 'off' })).toBe('off');
    expect(posixPolicyFromEnv({ ENGINE_NATIVE: 'off' })).toBe('auto');
    expect(posixPolicyFromEnv({})).toBe('auto');
    const { ops, report } = await loadPosix('off');
    expect(report.chosen).toBe('node:fs');
    expect(report.rejected).toEqual([{ impl: 'libc via koffi', reason: POSIX_DISABLED_REASON }]);
    expect(ops.caps).toEqual({ nsTimes: false, xattrs: false, seekData: false, mknod: false, punchHole: false });
    expect(() => ops.flistxattr(0)).toThrow(expect.objectContaining({ code: 'ENOSYS' }));
    expect(() => ops.mknodat(AT_FDCWD, join(dir, 'x'), 0o010644, 0n)).toThrow(expect.objectContaining({ code: 'ENOSYS' }));
  });

  it('warns once per feature, not per file', () => {
    const lines: string[] = [];
    const notices = new NotKeptNotices((m) => lines.push(m));
    notices.note('xattrs', 'no libc', '/a');
    notices.note('xattrs', 'no libc', '/b');
    notices.note('special-files', 'no mknod');
    expect(lines).toEqual(['extended attributes and POSIX ACLs are not kept: no libc (first: /a)', 'FIFOs and device nodes are not restored: no mknod']);
    expect(notices.noted()).toEqual(['xattrs', 'special-files']);
  });
});

describe.runIf(linuxWithKoffi)('libc via koffi', async () => {
  const { ops } = await loadPosix('auto');

  it('turns errno into Node-style errors with the errno name', () => {
    const err = (() => {
      try {
        ops.lsetxattr(join(dir, 'missing'), Buffer.from('user.x'), Buffer.from('v'));
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(PosixError);
    expect(err).toMatchObject({ code: 'ENOENT', syscall: 'lsetxattr', path: join(dir, 'missing') });
    expect(() => ops.seekData(-1, 0)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    expect(() => ops.lsetxattr(join(dir, 'a\0b'), Buffer.from('user.x'), Buffer.from('v'))).toThrow(TypeError);
  });

  it('sets, lists, reads and removes an xattr on an fd; a missing one reads as null', () => {
    const p = join(dir, 'x-fd');
    writeFileSync(p, 'data');
    const fd = openSync(p, 'r+');
    try {
      const value = Buffer.from([0, 1, 2, 255, 0]);
      ops.fsetxattr(fd, Buffer.from('user.engine'), value);
      expect(ops.flistxattr(fd).map(String)).toContain('user.engine');
      expect(ops.fgetxattr(fd, Buffer.from('user.engine'))).toEqual(value);
      expect(ops.fgetxattr(fd, Buffer.from('user.absent'))).toBeNull();
      ops.fsetxattr(fd, Buffer.from('user.empty'), new Uint8Array(0));
      expect(ops.fgetxattr(fd, Buffer.from('user.empty'))).toEqual(Buffer.alloc(0));
      ops.fremovexattr(fd, Buffer.from('user.engine'));
      ops.fremovexattr(fd, Buffer.from('user.engine')); // already gone: not an error
      expect(ops.flistxattr(fd).map(String)).not.toContain('user.engine');
    } finally {
      closeSync(fd);
    }
  });

  it('l* calls act on the symlink, not its target', () => {
    const target = join(dir, 'l-target');
    const link = join(dir, 'l-link');
    writeFileSync(target, '');
    symlinkSync(target, link);
    // user.* is refused on symlinks by Linux; trusted.* needs root.
    expect(() => ops.lsetxattr(link, Buffer.from('user.x'), Buffer.from('v'))).toThrow(expect.objectContaining({ code: 'EPERM' }));
    if (process.getuid?.() !== 0) return;
    ops.lsetxattr(link, Buffer.from('trusted.engine'), Buffer.from('on-link'));
    expect(ops.lgetxattr(link, Buffer.from('trusted.engine'))).toEqual(Buffer.from('on-link'));
    expect(ops.llistxattr(target).map(String)).not.toContain('trusted.engine');
    ops.lremovexattr(link, Buffer.from('trusted.engine'));
    expect(ops.lgetxattr(link, Buffer.from('trusted.engine'))).toBeNull();
  });

  it('futimens and utimensat keep nanoseconds, before 1970 too', () => {
    const p = join(dir, 't');
    writeFileSync(p, '');
    const fd = openSync(p, 'r');
    try {
      ops.futimens(fd, 1_700_000_000_123_456_789n, 1_700_000_001_987_654_321n);
      const st = lstatSync(p, { bigint: true });
      expect(st.atimeNs).toBe(1_700_000_000_123_456_789n);
      expect(st.mtimeNs).toBe(1_700_000_001_987_654_321n);
      ops.futimens(fd, -1n, -1_500_000_000_000_000_001n);
      const old = lstatSync(p, { bigint: true });
      expect(old.atimeNs).toBe(-1n);
      expect(old.mtimeNs).toBe(-1_500_000_000_000_000_001n);
    } finally {
      closeSync(fd);
    }
  });
});

describe('nsToUtimesSeconds (the fallback time for futimes/lutimes)', () => {
  // libuv turns the double back into tv_nsec as (t - floor(t)) * 1e9.
  const nsecOf = (t: number): number => Math.round((t - Math.floor(t)) * 1e9);

  it('libuv before 1.52 keeps whole microseconds: aims at the middle of the microsecond', () => {
    const t = nsToUtimesSeconds(1_600_000_000_123_456_789n, false);
    expect(Math.floor(t)).toBe(1_600_000_000);
    expect(Math.floor(nsecOf(t) / 1000)).toBe(123_456);
  });

  it('libuv 1.52 and later keep nanoseconds: aims at the time itself (within a double step), not +0.5 us', () => {
    const half = nsToUtimesSeconds(1_600_000_000_500_000_000n, true);
    expect(Math.abs(nsecOf(half) - 500_000_000)).toBeLessThan(300);
    const t = nsToUtimesSeconds(1_600_000_000_123_456_789n, true);
    expect(Math.abs(nsecOf(t) - 123_456_789)).toBeLessThan(300);
    // Before a fix, +0.5 us was set as such on Node 24: 1600000000.500000476 for .5.
    expect(Math.abs(nsecOf(nsToUtimesSeconds(1_600_000_000_500_000_000n, false)) - 500_000_000)).toBeGreaterThan(400);
  });
});
