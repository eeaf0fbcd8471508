// What the metadata tests share: POSIX ACL xattr values built byte by byte (no setfacl needed), and
// a comparison of two possibly sparse files that reads only their data regions.
import { closeSync, openSync, readSync } from 'node:fs';
import { lstat } from 'node:fs/promises';
import type { PosixOps } from '../../native-bindings/posix/index.js';
import { dataRegions, type Region } from '../../src/fs/sparse.js';

export const ACL_USER_OBJ = 0x01;
export const ACL_USER = 0x02;
export const ACL_GROUP_OBJ = 0x04;
export const ACL_MASK = 0x10;
export const ACL_OTHER = 0x20;
export const UNDEFINED_ID = 0xffffffff;

/** posix_acl_xattr (linux/posix_acl_xattr.h): u32 version 2, then {u16 tag, u16 perm, u32 id} per entry, sorted by tag and id. */
export function aclXattr(entries: [tag: number, perm: number, id: number][]): Buffer {
  const b = Buffer.alloc(4 + 8 * entries.length);
  b.writeUInt32LE(2, 0);
  entries.forEach(([tag, perm, id], i) => {
    b.writeUInt16LE(tag, 4 + 8 * i);
    b.writeUInt16LE(perm, 6 + 8 * i);
    b.writeUInt32LE(id, 8 + 8 * i);
  });
  return b;
}

/** The data regions of a file (null: unknown, the whole file is data). */
function regionsOf(ops: PosixOps, path: string, size: number): Region[] | null {
  const fd = openSync(path, 'r');
  try {
    const r = dataRegions(ops, fd, size);
    return r === null ? null : [...r];
  } finally {
    closeSync(fd);
  }
}

/**
 * Whether two files hold the same bytes, reading only where either has data: outside the data
 * regions of both, both read as zeros. (cmp on a 3 GiB file reads 6 GiB of zeros.)
 */
export async function sameContent(ops: PosixOps, a: string, b: string): Promise<boolean> {
  const [sa, sb] = [await lstat(a), await lstat(b)];
  if (sa.size !== sb.size) return false;
  const ra = regionsOf(ops, a, sa.size);
  const rb = regionsOf(ops, b, sb.size);
  const ranges = ra === null || rb === null ? [{ offset: 0, length: sa.size }] : [...ra, ...rb].sort((p, q) => p.offset - q.offset);
  const fa = openSync(a, 'r');
  const fb = openSync(b, 'r');
  try {
    const ba = Buffer.alloc(8 << 20);
    const bb = Buffer.alloc(8 << 20);
    for (const r of ranges) {
      for (let pos = r.offset; pos < r.offset + r.length; ) {
        const n = Math.min(ba.length, r.offset + r.length - pos);
        const ga = readSync(fa, ba, 0, n, pos);
        const gb = readSync(fb, bb, 0, n, pos);
        if (ga !== gb || !ba.subarray(0, ga).equals(bb.subarray(0, gb))) return false;
        if (ga === 0) break;
        pos += ga;
      }
    }
    return true;
  } finally {
    closeSync(fa);
    closeSync(fb);
  }
}
