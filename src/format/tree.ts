// Tree blobs: one per directory, canonical JSON (FORMAT.md "Trees"). Entries are sorted by the
// bytes of their names and every field is written in one fixed order, absent ones omitted, so an
// unchanged directory always encodes to the same bytes and the same blob id. Names and link
// targets are in the escaped form of src/fs/names.ts: a byte that is not part of valid UTF-8 is a
// lone surrogate U+DC80..U+DCFF, which JSON.stringify writes as the ASCII escape `\udcXX`.
import { ErrorCode, FormatError } from '../errors/engine-error.js';
import { compareNameBytes, displayName, isEncodableName } from '../fs/names.js';
import { type BlobId, parseId } from './ids.js';

export const NodeType = ['file', 'dir', 'symlink', 'fifo', 'socket', 'chardev', 'blockdev'] as const;
export type NodeType = (typeof NodeType)[number];

export interface TreeNode {
  name: string;
  type: NodeType;
  /** Permission bits and setuid/setgid/sticky (mode & 0o7777). */
  mode: number;
  /** Nanoseconds since the epoch, as a decimal string (exceeds 2^53). */
  mtimeNs: string;
  /** Access time, nanoseconds: only with `backup --with-atime` (it changes on every read). */
  atimeNs?: string;
  ctimeNs: string;
  uid: number;
  gid: number;
  /** Filesystem device and inode: hardlink grouping on restore and change detection on backup. */
  deviceId: string;
  inode: string;
  links: number;
  /** Files: plaintext size in bytes. */
  size?: number;
  /** Files: data blob ids in order. */
  content?: BlobId[];
  /** Directories: tree blob id. */
  subtree?: BlobId;
  /** Symlinks: the target, verbatim (its bytes, in the escaped form of names). */
  linkTarget?: string;
  /** Device nodes: the device number. */
  rdev?: string;
  /** Extended attributes (POSIX ACLs included), sorted by name bytes; absent when there are none. */
  xattrs?: Xattr[];
}

/** One extended attribute: its name in the escaped form of names, its value in base64. */
export interface Xattr {
  name: string;
  /** Standard base64 with padding (RFC 4648 section 4), canonical: decoding and encoding gives it back. */
  value: string;
}

/** Linux's limits (XATTR_NAME_MAX, XATTR_SIZE_MAX): a decoder refuses anything bigger. */
export const XATTR_NAME_MAX_BYTES = 255;
export const XATTR_VALUE_MAX_BYTES = 65536;

export interface Tree {
  nodes: TreeNode[];
}

const FIELD_ORDER = ['name', 'type', 'mode', 'mtimeNs', 'atimeNs', 'ctimeNs', 'uid', 'gid', 'deviceId', 'inode', 'links', 'size', 'content', 'subtree', 'linkTarget', 'rdev', 'xattrs'] as const;

const isSurrogate = (u: number): boolean => u >= 0xd800 && u <= 0xdfff;

/**
 * Orders names by the bytes they stand for (escapes as their raw byte, FORMAT.md "Trees"): the
 * order of names.ts `compareNameBytes`, without encoding. Sorting a directory of a million names
 * calls this ~20 million times, so it compares UTF-16 code units, and only where a surrogate decides
 * the order compares bytes, from the character where the names part: for every other code unit,
 * UTF-16 order and byte order agree. A surrogate is either half of a pair (a character past U+FFFF)
 * or an escaped byte, and neither sorts by its code unit (an escaped 0xFF is U+DCFF, below U+E000).
 */
export function compareNames(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (isSurrogate(x) || isSurrogate(y)) return byteOrderFrom(a, b, i);
    return x - y;
  }
  // A prefix ending in a high surrogate encodes differently when the longer name pairs it.
  const next = a.length > n ? a.charCodeAt(n) : b.length > n ? b.charCodeAt(n) : 0;
  if (n > 0 && (isSurrogate(next) || isSurrogate(a.charCodeAt(n - 1)))) return byteOrderFrom(a, b, n);
  return a.length - b.length;
}

/** A token past Unicode: an escaped byte, ESCAPED + the byte. */
const ESCAPED = 0x110000;

/**
 * The character (code point) or escaped byte at s[i]. A lone surrogate that stands for no byte
 * (decodeTree refuses it in a name) counts as U+FFFD, as Buffer.from encodes it, so the order stays
 * total on any string.
 */
