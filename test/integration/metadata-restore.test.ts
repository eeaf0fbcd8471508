// What a restore puts back of each entry besides its content (issue 12 point 9, restore side),
// through the real CLI on real files, as root where the kernel wants it:
// - extended attributes and POSIX access ACLs of a file, a folder and a symlink (trusted.* there:
//   Linux allows user.* on files and folders only), a folder's default ACL: identical after a
//   restore, and no ACL inherited from a target folder's default ACL where the snapshot has none;
// - mtimes to the nanosecond (files, folders, symlinks, FIFOs, devices), atimes from --with-atime;
// - a FIFO and a character device (1,3 as /dev/null) restored with their type, rdev and mode;
// - a 3 GiB sparse file with three 1 MiB islands restores with about its data allocated;
// - ENGINE_POSIX=off: times to the microsecond, each missing feature said once ("not kept"),
//   FIFOs and devices not created, so exit 3 (documented in src/cli/commands/restore.ts).
// Attributes are set and read back with the libc calls of native-bindings/posix; the ACL values
// are built in the kernel's xattr format, as src/fs/xattrs.test.ts does.
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { chmod, chown, cp, lstat, mkdir, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { workdirPerFile } from '../support/workdir.js';
import { AT_FDCWD, loadPosix } from '../../native-bindings/posix/index.js';
import { makeSpecialFile } from '../../src/fs/special-files.js';
import { capturePathXattrs } from '../../src/fs/xattrs.js';
import type { Xattr } from '../../src/format/tree.js';
import { ENGINE_BIN, TEST_PASSWORD, currentNative, runEngine } from '../support/cli.js';
import { ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER, ACL_USER, ACL_USER_OBJ, aclXattr, sameContent, UNDEFINED_ID } from '../support/metadata.js';

const native = currentNative();
const { ops } = await loadPosix('auto');
/** Setting attributes, ns times and device nodes needs the libc calls in this process, whatever the policy under test. */
const canSet = ops.caps.xattrs && ops.caps.nsTimes && ops.caps.mknod;
const isRoot = process.getuid?.() === 0;

// user::rw-, user:4242:r--, group::r--, mask::r--, other::---  (mode 0640)
const ACCESS_ACL = aclXattr([
  [ACL_USER_OBJ, 6, UNDEFINED_ID],
  [ACL_USER, 4, 4242],
  [ACL_GROUP_OBJ, 4, UNDEFINED_ID],
  [ACL_MASK, 4, UNDEFINED_ID],
  [ACL_OTHER, 0, UNDEFINED_ID],
]);
// user::rwx, user:4242:r-x, group::r-x, mask::r-x, other::r-x  (mode 0755)
const DIR_ACL = aclXattr([
  [ACL_USER_OBJ, 7, UNDEFINED_ID],
  [ACL_USER, 5, 4242],
  [ACL_GROUP_OBJ, 5, UNDEFINED_ID],
  [ACL_MASK, 5, UNDEFINED_ID],
  [ACL_OTHER, 5, UNDEFINED_ID],
]);
// user::rwx, user:777:rwx, group::rwx, mask::rwx, other::rwx: what a target folder's default ACL
// would give every entry created in it.
const INHERITED_ACL = aclXattr([
  [ACL_USER_OBJ, 7, UNDEFINED_ID],
  [ACL_USER, 7, 777],
  [ACL_GROUP_OBJ, 7, UNDEFINED_ID],
  [ACL_MASK, 7, UNDEFINED_ID],
  [ACL_OTHER, 7, UNDEFINED_ID],
]);

const set = (path: string, name: string, value: Buffer | string): void => ops.lsetxattr(path, Buffer.from(name), Buffer.from(value));
/** An entry's attributes as the backup would store them (never following a symlink). */
const attrsOf = (path: string): Xattr[] => capturePathXattrs(ops, path).xattrs ?? [];
const has = (path: string, name: string): boolean => attrsOf(path).some((a) => a.name === name);

/** Nanosecond times that no microsecond clock gives: the restore must keep the last three digits. */
const MTIME = 1_700_000_000_123_456_789n;
const ATIME = 1_600_000_000_987_654_321n;
const timesOf = async (path: string): Promise<{ mtimeNs: bigint; atimeNs: bigint }> => {
  const st = await lstat(path, { bigint: true });
  return { mtimeNs: st.mtimeNs, atimeNs: st.atimeNs };
};

/** A sparse file of `size` bytes with 1 MiB of random data at each of `islands` (offsets). */
function sparseFile(path: string, size: number, islands: number[]): void {
  const fd = openSync(path, 'w');
  try {
    for (const off of islands) {
      const data = Buffer.alloc(1 << 20);
      for (let i = 0; i < data.length; i += 4) data.writeUInt32LE((Math.random() * 2 ** 32) >>> 0, i);
      writeSync(fd, data, 0, data.length, off);
    }
    ftruncateSync(fd, size);
  } finally {
    closeSync(fd);
  }
}

/** Gives `path` and everything under it to `uid` (never following a symlink). */
async function chownTree(path: string, uid: number): Promise<void> {
  await chown(path, uid, uid);
  for (const e of await readdir(path, { withFileTypes: true })) {
    if (e.isDirectory()) await chownTree(join(path, e.name), uid);
    else if (!e.isSymbolicLink()) await chown(join(path, e.name), uid, uid);
  }
}

/** Runs the CLI as another user (setpriv), as runEngine does otherwise. */
function runAs(uid: number, args: string[], env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--', ENGINE_BIN, ...args], {
      env: { ...process.env, ENGINE_PASSWORD: TEST_PASSWORD, ENGINE_NATIVE: native, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stderr }));
  });
}

