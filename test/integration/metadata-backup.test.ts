// What a backup keeps of each entry besides its content (issue 12 point 9, backup side), through
// the real CLI on real files, with the libc calls (ENGINE_POSIX=auto) and without (off):
// - extended attributes and POSIX ACLs (access and default) of a file, a folder, a symlink, a
//   FIFO and (as root) a character device land in the tree, and raise a version 3 repository to 4 first; without the libc calls
//   the run says once that they are not kept, and exits 0;
// - an unchanged file still gets its current attributes;
// - `--with-atime` stores atimes (as they were before the backup read the entry), and only then;
// - a 3 GiB sparse file with four 1 MiB islands is read without its holes (holeBytesSkipped) and
//   restores identical.
// The tree is read through the library (ls prints no xattrs). The attributes are set here with the
// libc calls of native-bindings/posix (no setfattr/setfacl needed); the ACL values are built in the
// kernel's xattr format, as src/fs/xattrs.test.ts does.
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keysOf } from '../../src/repository/storage.js';
import { itWhen } from '../support/it-when.js';
import { loadPrimitives } from '../../native-bindings/index.js';
import { AT_FDCWD, loadPosix } from '../../native-bindings/posix/index.js';
import { LocalBackend } from '../../src/backend/local/local-backend.js';
import { seal } from '../../src/crypto/envelope.js';
import { encodeConfig } from '../../src/format/config.js';
import type { BlobId } from '../../src/format/ids.js';
import type { TreeNode, Xattr } from '../../src/format/tree.js';
import { capturePathXattrs } from '../../src/fs/xattrs.js';
import type { BlobIndex } from '../../src/repository/blob-index.js';
import { Repository } from '../../src/repository/repository.js';
import { treeEntries } from '../../src/repository/tree-stream.js';
import { currentNative, runEngine, TEST_PASSWORD } from '../support/cli.js';
import { ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER, ACL_USER, ACL_USER_OBJ, aclXattr, sameContent, UNDEFINED_ID } from '../support/metadata.js';

const native = currentNative();
const { ops } = await loadPosix('auto');
/** Setting attributes needs the libc calls in this process, whatever the policy under test. */
const canSet = ops.caps.xattrs;
const isRoot = process.getuid?.() === 0;

// user::rw-, user:4242:r--, group::r--, mask::r--, other::---
const ACCESS_ACL = aclXattr([
  [ACL_USER_OBJ, 6, UNDEFINED_ID],
  [ACL_USER, 4, 4242],
  [ACL_GROUP_OBJ, 4, UNDEFINED_ID],
  [ACL_MASK, 4, UNDEFINED_ID],
  [ACL_OTHER, 0, UNDEFINED_ID],
]);
// user::rwx, user:4242:r-x, group::r-x, mask::r-x, other::r-x
const DEFAULT_ACL = aclXattr([
  [ACL_USER_OBJ, 7, UNDEFINED_ID],
  [ACL_USER, 5, 4242],
  [ACL_GROUP_OBJ, 5, UNDEFINED_ID],
  [ACL_MASK, 5, UNDEFINED_ID],
  [ACL_OTHER, 5, UNDEFINED_ID],
]);

const x = (name: string, value: Buffer | string): Xattr => ({ name, value: Buffer.from(value).toString('base64') });
const set = (path: string, name: string, value: Buffer | string): void => ops.lsetxattr(path, Buffer.from(name), Buffer.from(value));

async function openRepo(path: string): Promise<Repository> {
  const { primitives } = await loadPrimitives(native === 'off' ? 'fallback' : 'auto');
  return Repository.open(new LocalBackend(path), primitives, new TextEncoder().encode(TEST_PASSWORD));
}

/**
 * Every node of a snapshot, read through the library: those below `work` by their path from it
 * (`src/d/f`), the folders on the way to it (the snapshot holds each path under its absolute path)
 * by their absolute path (`/tmp`).
 */
async function snapshotNodes(repoPath: string, snapshotId: string, work: string): Promise<Map<string, TreeNode>> {
  const repo = await openRepo(repoPath);
  const index = await repo.loadIndex();
  const { snapshot } = await repo.resolveSnapshot(snapshotId);
  const out = new Map<string, TreeNode>();
  const walk = async (treeId: BlobId, prefix: string, idx: BlobIndex): Promise<void> => {
    for await (const n of treeEntries(repo, idx, treeId)) {
      const p = `${prefix}/${n.name}`;
      out.set(p.startsWith(`${work}/`) ? p.slice(work.length + 1) : p, n);
      if (n.type === 'dir' && n.subtree) await walk(n.subtree, p, idx);
    }
  };
  await walk(snapshot.tree, '', index);
  return out;
}