function tokenAt(s: string, i: number): number {
  const u = s.charCodeAt(i);
  if (u < 0xd800 || u > 0xdfff) return u;
  if (u <= 0xdbff) {
    const v = s.charCodeAt(i + 1);
    return v >= 0xdc00 && v <= 0xdfff ? 0x10000 + ((u - 0xd800) << 10) + (v - 0xdc00) : 0xfffd;
  }
  return u >= 0xdc80 && u <= 0xdcff ? ESCAPED + (u - 0xdc00) : 0xfffd;
}

const tokenUnits = (t: number): number => (t >= 0x10000 && t < ESCAPED ? 2 : 1);
const tokenBytes = (t: number): number => (t < 0x80 || t >= ESCAPED ? 1 : t < 0x800 ? 2 : t < 0x10000 ? 3 : 4);

/** Byte k of a token: its UTF-8, or the escaped byte itself. */
function tokenByte(t: number, k: number): number {
  if (t >= ESCAPED) return t - ESCAPED;
  const len = tokenBytes(t);
  if (len === 1) return t;
  if (k === 0) return (len === 2 ? 0xc0 : len === 3 ? 0xe0 : 0xf0) | (t >> (6 * (len - 1)));
  return 0x80 | ((t >> (6 * (len - 1 - k))) & 0x3f);
}

/**
 * Compares the bytes of a and b, which are equal before unit `from`, a byte at a time from there
 * (allocating nothing: a directory of Latin-1 names sorts as fast as one of ASCII names). An
 * escaped byte may equal the first byte of the other name's character, so the comparison runs on
 * bytes, not characters.
 */
function byteOrderFrom(a: string, b: string, from: number): number {
  // Start at a character boundary: a high surrogate just before may pair with what follows.
  const start = from > 0 && a.charCodeAt(from - 1) >= 0xd800 && a.charCodeAt(from - 1) <= 0xdbff ? from - 1 : from;
  let i = start;
  let j = start;
  let ta = 0;
  let tb = 0;
  let ka = 0;
  let kb = 0;
  let la = 0;
  let lb = 0;
  for (;;) {
    if (ka === la) {
      if (i >= a.length) return kb === lb && j >= b.length ? 0 : -1;
      ta = tokenAt(a, i);
      i += tokenUnits(ta);
      la = tokenBytes(ta);
      ka = 0;
    }
    if (kb === lb) {
      if (j >= b.length) return 1;
      tb = tokenAt(b, j);
      j += tokenUnits(tb);
      lb = tokenBytes(tb);
      kb = 0;
    }
    const x = tokenByte(ta, ka++);
    const y = tokenByte(tb, kb++);
    if (x !== y) return x - y;
  }
}

/** The canonical JSON of one node: what a tree blob lists, comma-separated, between its brackets. */
export function encodeNode(n: TreeNode): string {
  const fields: string[] = [];
  for (const key of FIELD_ORDER) {
    if (key === 'xattrs') {
      if (n.xattrs !== undefined && n.xattrs.length > 0) fields.push(`"xattrs":${encodeXattrs(n.xattrs)}`);
      continue;
    }
    const v = n[key];
    if (v !== undefined) fields.push(`${JSON.stringify(key)}:${JSON.stringify(v)}`);
  }
  return `{${fields.join(',')}}`;
}

/** Bytes a tree blob adds around its nodes: `{"nodes":[` and `]}`. */
export const TREE_WRAPPER_BYTES = 12;

/** A tree blob of nodes already encoded and in canonical order. */
export function encodeNodeList(encoded: readonly string[]): Uint8Array {
  return new TextEncoder().encode(`{"nodes":[${encoded.join(',')}]}`);
}

export function encodeTree(tree: Tree): Uint8Array {
  const nodes = [...tree.nodes].sort((a, b) => compareNames(a.name, b.name));
  const parts: string[] = [];
  for (let i = 0; i < nodes.length; i++) {
    const n = nodes[i]!;
    if (i > 0 && nodes[i - 1]!.name === n.name) throw new FormatError(ErrorCode.FORMAT_CORRUPT, `tree: duplicate entry name "${displayName(n.name)}"`);
    parts.push(encodeNode(n));
  }
  return encodeNodeList(parts);
}

function fail(what: string, msg: string): never {
  throw new FormatError(ErrorCode.FORMAT_CORRUPT, `${what}: ${msg}`);
}