const warnings = (stderr: string, pattern: RegExp): string[] => stderr.split('\n').filter((l) => pattern.test(l));

/** Entries whose attributes, mode and times the tests compare (paths under src/). */
const ENTRIES = ['f', 'plain', 'd', 'd/inner', 'dd', 'dd/child', 'l', 'fifo', 'null'];

describe.runIf(canSet && isRoot)(`metadata kept by restore (ENGINE_NATIVE=${native}, root)`, () => {
  const work = workdirPerFile('engine-metadata-restore-');
  let src: string;
  let repo: string;
  let snapshot: string;

  beforeAll(async () => {
    src = join(work, 'src');
    repo = join(work, 'repo');
    await mkdir(src);
    await writeFile(join(src, 'f'), 'a file with attributes\n');
    await writeFile(join(src, 'plain'), 'no attributes\n');
    await mkdir(join(src, 'd'));
    await writeFile(join(src, 'd', 'inner'), 'inside\n');
    await mkdir(join(src, 'dd'));
    await writeFile(join(src, 'dd', 'child'), 'created before its folder had a default ACL\n');
    await symlink('f', join(src, 'l'));
    ops.mknodat(AT_FDCWD, join(src, 'fifo'), 0o010640, 0n);
    // 1,3 as /dev/null: glibc's makedev gives (1 << 8) | 3.
    expect(makeSpecialFile(ops, join(src, 'null'), 'chardev', 0o620, 259n)).toBe(true);
    set(join(src, 'f'), 'user.alpha', Buffer.from([0, 255, 0]));
    set(join(src, 'f'), 'user.zeta', 'last');
    set(join(src, 'f'), 'system.posix_acl_access', ACCESS_ACL);
    set(join(src, 'd'), 'user.folder', 'a folder');
    set(join(src, 'd'), 'system.posix_acl_access', DIR_ACL);
    set(join(src, 'dd'), 'system.posix_acl_default', DIR_ACL);
    set(join(src, 'l'), 'trusted.link', 'on the link itself');
    set(join(src, 'fifo'), 'trusted.fifo', 'on the fifo');
    // Times last, deepest first: anything done to an entry afterwards changes them.
    for (const p of [...ENTRIES].reverse()) ops.lutimensat(AT_FDCWD, join(src, p), ATIME, MTIME + BigInt(p.length));
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
    const backup = await runEngine(['backup', '--repo', repo, '--json', '--with-atime', src], { native });
    expect(backup.code, backup.stderr).toBe(0);
    snapshot = String(backup.json?.snapshot_id);
    expect(attrsOf(join(src, 'f')).length).toBe(3);
  });

  it('xattrs and access and default ACLs of a file, a folder and a symlink, mode and nanosecond times identical; a FIFO and a device with their type and rdev; nothing inherited from the target', async () => {
    const target = join(work, 'restored');
    await mkdir(target);
    // Every entry created under this folder would get INHERITED_ACL (and folders it as default too).
    set(target, 'system.posix_acl_default', INHERITED_ACL);
    const r = await runEngine(['restore', snapshot, '--repo', repo, '--target', target], { native });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/not kept|warning|not restored/);
    for (const p of ENTRIES) {
      const a = join(src, p);
      const b = join(target, src, p);
      expect(attrsOf(b), p).toEqual(attrsOf(a));
      const [sa, sb] = [await lstat(a, { bigint: true }), await lstat(b, { bigint: true })];
      expect(sb.mode, p).toBe(sa.mode);
      expect(sb.rdev, p).toBe(sa.rdev);
      expect(sb.mtimeNs, p).toBe(MTIME + BigInt(p.length));
      expect(sb.atimeNs, p).toBe(ATIME);
    }
    expect((await lstat(join(target, src, 'fifo'))).isFIFO()).toBe(true);
    expect((await lstat(join(target, src, 'null'))).isCharacterDevice()).toBe(true);
    expect((await lstat(join(target, src, 'null'))).rdev).toBe(259);
    expect(has(join(target, src, 'plain'), 'system.posix_acl_access')).toBe(false);
    expect(has(join(target, src, 'dd'), 'system.posix_acl_access')).toBe(false);
    expect(has(join(target, src, 'd'), 'system.posix_acl_default')).toBe(false);
    await rm(target, { recursive: true, force: true });
  });

  it('ENGINE_POSIX=off: times to the microsecond, each feature not kept said once, no FIFO or device, exit 3', async () => {
    const target = join(work, 'restored-off');
    const r = await runEngine(['restore', snapshot, '--repo', repo, '--target', target], { native, env: { ENGINE_POSIX: 'off' } });
    expect(r.code, r.stderr).toBe(3);
    expect(warnings(r.stderr, /times are kept to the microsecond, not the nanosecond/)).toHaveLength(1);
    expect(warnings(r.stderr, /extended attributes and POSIX ACLs are not kept/)).toHaveLength(1);
    expect(warnings(r.stderr, /FIFOs and device nodes are not restored/)).toHaveLength(1);
    // Nothing else: no line per entry.
    expect(r.stderr.split('\n').filter((l) => l.trim() !== '')).toHaveLength(3);
    for (const p of ['f', 'plain', 'd', 'd/inner', 'dd', 'l']) {
      const t = await timesOf(join(target, src, p));
      expect(t.mtimeNs / 1000n, p).toBe((MTIME + BigInt(p.length)) / 1000n);
      expect(t.atimeNs / 1000n, p).toBe(ATIME / 1000n);
      expect(attrsOf(join(target, src, p)).filter((a) => !a.name.startsWith('security.')), p).toEqual([]);
    }
    await expect(lstat(join(target, src, 'fifo'))).rejects.toThrow(/ENOENT/);
    await expect(lstat(join(target, src, 'null'))).rejects.toThrow(/ENOENT/);
    await rm(target, { recursive: true, force: true });
  });

  it('a restore as another user than root creates the FIFO and names the device node as not restored (exit 3), as restic reports it', async () => {
    // A copy of the repository, a cache and a target that user 65534 owns; setpriv drops to it.
    const mine = join(work, 'as-nobody');
    await mkdir(mine);
    await cp(repo, join(mine, 'repo'), { recursive: true });
    await mkdir(join(mine, 'cache'));
    await mkdir(join(mine, 'target'));
    await chmod(work, 0o755);
    await chownTree(mine, 65534);
    const r = await runAs(65534, ['restore', snapshot, '--repo', join(mine, 'repo'), '--target', join(mine, 'target')], { XDG_CACHE_HOME: join(mine, 'cache'), HOME: mine });
    expect(r.code, r.stderr).toBe(3);
    const restored = join(mine, 'target', src);
    expect(warnings(r.stderr, /null: device node not restored: permission denied/)).toHaveLength(1);
    await expect(lstat(join(restored, 'null'))).rejects.toThrow(/ENOENT/);
    const fifo = await lstat(join(restored, 'fifo'), { bigint: true });
    expect(fifo.isFIFO()).toBe(true);
    expect(fifo.mode).toBe((await lstat(join(src, 'fifo'), { bigint: true })).mode);
    expect(fifo.mtimeNs).toBe(MTIME + 4n);
    // user.* and ACLs of an entry one owns are set; trusted.* needs root and is named.
    expect(attrsOf(join(restored, 'f'))).toEqual(attrsOf(join(src, 'f')));
    expect(warnings(r.stderr, /fifo: restored without extended attribute "trusted.fifo" \(EPERM\)/)).toHaveLength(1);
  });
});