/** A sparse file of `size` bytes with 1 MiB of random data at each of `islands` (offsets). */
async function sparseFile(path: string, size: number, islands: number[]): Promise<void> {
  await writeFile(path, '');
  const fd = openSync(path, 'r+');
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

const warnings = (stderr: string, pattern: RegExp): string[] => stderr.split('\n').filter((l) => pattern.test(l));

describe.each(['auto', 'off'] as const)(`metadata kept by backup (ENGINE_POSIX=%s, ENGINE_NATIVE=${native})`, (policy) => {
  const env = { ENGINE_POSIX: policy };
  const kept = policy === 'auto' && canSet;
  let work: string;
  let src: string;
  let repo: string;
  let first: Map<string, TreeNode>;
  let firstBackup: Awaited<ReturnType<typeof runEngine>>;
  /** The --with-atime snapshot, and the atime it stored for atime/read-me. */
  let atimeSnapshot: string | undefined;
  let atimeWant: string | undefined;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), `engine-metadata-${policy}-`));
    src = join(work, 'src');
    repo = join(work, 'repo');
    await mkdir(src);
    await writeFile(join(src, 'f'), 'a file with attributes\n');
    await mkdir(join(src, 'd'));
    await writeFile(join(src, 'd', 'inner'), 'inside\n');
    await mkdir(join(src, 'dd'));
    await symlink('f', join(src, 'l'));
    await writeFile(join(src, 'plain'), 'no attributes\n');
    if (canSet) {
      set(join(src, 'f'), 'user.alpha', Buffer.from([0, 255, 0]));
      set(join(src, 'f'), 'user.zeta', 'last');
      set(join(src, 'f'), 'system.posix_acl_access', ACCESS_ACL);
      set(join(src, 'd'), 'user.folder', 'a folder');
      set(join(src, 'd'), 'system.posix_acl_access', DEFAULT_ACL);
      set(join(src, 'dd'), 'system.posix_acl_default', DEFAULT_ACL);
      ops.mknodat(AT_FDCWD, join(src, 'fifo'), 0o010644, 0n);
      if (isRoot) {
        // Linux allows user.* on files and folders only: a symlink and a FIFO get trusted.* (root).
        set(join(src, 'l'), 'trusted.link', 'on the link itself');
        set(join(src, 'fifo'), 'trusted.fifo', 'on the fifo');
        // A character device (1, 3: /dev/null's numbers), which only root can make.
        ops.mknodat(AT_FDCWD, join(src, 'null'), 0o020600, 259n);
        set(join(src, 'null'), 'trusted.dev', 'on the device');
      }
    }
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
    // What an engine of format version 3 wrote: the first attribute stored must raise it.
    const lib = await openRepo(repo);
    await new LocalBackend(repo).save('config', seal(lib.p, keysOf(lib), encodeConfig({ ...lib.config, version: 3 }), { suite: lib.suite, zstdLevel: null }));
    firstBackup = await runEngine(['backup', '--repo', repo, '--json', src], { native, env });
    expect(firstBackup.code, firstBackup.stderr).toBe(0);
    first = await snapshotNodes(repo, String(firstBackup.json?.snapshot_id), work);
  });

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  itWhen(kept)('stores xattrs and access and default ACLs of a file, a folder, a symlink and a FIFO, and raises a version 3 repository to 4', async () => {
    expect(firstBackup.stderr).not.toMatch(/not kept|warning/);
    expect(first.get('src/f')?.xattrs).toEqual(expect.arrayContaining([x('system.posix_acl_access', ACCESS_ACL), x('user.alpha', Buffer.from([0, 255, 0])), x('user.zeta', 'last')]));
    // Sorted by name bytes, as the format wants.
    const names = first.get('src/f')!.xattrs!.map((a) => a.name);
    expect(names).toEqual([...names].sort());
    expect(first.get('src/d')?.xattrs).toEqual(expect.arrayContaining([x('system.posix_acl_access', DEFAULT_ACL), x('user.folder', 'a folder')]));
    expect(first.get('src/dd')?.xattrs).toEqual(expect.arrayContaining([x('system.posix_acl_default', DEFAULT_ACL)]));
    expect(first.get('src/fifo')?.type).toBe('fifo');
    if (isRoot) {
      expect(first.get('src/l')?.xattrs).toEqual(expect.arrayContaining([x('trusted.link', 'on the link itself')]));
      expect(first.get('src/fifo')?.xattrs).toEqual(expect.arrayContaining([x('trusted.fifo', 'on the fifo')]));
      expect(first.get('src/null')?.type).toBe('chardev');
      expect(first.get('src/null')?.xattrs).toEqual(expect.arrayContaining([x('trusted.dev', 'on the device')]));
    }
    // The symlink's own attributes, never its target's.
    expect(first.get('src/l')?.xattrs?.some((a) => a.name.startsWith('user.'))).not.toBe(true);
    expect(first.get('src/plain')?.xattrs?.some((a) => a.name.startsWith('user.') || a.name.startsWith('system.'))).not.toBe(true);
    expect((await openRepo(repo)).config.version).toBe(4);
  });

  itWhen(kept)('restore puts back every attribute and ACL stored (round trip)', async () => {
    const target = join(work, 'restored-attrs');
    const restore = await runEngine(['restore', String(firstBackup.json?.snapshot_id), '--repo', repo, '--target', target], { native, env });
    expect(restore.code, restore.stderr).toBe(0);
    for (const rel of ['src/f', 'src/d', 'src/dd', 'src/l', ...(isRoot ? ['src/fifo', 'src/null'] : [])]) {
      const got = capturePathXattrs(ops, join(target, work, rel));
      expect(got.failures, rel).toEqual([]);
      expect(got.xattrs, rel).toEqual(first.get(rel)?.xattrs);
    }
    await rm(target, { recursive: true, force: true });
  });

  itWhen(policy === 'off')('without the libc calls: says once that attributes are not kept, stores none, exit 0, and the repository keeps its version', async () => {
    expect(warnings(firstBackup.stderr, /not kept/)).toHaveLength(1);
    expect(warnings(firstBackup.stderr, /extended attributes and POSIX ACLs are not kept/)).toHaveLength(1);
    for (const n of first.values()) expect(n.xattrs).toBeUndefined();
    expect((await openRepo(repo)).config.version).toBe(3);
  });

  itWhen(kept)('a file whose content is taken from the parent still gets its current attributes', async () => {
    // Changing an xattr changes ctime, not mtime: the file is read again, and whatever the
    // content's source, its attributes are the current ones.
    set(join(src, 'f'), 'user.zeta', 'changed');
    set(join(src, 'plain'), 'user.new', 'added later');
    const second = await runEngine(['backup', '--repo', repo, '--json', src], { native, env });
    expect(second.code, second.stderr).toBe(0);
    const nodes = await snapshotNodes(repo, String(second.json?.snapshot_id), work);
    expect(nodes.get('src/f')?.xattrs).toEqual(expect.arrayContaining([x('user.zeta', 'changed')]));
    expect(nodes.get('src/plain')?.xattrs).toEqual(expect.arrayContaining([x('user.new', 'added later')]));
    expect(nodes.get('src/d/inner')?.content).toEqual(first.get('src/d/inner')?.content);
  });

  itWhen(kept)('an attribute that cannot be read is a warning naming the entry and the attribute (exit 3); the entry is stored', async () => {
    const dir = join(work, 'unreadable');
    await mkdir(dir);
    await writeFile(join(dir, 'bad'), 'its attributes cannot be read\n');
    await writeFile(join(dir, 'good'), 'its can\n');
    set(join(dir, 'bad'), 'user.secret', 'x');
    set(join(dir, 'good'), 'user.fine', 'y');
    // Test hook: every lgetxattr of an entry named "bad" fails with EIO.
    const backup = await runEngine(['backup', '--repo', repo, '--json', dir], { native, env: { ...env, ENGINE_TEST_HOOKS: 'xattr-fail=bad' } });
    expect(backup.code, backup.stderr).toBe(3);
    const lines = warnings(backup.stderr, /user\.secret/);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(join(dir, 'bad'));
    expect(lines[0]).toContain('EIO');
    expect(backup.json?.entries_xattrs_not_read).toBe(1);
    const nodes = await snapshotNodes(repo, String(backup.json?.snapshot_id), work);
    expect(nodes.get('unreadable/bad')?.content).toHaveLength(1);
    expect(nodes.get('unreadable/bad')?.xattrs?.some((a) => a.name === 'user.secret')).not.toBe(true);
    expect(nodes.get('unreadable/good')?.xattrs).toEqual(expect.arrayContaining([x('user.fine', 'y')]));
  });

  it('--with-atime stores each entry atime as it was before the backup read it; without it, none', async () => {
    const atimeDir = join(work, 'atime');
    await mkdir(atimeDir);
    await writeFile(join(atimeDir, 'read-me'), 'reading this changes its atime\n');
    // An atime before the mtime: relatime updates it on the backup's read.
    await utimes(join(atimeDir, 'read-me'), 1_600_000_000.5, 1_700_000_000);
    const want = (await lstat(join(atimeDir, 'read-me'), { bigint: true })).atimeNs.toString();
    const withFlag = await runEngine(['backup', '--repo', repo, '--json', '--with-atime', atimeDir], { native, env });
    expect(withFlag.code, withFlag.stderr).toBe(0);
    const nodes = await snapshotNodes(repo, String(withFlag.json?.snapshot_id), work);
    expect(nodes.get('atime/read-me')?.atimeNs).toBe(want);
    atimeSnapshot = String(withFlag.json?.snapshot_id);
    atimeWant = want;
    expect(nodes.get('atime')?.atimeNs).toMatch(/^\d+$/);
    await utimes(join(atimeDir, 'read-me'), 1_600_000_000.5, 1_700_000_000);
    const without = await runEngine(['backup', '--repo', repo, '--json', atimeDir], { native, env });
    expect(without.code, without.stderr).toBe(0);
    for (const n of (await snapshotNodes(repo, String(without.json?.snapshot_id), work)).values()) expect(n.atimeNs).toBeUndefined();
    // An atime is a field an older engine would drop: it too raises the repository to 4.
    expect((await openRepo(repo)).config.version).toBe(4);
  });

  it('restore puts back the stored atime (round trip)', async () => {
    expect(atimeSnapshot).toBeDefined();
    const target = join(work, 'restored-atime');
    const restore = await runEngine(['restore', atimeSnapshot!, '--repo', repo, '--target', target], { native, env });
    expect(restore.code, restore.stderr).toBe(0);
    // 1_600_000_000.5 s: exact to the microsecond, so the fallback's utimes keeps it too (libuv
    // 1.52 and later, Node 24 on, keep nanoseconds from a double: within a microsecond there).
    const got = (await lstat(join(target, work, 'atime', 'read-me'), { bigint: true })).atimeNs;
    const [uvMajor = 0, uvMinor = 0] = process.versions.uv.split('.').map(Number);
    if ((policy === 'auto' && ops.caps.nsTimes) || !(uvMajor > 1 || (uvMajor === 1 && uvMinor >= 52))) expect(got.toString()).toBe(atimeWant);
    else expect(got > BigInt(atimeWant!) ? got - BigInt(atimeWant!) : BigInt(atimeWant!) - got, `${got} vs ${atimeWant}`).toBeLessThan(1000n);
    await rm(target, { recursive: true, force: true });
  });

  it(
    policy === 'auto' ? 'a 3 GiB sparse file with four 1 MiB islands: its holes are not read, and it restores identical' : 'a sparse file without SEEK_DATA: read whole (said once), restores identical',
    async () => {
      const dir = join(work, 'sparse');
      await mkdir(dir);
      // Without the libc calls every byte is read: a smaller file tells as much.
      const size = policy === 'auto' ? 3 * 2 ** 30 : 64 * 2 ** 20;
      const islands = policy === 'auto' ? [0, 2 ** 30, 2 * 2 ** 30 + 12345, size - (1 << 20)] : [0, 32 * 2 ** 20 + 12345, size - (1 << 20)];
      await sparseFile(join(dir, 'holes'), size, islands);
      expect((await lstat(join(dir, 'holes'))).blocks * 512).toBeLessThan(size / 4);
      const backup = await runEngine(['backup', '--repo', repo, '--json', dir], { native, env });
      expect(backup.code, backup.stderr).toBe(0);
      expect(backup.json?.bytes_read).toBe(size);
      if (policy === 'auto' && ops.caps.seekData) {
        // At most the islands (rounded out to blocks) were read; everything else came as zeros.
        expect(Number(backup.json?.hole_bytes_skipped)).toBeGreaterThanOrEqual(size - islands.length * ((1 << 20) + 8192));
        expect(warnings(backup.stderr, /not kept|warning/)).toEqual([]);
      } else {
        expect(backup.json?.hole_bytes_skipped).toBe(0);
        expect(warnings(backup.stderr, /holes in sparse files are found by their zeros/)).toHaveLength(1);
      }
      const target = join(work, 'restored-sparse');
      const restore = await runEngine(['restore', String(backup.json?.snapshot_id), '--repo', repo, '--target', target], { native });
      expect(restore.code, restore.stderr).toBe(0);
      expect(await sameContent(ops, join(dir, 'holes'), join(target, dir, 'holes'))).toBe(true);
      await rm(target, { recursive: true, force: true });
      await rm(dir, { recursive: true, force: true });
    },
    600_000,
  );
});