/** A tree blob is either a directory's nodes (one chunk, or the whole directory) or a chunk list. */
export type TreeBlob = { readonly kind: 'nodes'; readonly nodes: TreeNode[] } | { readonly kind: 'chunks'; readonly chunks: BlobId[] };

/** Decodes a tree blob that must hold nodes: a chunk list here is damage (FORMAT.md "Trees"). */
export function decodeTree(bytes: Uint8Array, what: string): Tree {
  const blob = decodeTreeBlob(bytes, what);
  if (blob.kind !== 'nodes') fail(what, 'is a chunk list where a list of nodes belongs');
  return { nodes: blob.nodes };
}

export function decodeTreeBlob(bytes: Uint8Array, what: string): TreeBlob {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (err) {
    fail(what, `not a tree (${err instanceof Error ? err.message : String(err)})`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(what, 'not a JSON object');
  if ('chunks' in raw) {
    if (Object.keys(raw).length !== 1) fail(what, 'a chunk list holds "chunks" and nothing else');
    return { kind: 'chunks', chunks: decodeChunkList((raw as { chunks: unknown }).chunks, what) };
  }
  const nodesRaw = (raw as { nodes?: unknown }).nodes;
  if (!Array.isArray(nodesRaw)) fail(what, 'missing "nodes"');
  const nodes: TreeNode[] = nodesRaw.map((r: unknown, i: number) => {
    if (typeof r !== 'object' || r === null || Array.isArray(r)) fail(what, `node ${i} is not an object`);
    const o = r as Record<string, unknown>;
    const str = (k: string): string => (typeof o[k] === 'string' ? (o[k] as string) : fail(what, `node ${i}: "${k}" is not a string`));
    const num = (k: string): number => (typeof o[k] === 'number' && Number.isSafeInteger(o[k]) ? (o[k] as number) : fail(what, `node ${i}: "${k}" is not an integer`));
    const type = str('type');
    if (!(NodeType as readonly string[]).includes(type)) fail(what, `node ${i}: unknown type "${type}"`);
    const node: TreeNode = {
      name: str('name'),
      type: type as NodeType,
      mode: num('mode'),
      mtimeNs: str('mtimeNs'),
      ctimeNs: str('ctimeNs'),
      uid: num('uid'),
      gid: num('gid'),
      deviceId: str('deviceId'),
      inode: str('inode'),
      links: num('links'),
    };
    if (o.atimeNs !== undefined) node.atimeNs = str('atimeNs');
    if (o.size !== undefined) node.size = num('size');
    if (o.content !== undefined) {
      if (!Array.isArray(o.content)) fail(what, `node ${i}: "content" is not a list`);
      node.content = o.content.map((c: unknown) => parseId<BlobId>(String(c), `${what}: node ${i} content`));
    }
    if (o.subtree !== undefined) node.subtree = parseId<BlobId>(str('subtree'), `${what}: node ${i} subtree`);
    if (o.linkTarget !== undefined) node.linkTarget = str('linkTarget');
    if (o.rdev !== undefined) node.rdev = str('rdev');
    if (o.xattrs !== undefined) node.xattrs = decodeXattrs(o.xattrs, `${what}: node ${i}`);
    if (node.name === '' || node.name === '.' || node.name === '..' || node.name.includes('/') || node.name.includes('\0')) {
      fail(what, `node ${i}: unsafe name ${JSON.stringify(node.name)}`);
    }
    // No byte string decodes to another lone surrogate: such a name or target is forged, and has
    // no bytes to create on restore (or to compare by).
    if (!isEncodableName(node.name)) fail(what, `node ${i}: name ${JSON.stringify(node.name)} holds a surrogate that stands for no byte`);
    if (node.linkTarget !== undefined && !isEncodableName(node.linkTarget)) fail(what, `node ${i}: link target ${JSON.stringify(node.linkTarget)} holds a surrogate that stands for no byte`);
    if (node.type === 'file' && (node.content === undefined || node.size === undefined)) fail(what, `file "${displayName(node.name)}" lacks content or size`);
    if (node.type === 'dir' && node.subtree === undefined) fail(what, `directory "${displayName(node.name)}" lacks a subtree`);
    if (node.type === 'symlink' && node.linkTarget === undefined) fail(what, `symlink "${displayName(node.name)}" lacks a target`);
    return node;
  });
  // Canonical order is part of the format: a tree out of order or with a name twice is damaged.
  for (let i = 1; i < nodes.length; i++) {
    if (compareNames(nodes[i - 1]!.name, nodes[i]!.name) >= 0) fail(what, `entries "${displayName(nodes[i - 1]!.name)}" and "${displayName(nodes[i]!.name)}" are out of order or repeated`);
  }
  return { kind: 'nodes', nodes };
}

/** A writer never makes a chunk list of fewer than two chunks (FORMAT.md "Trees"). */
function decodeChunkList(raw: unknown, what: string): BlobId[] {
  if (!Array.isArray(raw)) fail(what, '"chunks" is not a list');
  if (raw.length < 2) fail(what, `a chunk list of ${raw.length} chunk(s) (at least 2)`);
  return raw.map((c: unknown, i: number) => (typeof c === 'string' ? parseId<BlobId>(c, `${what}: chunk ${i}`) : fail(what, `chunk ${i} is not an id`)));
}

/** The canonical chunk list of a directory stored in several tree blobs. */
export function encodeChunkList(chunks: readonly BlobId[]): Uint8Array {
  return new TextEncoder().encode(`{"chunks":[${chunks.map((c) => JSON.stringify(c)).join(',')}]}`);
}

/**
 * The canonical JSON of a node's xattrs: sorted by name bytes, each `{"name":...,"value":...}` in
 * that key order, whatever order or key order the caller built them in. Throws on a name twice.
 */
function encodeXattrs(list: readonly Xattr[]): string {
  const sorted = [...list].sort((a, b) => compareNameBytes(a.name, b.name));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i - 1]!.name === sorted[i]!.name) throw new FormatError(ErrorCode.FORMAT_CORRUPT, `tree: xattr "${displayName(sorted[i]!.name)}" twice`);
  }
  return `[${sorted.map((x) => `{"name":${JSON.stringify(x.name)},"value":${JSON.stringify(x.value)}}`).join(',')}]`;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Refuses anything encodeXattrs would not have written, or that Linux could not hold. */
