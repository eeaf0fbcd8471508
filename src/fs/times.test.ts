// Nanosecond times set on an fd and on a symlink itself, read back with lstat; the fallback keeps
// microseconds and says so once.
import { closeSync, lstatSync, mkdirSync, openSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { workdirPerFile } from '../../test/support/workdir.js';
import { loadPosix, NotKeptNotices } from '../../native-bindings/posix/index.js';
import { setSymlinkTimes, setTimesOnFd } from './times.js';

const dir = workdirPerFile('engine-times-');

const ATIME = '1700000000123456789';
const MTIME = '1733333333987654321';
const micro = (ns: string): bigint => (BigInt(ns) / 1000n) * 1000n;
/**
 * libuv before 1.52 (Node 20, 22) cuts a time set through futimes/lutimes to whole microseconds;
 * 1.52 and later (Node 24, 26) keep the nanoseconds of the double it is given, which is exact to
 * a few hundred nanoseconds at today's times. Either way the fallback keeps the microsecond.
 */
const [uvMajor = 0, uvMinor = 0] = process.versions.uv.split('.').map(Number);
const libuvKeepsNs = uvMajor > 1 || (uvMajor === 1 && uvMinor >= 52);

/** A time read back: exact with the libc calls; else truncated, or within a microsecond, as libuv keeps it. */
function expectTime(got: bigint, ns: string, exact: boolean): void {
  if (exact) expect(got).toBe(BigInt(ns));
  else if (!libuvKeepsNs) expect(got).toBe(micro(ns));
  else expect(got > BigInt(ns) ? got - BigInt(ns) : BigInt(ns) - got, `${got} vs ${ns}`).toBeLessThan(1000n);
}

describe.each(['auto', 'off'] as const)('times (ENGINE_POSIX=%s)', async (policy) => {
  const { ops } = await loadPosix(policy);
  const exact = ops.caps.nsTimes;

  it(`sets a file's times on its fd ${exact ? 'to the nanosecond' : 'to the microsecond'}`, () => {
    const p = join(dir, `file-${policy}`);
    writeFileSync(p, 'x');
    const warnings: string[] = [];
    const notices = new NotKeptNotices((m) => warnings.push(m));
    const fd = openSync(p, 'r');
    try {
      expect(setTimesOnFd(ops, fd, ATIME, MTIME, notices)).toBe(exact ? 'ns' : 'us');
      setTimesOnFd(ops, fd, ATIME, MTIME, notices);
    } finally {
      closeSync(fd);
    }
    const st = lstatSync(p, { bigint: true });
    expectTime(st.mtimeNs, MTIME, exact);
    expectTime(st.atimeNs, ATIME, exact);
    expect(warnings).toHaveLength(exact ? 0 : 1);
  });

  it('sets a symlink\'s own times, leaving its target alone', () => {
    const target = join(dir, `target-${policy}`);
    const link = join(dir, `link-${policy}`);
    writeFileSync(target, 'x');
    symlinkSync(target, link);
    const before = lstatSync(target, { bigint: true }).mtimeNs;
    expect(setSymlinkTimes(ops, link, ATIME, MTIME)).toBe(exact ? 'ns' : 'us');
    expectTime(lstatSync(link, { bigint: true }).mtimeNs, MTIME, exact);
    expect(lstatSync(target, { bigint: true }).mtimeNs).toBe(before);
  });

  it('sets a symlink\'s times by name under a directory fd', () => {
    const link = `at-link-${policy}`;
    symlinkSync('nowhere', join(dir, link));
    const dfd = openSync(dir, 'r');
    try {
      setSymlinkTimes(ops, Buffer.from(link), ATIME, MTIME, undefined, dfd);
    } finally {
      closeSync(dfd);
    }
    expectTime(lstatSync(join(dir, link), { bigint: true }).mtimeNs, MTIME, exact);
  });

  it('sets a directory\'s times on its fd', () => {
    const d = join(dir, `dir-${policy}`);
    mkdirSync(d);
    const fd = openSync(d, 'r');
    try {
      setTimesOnFd(ops, fd, ATIME, MTIME);
    } finally {
      closeSync(fd);
    }
    expectTime(lstatSync(d, { bigint: true }).mtimeNs, MTIME, exact);
  });
});