describe.each(['auto', 'off'] as const)(`sparse files restored as holes (ENGINE_POSIX=%s, ENGINE_NATIVE=${native})`, (policy) => {
  const work = workdirPerFile(`engine-sparse-restore-${policy}-`);

  it(
    'a 3 GiB file with three 1 MiB islands restores identical with about its data allocated',
    async () => {
      const src = join(work, 'sparse');
      const repo = join(work, 'repo');
      await mkdir(src);
      const size = 3 * 2 ** 30;
      // Islands not aligned on blobs nor blocks: holes smaller than a blob on both sides of each.
      const islands = [12345, 2 ** 30 + 4096 * 7 + 1, size - (1 << 20) - 333];
      sparseFile(join(src, 'holes'), size, islands);
      expect((await lstat(join(src, 'holes'))).blocks * 512).toBeLessThan(16 << 20);
      expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
      // The backup with the libc calls: it skips the holes (backup's own policy is tested in metadata-backup).
      const backup = await runEngine(['backup', '--repo', repo, '--json', src], { native });
      expect(backup.code, backup.stderr).toBe(0);
      const target = join(work, 'restored');
      const r = await runEngine(['restore', String(backup.json?.snapshot_id), '--repo', repo, '--target', target], { native, env: { ENGINE_POSIX: policy } });
      // Holes do not need the libc calls (zero blocks are found in memory). Under off, times to
      // the microsecond are said once, and nothing else; with them, nothing at all.
      expect(r.code, r.stderr).toBe(0);
      const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
      expect(lines).toEqual(policy === 'off' ? [expect.stringMatching(/times are kept to the microsecond, not the nanosecond/)] : []);
      const restored = join(target, src, 'holes');
      const st = await lstat(restored);
      expect(st.size).toBe(size);
      // Three islands of 1 MiB each straddle a block or two: well under 16 MiB (24 MiB before: whole 8 MiB blobs).
      expect(st.blocks * 512).toBeLessThan(16 << 20);
      expect(await sameContent(ops, join(src, 'holes'), restored)).toBe(true);
    },
    600_000,
  );
});
