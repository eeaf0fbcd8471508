// Computes the test vectors of docs/FORMAT.md from fixed inputs, with whatever primitives are
// loaded; test/format-vectors.test.ts checks the results against the committed values, so the
// native and the fallback implementations must both reproduce them byte for byte.
import type { Primitives } from '../../native-bindings/types.js';
import { FastCdc, DEFAULT_CHUNKER } from '../../src/chunker/fastcdc.js';
import { deriveGear } from '../../src/chunker/gear.js';
import { Suite, open, seal } from '../../src/crypto/envelope.js';
import { deriveRepoKeys, repoKeysWithIdKeys } from '../../src/crypto/keys.js';
import { BlobType, type BlobId, type PackId } from '../../src/format/ids.js';
import { encodeIndex } from '../../src/format/index-file.js';
import { encodePackHeader } from '../../src/format/pack.js';
import { decodeTree, encodeTree, type TreeNode } from '../../src/format/tree.js';
import { decodeName, encodeName } from '../../src/fs/names.js';
import { fnv1a32 } from '../../src/format/tree-chunks.js';
import { TreeWriter } from '../../src/repository/tree-stream.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const seq = (n: number, start = 0): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (start + i) & 0xff);

/** xorshift32 from state 1, one byte (the low 8 bits) per step: easy to reimplement anywhere. */
export function vectorStream(n: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export const VECTOR_PAYLOAD = 'engine test vector';

/** The chunked-directory vector: 5000 fifos `e00000`..`e04999`, metadata fixed (FORMAT.md "Test vectors"). */
export function vectorDirectory(): TreeNode[] {
  return Array.from({ length: 5000 }, (_, i) => ({ name: `e${String(i).padStart(5, '0')}`, type: 'fifo' as const, mode: 0o644, mtimeNs: '1700000000000000000', ctimeNs: '1700000000000000000', uid: 0, gid: 0, deviceId: '1', inode: String(i + 1), links: 1 }));
}

/** Writes the vector directory with the real writer; ids are keyed BLAKE3 under the vector key. */
async function chunkedVector(p: Primitives, blobIdKey: Uint8Array): Promise<{ list: string; sizes: number[]; id: string }> {
  const saved = new Map<string, Uint8Array>();
  const writer = new TreeWriter({
    save: async (bytes) => {
      const id = hex(p.blake3.keyedHash(blobIdKey, bytes)) as BlobId;
      saved.set(id, bytes);
      return id;
    },
    beforeChunked: async () => undefined,
  });
  for (const n of vectorDirectory()) await writer.add(n);
  const id = await writer.finish();
  const list = new TextDecoder().decode(saved.get(id)!);
  const chunks = (JSON.parse(list) as { chunks: string[] }).chunks;
  const sizes = chunks.map((c) => (JSON.parse(new TextDecoder().decode(saved.get(c)!)) as { nodes: unknown[] }).nodes.length);
  return { list, sizes, id };
}

/**
 * The byte-names vector (version 4): a symlink `link` → `d\xfe/x\xff`, and fifos `x\xef\xbf\xbd`
 * (U+FFFD, valid UTF-8) and `x\xff` (not UTF-8), the two names a lossy decoder confuses.
 */
export function vectorByteNames(): TreeNode[] {
  const meta = { mode: 0o644, mtimeNs: '1700000000000000000', ctimeNs: '1700000000000000000', uid: 0, gid: 0, deviceId: '1', links: 1 };
  const bytes = (...b: number[]): string => decodeName(Uint8Array.from(b));
  return [
    { name: bytes(0x78, 0xff), type: 'fifo', ...meta, inode: '3' },
    { name: bytes(0x78, 0xef, 0xbf, 0xbd), type: 'fifo', ...meta, inode: '2' },
    { name: 'link', type: 'symlink', ...meta, mode: 0o777, inode: '1', linkTarget: bytes(0x64, 0xfe, 0x2f, 0x78, 0xff) },
  ];
}

/** POSIX ACL xattr (linux/posix_acl_xattr.h): version 2, then u16 tag, u16 perm, u32 id per entry. */
function aclXattr(entries: [number, number, number][]): string {
  const b = Buffer.alloc(4 + 8 * entries.length);
  b.writeUInt32LE(2, 0);
  entries.forEach(([tag, perm, id], i) => {
    b.writeUInt16LE(tag, 4 + 8 * i);
    b.writeUInt16LE(perm, 6 + 8 * i);
    b.writeUInt32LE(id, 8 + 8 * i);
  });
  return b.toString('base64');
}

/**
 * The xattrs vector: a directory with a default ACL (user::rwx group::r-x other::r-x) and an empty
 * user.a; a file whose xattrs are given out of order, one name not UTF-8 (`user.\xff`), and which
 * has an atime (`backup --with-atime`; version 4 like xattrs).
 */
export function vectorXattrs(subtree: BlobId): TreeNode[] {
  const meta = { mtimeNs: '1700000000123456789', ctimeNs: '1700000000123456789', uid: 0, gid: 0, deviceId: '1' };
  return [
    { name: 'f', type: 'file', mode: 0o644, ...meta, atimeNs: '1700000000987654321', inode: '2', links: 1, size: 0, content: [], xattrs: [
      { name: 'user.\udcff', value: Buffer.from([0, 255]).toString('base64') },
      { name: 'security.selinux', value: Buffer.from('system_u:object_r:user_home_t:s0\0').toString('base64') },
      { name: 'user.a', value: Buffer.from('v').toString('base64') },
    ] },
    { name: 'd', type: 'dir', mode: 0o755, ...meta, inode: '1', links: 2, subtree, xattrs: [
      { name: 'system.posix_acl_default', value: aclXattr([[0x01, 7, 0xffffffff], [0x04, 5, 0xffffffff], [0x20, 5, 0xffffffff]]) },
      { name: 'user.a', value: '' },
    ] },
  ];
}

export async function computeVectors(p: Primitives): Promise<Record<string, unknown>> {
  const master = seq(32);
  const keys = deriveRepoKeys(p.blake3, master);
  const shared = repoKeysWithIdKeys(p.blake3, master, { blobId: seq(32, 0x20), gear: seq(32, 0x40) });
  const payload = new TextEncoder().encode(VECTOR_PAYLOAD);
  const gear = deriveGear(p.blake3, keys.gear);
  const cdc = new FastCdc(DEFAULT_CHUNKER, gear);
  const stream = vectorStream(24 * 1024 * 1024);
  const cuts = cdc.cuts(stream, 0, stream.length, true).ends;
  const env1 = seal(p, keys, payload, { suite: Suite.XCHACHA20_POLY1305, zstdLevel: null, fixedNonceForTestVectors: seq(24) });
  const env2 = seal(p, keys, payload, { suite: Suite.AES_256_GCM, zstdLevel: null, fixedNonceForTestVectors: seq(12) });
  const compressible = new TextEncoder().encode(VECTOR_PAYLOAD.repeat(64));
  const zstdEnvelope = seal(p, keys, compressible, { suite: Suite.XCHACHA20_POLY1305, zstdLevel: 3, fixedNonceForTestVectors: seq(24) });
  const idA = hex(p.blake3.keyedHash(keys.blobId, payload)) as BlobId;
  const idB = hex(p.blake3.keyedHash(keys.blobId, new Uint8Array(0))) as BlobId;
  const chunked = await chunkedVector(p, keys.blobId);
  const byteNamesTree = encodeTree({ nodes: vectorByteNames() });
  const byteNamesBack = decodeTree(byteNamesTree, 'vector').nodes;
  const xattrsTree = encodeTree({ nodes: vectorXattrs(idB) });
  const wrap = await p.argon2id.derive(new TextEncoder().encode('password'), seq(16), { t: 2, mKiB: 64, p: 1 }, 32);
  return {
    masterKey: hex(master),
    subkeys: { xchacha: hex(keys.xchacha), aes: hex(keys.aes), blobId: hex(keys.blobId), gear: hex(keys.gear) },
    gearFirst8: [...gear.subarray(0, 8)].map((g) => g.toString(16).padStart(8, '0')),
    blobIdOfPayload: idA,
    blobIdOfEmpty: idB,
    envelopeXChaCha: hex(env1),
    envelopeAesGcm: hex(env2),
    // Compressed bytes may differ between zstd builds: this vector is checked by opening it.
    zstdEnvelopeOpensTo: hex(open(p, keys, zstdEnvelope, 1 << 20, 'vector')) === hex(compressible),
    fastcdcCutsOf24MiBStream: cuts,
    packHeader: hex(
      encodePackHeader([
        { type: BlobType.DATA, id: idA, length: env1.length, rawLength: payload.length },
        { type: BlobType.TREE, id: idB, length: 100, rawLength: 0 },
      ]),
    ),
    index: hex(
      encodeIndex({
        supersedes: [],
        packs: [{ packId: hex(p.blake3.hash(env1)) as PackId, blobs: [{ type: BlobType.DATA, id: idA, offset: 0, length: env1.length, rawLength: payload.length }] }],
      }),
    ),
    tree: new TextDecoder().decode(
      encodeTree({
        nodes: [
          { name: 'b.txt', type: 'file', mode: 0o644, mtimeNs: '1700000000123456789', ctimeNs: '1700000000123456789', uid: 1000, gid: 1000, deviceId: '2049', inode: '12', links: 1, size: payload.length, content: [idA] },
          { name: 'a', type: 'symlink', mode: 0o777, mtimeNs: '1700000000000000000', ctimeNs: '1700000000000000000', uid: 0, gid: 0, deviceId: '2049', inode: '13', links: 1, linkTarget: 'b.txt' },
        ],
      }),
    ),
    argon2idPasswordSalt00to0fT2M64: hex(wrap),
    fnv1a32: Object.fromEntries(['', 'a', 'e00000', 'e01023', 'caf\u00e9'].map((n) => [n, fnv1a32(new TextEncoder().encode(n)).toString(16).padStart(8, '0')])),
    chunkedDirectoryChunkSizes: chunked.sizes,
    chunkedDirectoryChunkList: chunked.list,
    chunkedDirectoryTreeId: chunked.id,
    treeWithByteNames: new TextDecoder().decode(byteNamesTree),
    treeWithByteNamesId: hex(p.blake3.keyedHash(keys.blobId, byteNamesTree)),
    // What a reader makes of it: each name's and the target's bytes, in hex, in tree order.
    treeWithByteNamesDecoded: byteNamesBack.map((n) => [encodeName(n.name).toString('hex'), ...(n.linkTarget !== undefined ? [encodeName(n.linkTarget).toString('hex')] : [])]),
    treeWithXattrs: new TextDecoder().decode(xattrsTree),
    treeWithXattrsId: hex(p.blake3.keyedHash(keys.blobId, xattrsTree)),
    // Version 5: K_id and K_gear given by the config (bytes 0x20..0x3f and 0x40..0x5f), the rest from M.
    sharedIdKeysSubkeys: { xchacha: hex(shared.xchacha), blobId: hex(shared.blobId), gear: hex(shared.gear) },
    sharedIdKeysBlobIdOfPayload: hex(p.blake3.keyedHash(shared.blobId, payload)),
    sharedIdKeysGearFirst8: [...deriveGear(p.blake3, shared.gear).subarray(0, 8)].map((g) => g.toString(16).padStart(8, '0')),
  };
}
