// Nanosecond times set on an fd and on a symlink itself, read back with lstat; the fallback keeps
// microseconds and says so once.
import { closeSync, lstatSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadPosix, NotKeptNotices } from '../../native-bindings/posix/index.js';
import { setSymlinkTimes, setTimesOnFd } from './times.js';

const dir = mkdtempSync(join(tmpdir(), 'engine-times-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const ATIME = '1700000000123456789';
const MTIME = '1733333333987654321';
const micro = (ns: string): bigint => (BigInt(ns) / 1000n) * 1000n;

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
    expect(st.mtimeNs).toBe(exact ? BigInt(MTIME) : micro(MTIME));
    expect(st.atimeNs).toBe(exact ? BigInt(ATIME) : micro(ATIME));
    expect(warnings).toHaveLength(exact ? 0 : 1);
  });

  it('sets a symlink\'s own times, leaving its target alone', () => {
    const target = join(dir, `target-${policy}`);
    const link = join(dir, `link-${policy}`);
    writeFileSync(target, 'x');
    symlinkSync(target, link);
    const before = lstatSync(target, { bigint: true }).mtimeNs;
    expect(setSymlinkTimes(ops, link, ATIME, MTIME)).toBe(exact ? 'ns' : 'us');
    expect(lstatSync(link, { bigint: true }).mtimeNs).toBe(exact ? BigInt(MTIME) : micro(MTIME));
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
    expect(lstatSync(join(dir, link), { bigint: true }).mtimeNs).toBe(exact ? BigInt(MTIME) : micro(MTIME));
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
    expect(lstatSync(d, { bigint: true }).mtimeNs).toBe(exact ? BigInt(MTIME) : micro(MTIME));
  });
});