function decodeXattrs(raw: unknown, what: string): Xattr[] {
  if (!Array.isArray(raw) || raw.length === 0) fail(what, '"xattrs" is not a non-empty list');
  const out: Xattr[] = raw.map((r: unknown, j: number) => {
    if (typeof r !== 'object' || r === null || Array.isArray(r)) fail(what, `xattr ${j} is not an object`);
    const keys = Object.keys(r);
    const { name, value } = r as { name?: unknown; value?: unknown };
    if (keys.length !== 2 || typeof name !== 'string' || typeof value !== 'string') fail(what, `xattr ${j} is not {"name":string,"value":string}`);
    if (name === '' || name.includes('\0') || !isEncodableName(name)) fail(what, `xattr ${j}: bad name ${JSON.stringify(name)}`);
    if (escapedByteLength(name) > XATTR_NAME_MAX_BYTES) fail(what, `xattr ${j}: name longer than ${XATTR_NAME_MAX_BYTES} bytes`);
    // Cheap length bound before the regular expression and the decode.
    if (value.length > Math.ceil(XATTR_VALUE_MAX_BYTES / 3) * 4 || !BASE64.test(value)) fail(what, `xattr "${displayName(name)}": value is not canonical base64 of at most ${XATTR_VALUE_MAX_BYTES} bytes`);
    const bytes = Buffer.from(value, 'base64');
    if (bytes.length > XATTR_VALUE_MAX_BYTES || bytes.toString('base64') !== value) fail(what, `xattr "${displayName(name)}": value is not canonical base64 of at most ${XATTR_VALUE_MAX_BYTES} bytes`);
    return { name, value };
  });
  for (let j = 1; j < out.length; j++) {
    if (compareNameBytes(out[j - 1]!.name, out[j]!.name) >= 0) fail(what, `xattrs "${displayName(out[j - 1]!.name)}" and "${displayName(out[j]!.name)}" are out of order or repeated`);
  }
  return out;
}

/** The bytes an escaped name stands for (an escaped byte counts 1, not the 3 of U+FFFD in UTF-8). */
function escapedByteLength(s: string): number {
  let n = Buffer.byteLength(s, 'utf8');
  for (let i = 0; i < s.length; i++) {
    const u = s.charCodeAt(i);
    const paired = i > 0 && s.charCodeAt(i - 1) >= 0xd800 && s.charCodeAt(i - 1) <= 0xdbff;
    if (u >= 0xdc80 && u <= 0xdcff && !paired) n -= 2;
  }
  return n;
}
