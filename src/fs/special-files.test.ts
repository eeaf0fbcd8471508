// FIFOs and device nodes made with mknodat, checked with lstat; as root, a character device with
// /dev/null's numbers (1, 3) in a temp folder. The fallback makes none and says so once.
import { lstatSync, openSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { workdirPerFile } from '../../test/support/workdir.js';
import { itWhen } from '../../test/support/it-when.js';
import { AT_FDCWD, loadPosix, NotKeptNotices } from '../../native-bindings/posix/index.js';
import { deviceNumbers, makeSpecialFile } from './special-files.js';

const dir = workdirPerFile('engine-special-');
const isRoot = process.getuid?.() === 0;

describe.each(['auto', 'off'] as const)('special files (ENGINE_POSIX=%s)', async (policy) => {
  const { ops } = await loadPosix(policy);
  const can = ops.caps.mknod;

  itWhen(can)('makes a FIFO with the given permission bits (under the umask)', () => {
    const p = join(dir, `fifo-${policy}`);
    expect(makeSpecialFile(ops, p, 'fifo', 0o640, undefined)).toBe(true);
    const st = lstatSync(p);
    expect(st.isFIFO()).toBe(true);
    expect(st.mode & 0o7777 & ~process.umask()).toBe(0o640 & ~process.umask());
    expect(() => makeSpecialFile(ops, p, 'fifo', 0o640, undefined)).toThrow(expect.objectContaining({ code: 'EEXIST' }));
  });

  itWhen(can)('makes a FIFO relative to a directory fd', () => {
    const dfd = openSync(dir, 'r');
    try {
      expect(makeSpecialFile(ops, `fifo-at-${policy}`, 'fifo', 0o600, undefined, undefined, dfd)).toBe(true);
    } finally {
      closeSync(dfd);
    }
    expect(lstatSync(join(dir, `fifo-at-${policy}`)).isFIFO()).toBe(true);
    expect(AT_FDCWD).toBe(-100);
  });

  itWhen(can && isRoot)('as root: a character device with /dev/null\'s numbers, and a block device', () => {
    const devNull = lstatSync('/dev/null', { bigint: true });
    expect(deviceNumbers(devNull.rdev)).toEqual({ major: 1, minor: 3 });
    const p = join(dir, `null-${policy}`);
    expect(makeSpecialFile(ops, p, 'chardev', 0o666, devNull.rdev.toString())).toBe(true);
    const st = lstatSync(p, { bigint: true });
    expect(st.isCharacterDevice()).toBe(true);
    expect(st.rdev).toBe(devNull.rdev);
    // A minor above 255, stored in the high bits of Linux's encoding (the kernel takes 12-bit
    // majors and 20-bit minors): major 259, minor 0x12345.
    const big = (0x12300n << 12n) | (0x103n << 8n) | 0x45n;
    expect(deviceNumbers(big)).toEqual({ major: 259, minor: 0x12345 });
    const b = join(dir, `blk-${policy}`);
    expect(makeSpecialFile(ops, b, 'blockdev', 0o600, big)).toBe(true);
    const bst = lstatSync(b, { bigint: true });
    expect(bst.isBlockDevice()).toBe(true);
    expect(bst.rdev).toBe(big);
  });

  itWhen(can && !isRoot)('not root: a device node fails with EPERM', () => {
    expect(() => makeSpecialFile(ops, join(dir, `null-${policy}`), 'chardev', 0o666, '259')).toThrow(expect.objectContaining({ code: 'EPERM' }));
  });

  itWhen(!can)('fallback: makes nothing and warns once per run', () => {
    const warnings: string[] = [];
    const notices = new NotKeptNotices((m) => warnings.push(m));
    expect(makeSpecialFile(ops, join(dir, 'f1'), 'fifo', 0o644, undefined, notices)).toBe(false);
    expect(makeSpecialFile(ops, join(dir, 'f2'), 'chardev', 0o644, '259', notices)).toBe(false);
    expect(warnings).toEqual([`FIFOs and device nodes are not restored: node:fs has no mknod (first: ${join(dir, 'f1')})`]);
    expect(() => lstatSync(join(dir, 'f1'))).toThrow();
  });
});
