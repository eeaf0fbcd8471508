// Extended attributes and POSIX ACLs captured from real files and applied to others, through the
// libc calls; the fallback keeps none and says so once. No getfattr/setfacl needed: the ACL value
// is built here in the kernel's xattr format (linux/posix_acl_xattr.h).
import { closeSync, lstatSync, mkdirSync, openSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect } from 'vitest';
import { workdirPerFile } from '../../test/support/workdir.js';
import { itWhen } from '../../test/support/it-when.js';
import { loadPosix, NotKeptNotices } from '../../native-bindings/posix/index.js';
import { decodeTree, encodeTree, type TreeNode } from '../format/tree.js';
import { applyPathXattrs, applyXattrs, capturePathXattrs, captureXattrs, POSIX_ACL_ACCESS, POSIX_ACL_DEFAULT } from './xattrs.js';
import { ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER, ACL_USER, ACL_USER_OBJ, aclXattr, UNDEFINED_ID } from '../../test/support/metadata.js';

const dir = workdirPerFile('engine-xattrs-');

// user::rw-, user:4242:r--, group::r--, mask::r-x, other::---
const ACL = aclXattr([
  [ACL_USER_OBJ, 6, UNDEFINED_ID],
  [ACL_USER, 4, 4242],
  [ACL_GROUP_OBJ, 4, UNDEFINED_ID],
  [ACL_MASK, 5, UNDEFINED_ID],
  [ACL_OTHER, 0, UNDEFINED_ID],
]);

function withFd<T>(path: string, fn: (fd: number) => T): T {
  const fd = openSync(path, 'r');
  try {
    return fn(fd);
  } finally {
    closeSync(fd);
  }
}

