// Tar headers for `engine dump`: POSIX ustar, with a PAX extended header ('x') in front of an
// entry when ustar cannot hold a value (POSIX.1-2001 pax format): a name or link target longer than
// its field, a uid/gid or size too large for its octal field, an mtime before 1970 or with a
// fraction of a second, extended attributes (SCHILY.xattr.*, as GNU tar and restic write them).
// GNU tar, bsdtar and Go's archive/tar read all of it. Names are the stored bytes (FORMAT.md
// "Names"), written as they are. No library: the format is small and fixed, and the one tar
// writer in node_modules is an optional dependency of an optional dependency.

export const TAR_BLOCK = 512;

export interface TarEntry {
  /** Relative path bytes, '/'-separated; a folder's ends with '/'. */
  readonly name: Buffer;
  readonly type: 'file' | 'dir' | 'symlink';
  /** Permission bits with setuid/setgid/sticky (mode & 0o7777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Files: content bytes that follow the header. */
  readonly size: number;
  readonly mtimeNs: bigint;
  readonly linkname?: Buffer;
  readonly xattrs?: readonly { name: Buffer; value: Buffer }[];
}

const TYPE = { file: '0', dir: '5', symlink: '2' } as const;
const MAX_OCTAL_7 = 0o7777777;
const MAX_OCTAL_11 = 0o77777777777;

/** The header block(s) of one entry: a PAX header first when needed, then the ustar header. */
export function tarHeader(e: TarEntry): Buffer {
  const pax: [string | Buffer, Buffer][] = [];
  if (e.name.length > 100) pax.push(['path', e.name]);
  if (e.linkname && e.linkname.length > 100) pax.push(['linkpath', e.linkname]);
  if (e.uid > MAX_OCTAL_7 || e.uid < 0) pax.push(['uid', Buffer.from(String(e.uid))]);
  if (e.gid > MAX_OCTAL_7 || e.gid < 0) pax.push(['gid', Buffer.from(String(e.gid))]);
  if (e.size > MAX_OCTAL_11) pax.push(['size', Buffer.from(String(e.size))]);
  const secs = floorDiv(e.mtimeNs, 1_000_000_000n);
  const frac = e.mtimeNs - secs * 1_000_000_000n;
  if (frac !== 0n || secs < 0n || secs > BigInt(MAX_OCTAL_11)) pax.push(['mtime', Buffer.from(paxTime(e.mtimeNs))]);
  for (const x of e.xattrs ?? []) pax.push([Buffer.concat([Buffer.from('SCHILY.xattr.'), x.name]), x.value]);

  const main = ustar({
    name: e.name.subarray(0, 100),
    mode: e.mode & 0o7777,
    uid: clamp(e.uid, MAX_OCTAL_7),
    gid: clamp(e.gid, MAX_OCTAL_7),
    size: e.type === 'file' ? clamp(e.size, MAX_OCTAL_11) : 0,
    mtime: secs < 0n ? 0 : Number(secs > BigInt(MAX_OCTAL_11) ? BigInt(MAX_OCTAL_11) : secs),
    type: TYPE[e.type],
    linkname: (e.linkname ?? Buffer.alloc(0)).subarray(0, 100),
  });
  if (pax.length === 0) return main;
  const records = Buffer.concat(pax.map(([k, v]) => paxRecord(k, v)));
  const paxHead = ustar({ name: Buffer.from('PaxHeader'), mode: 0o644, uid: 0, gid: 0, size: records.length, mtime: 0, type: 'x', linkname: Buffer.alloc(0) });
  return Buffer.concat([paxHead, records, Buffer.alloc(padding(records.length)), main]);
}

/** Zero bytes that complete the last block of `size` bytes of content. */
export function padding(size: number): number {
  return (TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK;
}

/** The end of an archive: two zero blocks. */
export const TAR_END = Buffer.alloc(2 * TAR_BLOCK);

const floorDiv = (a: bigint, b: bigint): bigint => (a >= 0n ? a / b : -((-a + b - 1n) / b));
const clamp = (n: number, max: number): number => (n < 0 || n > max ? 0 : n);

/** Seconds with a fraction, as PAX writes times ("-1.5" for half a second before 1970 minus one). */
function paxTime(ns: bigint): string {
  const neg = ns < 0n;
  const abs = neg ? -ns : ns;
  const s = abs / 1_000_000_000n;
  const f = abs % 1_000_000_000n;
  return `${neg ? '-' : ''}${s}${f === 0n ? '' : `.${f.toString().padStart(9, '0').replace(/0+$/, '')}`}`;
}

/** "<length> key=value\n", the length counting itself in decimal digits. */
function paxRecord(key: string | Buffer, value: Buffer): Buffer {
  const k = typeof key === 'string' ? Buffer.from(key) : key;
  const body = k.length + value.length + 3; // ' ', '=', '\n'
  let len = body + String(body).length;
  if (String(len).length !== String(body).length) len = body + String(len).length;
  return Buffer.concat([Buffer.from(`${len} `), k, Buffer.from('='), value, Buffer.from('\n')]);
}

interface Fields {
  name: Buffer;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  type: string;
  linkname: Buffer;
}

function ustar(f: Fields): Buffer {
  const h = Buffer.alloc(TAR_BLOCK);
  f.name.copy(h, 0);
  octal(h, 100, 8, f.mode);
  octal(h, 108, 8, f.uid);
  octal(h, 116, 8, f.gid);
  octal(h, 124, 12, f.size);
  octal(h, 136, 12, f.mtime);
  h.fill(0x20, 148, 156); // the checksum counts its own field as spaces
  h.write(f.type, 156, 'latin1');
  f.linkname.copy(h, 157);
  h.write('ustar\u000000', 257, 'latin1');
  octal(h, 329, 8, 0);
  octal(h, 337, 8, 0);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 'latin1');
  return h;
}

/** A zero-padded octal number filling the field but its last byte (NUL). */
function octal(h: Buffer, at: number, width: number, n: number): void {
  h.write(`${n.toString(8).padStart(width - 1, '0')}\u0000`, at, 'latin1');
}