describe.each(['auto', 'off'] as const)('xattrs (ENGINE_POSIX=%s)', async (policy) => {
  const { ops } = await loadPosix(policy);
  const kept = ops.caps.xattrs;
  const file = (name: string): string => {
    const p = join(dir, `${policy}-${name}`);
    writeFileSync(p, 'content', { mode: 0o640 });
    return p;
  };

  itWhen(kept)('captures user.* xattrs sorted by name bytes, values in base64, and applies them to another file', () => {
    const a = file('a');
    withFd(a, (fd) => {
      ops.fsetxattr(fd, Buffer.from('user.zeta'), Buffer.from('last'));
      ops.fsetxattr(fd, Buffer.from('user.alpha'), Buffer.from([0, 255, 0]));
      ops.fsetxattr(fd, Buffer.from([0x75, 0x73, 0x65, 0x72, 0x2e, 0xff]), Buffer.from('not utf-8 name'));
    });
    const got = withFd(a, (fd) => captureXattrs(ops, fd));
    expect(got.failures).toEqual([]);
    expect(got.xattrs).toEqual([
      { name: 'user.alpha', value: 'AP8A' },
      { name: 'user.zeta', value: Buffer.from('last').toString('base64') },
      { name: 'user.\udcff', value: Buffer.from('not utf-8 name').toString('base64') },
    ]);
    const b = file('b');
    expect(withFd(b, (fd) => applyXattrs(ops, fd, got.xattrs))).toEqual([]);
    expect(withFd(b, (fd) => captureXattrs(ops, fd)).xattrs).toEqual(got.xattrs);
    // and through a tree blob, byte for byte
    const node: TreeNode = { name: 'a', type: 'file', mode: 0o640, mtimeNs: '0', ctimeNs: '0', uid: 0, gid: 0, deviceId: '1', inode: '1', links: 1, size: 7, content: [], xattrs: got.xattrs! };
    expect(decodeTree(encodeTree({ nodes: [node] }), 'test').nodes[0]!.xattrs).toEqual(got.xattrs);
  });

  itWhen(kept)('a file without xattrs captures as undefined (the tree omits the field)', () => {
    expect(withFd(file('plain'), (fd) => captureXattrs(ops, fd))).toEqual({ xattrs: undefined, failures: [] });
  });

  itWhen(kept)('copies a POSIX access ACL from one file to another, mode group bits following the mask', () => {
    const a = file('acl-a');
    withFd(a, (fd) => ops.fsetxattr(fd, Buffer.from(POSIX_ACL_ACCESS), ACL));
    const read = withFd(a, (fd) => ops.fgetxattr(fd, Buffer.from(POSIX_ACL_ACCESS)));
    expect(read).toEqual(ACL);
    expect(lstatSync(a).mode & 0o777).toBe(0o650); // group bits show the mask r-x
    const got = withFd(a, (fd) => captureXattrs(ops, fd));
    expect(got.xattrs).toEqual([{ name: POSIX_ACL_ACCESS, value: ACL.toString('base64') }]);
    const b = file('acl-b');
    expect(withFd(b, (fd) => applyXattrs(ops, fd, got.xattrs))).toEqual([]);
    expect(withFd(b, (fd) => ops.fgetxattr(fd, Buffer.from(POSIX_ACL_ACCESS)))).toEqual(ACL);
    expect(lstatSync(b).mode & 0o777).toBe(0o650);
  });

  itWhen(kept)('copies a default ACL between directories; exact apply removes an inherited one', () => {
    const d1 = join(dir, `${policy}-acl-d1`);
    const d2 = join(dir, `${policy}-acl-d2`);
    mkdirSync(d1);
    mkdirSync(d2);
    withFd(d1, (fd) => ops.fsetxattr(fd, Buffer.from(POSIX_ACL_DEFAULT), ACL));
    const got = withFd(d1, (fd) => captureXattrs(ops, fd));
    expect(got.xattrs).toEqual([{ name: POSIX_ACL_DEFAULT, value: ACL.toString('base64') }]);
    withFd(d2, (fd) => applyXattrs(ops, fd, got.xattrs));
    expect(withFd(d2, (fd) => ops.fgetxattr(fd, Buffer.from(POSIX_ACL_DEFAULT)))).toEqual(ACL);
    // A file created in d2 inherits an access ACL the original did not have: exact removes it.
    const child = join(d2, 'child');
    writeFileSync(child, '');
    expect(withFd(child, (fd) => captureXattrs(ops, fd)).xattrs?.map((x) => x.name)).toEqual([POSIX_ACL_ACCESS]);
    expect(withFd(child, (fd) => applyXattrs(ops, fd, undefined, undefined, { exact: true }))).toEqual([]);
    expect(withFd(child, (fd) => captureXattrs(ops, fd)).xattrs).toBeUndefined();
  });

  itWhen(kept)('reports, per name, what Linux refuses and applies the rest', () => {
    const link = join(dir, `${policy}-link`);
    symlinkSync('nowhere', link);
    const failures = applyPathXattrs(ops, link, [
      { name: 'user.refused-on-symlinks', value: 'AA==' },
      { name: 'bogus.namespace', value: 'AA==' },
    ]);
    expect(failures).toEqual([
      { name: 'user.refused-on-symlinks', code: 'EPERM' },
      { name: 'bogus.namespace', code: 'ENOTSUP' },
    ]);
    expect(capturePathXattrs(ops, link)).toEqual({ xattrs: undefined, failures: [] });
  });

  itWhen(kept)('by path, for entries not held open: a directory and, under a directory fd, a file through /proc', () => {
    const d = join(dir, `${policy}-by-path`);
    mkdirSync(d);
    writeFileSync(join(d, 'f'), '');
    expect(applyPathXattrs(ops, d, [{ name: 'user.d', value: 'ZA==' }])).toEqual([]);
    expect(capturePathXattrs(ops, d).xattrs).toEqual([{ name: 'user.d', value: 'ZA==' }]);
    const dfd = openSync(d, 'r');
    try {
      const at = `/proc/self/fd/${dfd}/f`;
      expect(applyPathXattrs(ops, at, [{ name: 'user.f', value: 'Zg==' }])).toEqual([]);
      expect(capturePathXattrs(ops, at).xattrs).toEqual([{ name: 'user.f', value: 'Zg==' }]);
    } finally {
      closeSync(dfd);
    }
    expect(withFd(join(d, 'f'), (fd) => captureXattrs(ops, fd)).xattrs).toEqual([{ name: 'user.f', value: 'Zg==' }]);
  });

  itWhen(kept && process.getuid?.() === 0)('as root: trusted.* on a symlink itself', () => {
    const link = join(dir, `${policy}-link-root`);
    symlinkSync('nowhere', link);
    expect(applyPathXattrs(ops, link, [{ name: 'trusted.engine', value: 'dg==' }])).toEqual([]);
    expect(capturePathXattrs(ops, link).xattrs).toEqual([{ name: 'trusted.engine', value: 'dg==' }]);
  });

  itWhen(!kept)('fallback: keeps none and warns once per run, not per file', () => {
    const warnings: string[] = [];
    const notices = new NotKeptNotices((m) => warnings.push(m));
    const a = file('fb');
    expect(withFd(a, (fd) => captureXattrs(ops, fd, notices))).toEqual({ xattrs: undefined, failures: [] });
    expect(withFd(a, (fd) => applyXattrs(ops, fd, [{ name: 'user.x', value: 'AA==' }], notices))).toEqual([]);
    expect(capturePathXattrs(ops, a, notices).xattrs).toBeUndefined();
    expect(warnings).toEqual(['extended attributes and POSIX ACLs are not kept: node:fs cannot read them']);
  });
});
