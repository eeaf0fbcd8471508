// Binary and JSON object formats: round trips, canonical trees, and damaged input refused with a
// FormatError (E_FORMAT_CORRUPT or E_FORMAT_UNSUPPORTED), never a RangeError or TypeError.
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CHUNKER } from '../chunker/fastcdc.js';
import { ErrorCode, FormatError, isEngineError } from '../errors/engine-error.js';
import { type RepoConfig, decodeConfig, encodeConfig } from './config.js';
import { type BlobId, BlobType, type IndexId, type PackId, type SnapshotId, idFromBytes, idToBytes, parseId } from './ids.js';
import { type IndexFile, INDEX_MAGIC, IndexPayloadBuilder, decodeIndex, encodeIndex } from './index-file.js';
import { type KeyFile, decodeKeyFile, encodeKeyFile } from './key-file.js';
import { PACK_HEADER_ENTRY_BYTES, decodePackHeader, encodePackHeader, headerRange } from './pack.js';
import { type Snapshot, decodeSnapshot, encodeSnapshot } from './snapshot.js';
import { NodeType, type TreeNode, compareNames, decodeTree, encodeTree } from './tree.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const FORMAT_CODES: string[] = [ErrorCode.FORMAT_CORRUPT, ErrorCode.FORMAT_UNSUPPORTED];

/** The error `fn` throws (undefined when it returns). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

/** Asserts `fn` throws a FormatError with one of the format codes (or exactly `code`). */
function expectFormatError(fn: () => unknown, code?: string, label?: string): FormatError {
  const err = thrown(fn);
  expect(err, label).toBeInstanceOf(FormatError);
  const fe = err as FormatError;
  if (code === undefined) expect(FORMAT_CODES, label).toContain(fe.code);
  else expect(fe.code, label).toBe(code);
  return fe;
}

const hexId = <T extends string>(): fc.Arbitrary<T> => fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex') as T);
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const blobType = fc.constantFrom<BlobType>(BlobType.DATA, BlobType.TREE);
const randomId = <T extends string>(): T => randomBytes(32).toString('hex') as T;

describe('ids', () => {
  it('parseId accepts 64 lowercase hex digits only; bytes round-trip', () => {
    const id = randomId<BlobId>();
    expect(parseId<BlobId>(id, 'id')).toBe(id);
    expect(idFromBytes<BlobId>(idToBytes(id))).toBe(id);
    const padded = new Uint8Array(40);
    padded.set(idToBytes(id), 5);
    expect(idFromBytes<BlobId>(padded, 5)).toBe(id);
    for (const bad of ['', id.slice(1), `${id}0`, id.toUpperCase(), `${id.slice(0, 63)}g`, ' '.repeat(64)]) {
      expectFormatError(() => parseId(bad, 'id'), ErrorCode.FORMAT_CORRUPT, JSON.stringify(bad));
    }
  });
});

describe('pack header', () => {
  const blobArb = fc.record({ type: blobType, id: hexId<BlobId>(), length: u32, rawLength: u32 });

  it('round-trips, with offsets the running sum of sealed lengths', () => {
    fc.assert(
      fc.property(fc.array(blobArb, { maxLength: 40 }), (blobs) => {
        const bytes = encodePackHeader(blobs);
        expect(bytes.length).toBe(5 + blobs.length * PACK_HEADER_ENTRY_BYTES);
        const back = decodePackHeader(bytes, 'pack');
        let offset = 0;
        expect(back.length).toBe(blobs.length);
        back.forEach((b, i) => {
          expect(b).toEqual({ ...blobs[i], offset });
          offset += blobs[i]!.length;
        });
      }),
      { numRuns: 200 },
    );
  });

  it('refuses every truncation and extension of a valid header with a FormatError', () => {
    const blobs = Array.from({ length: 3 }, (_, i) => ({ type: (i % 2) as BlobType, id: randomId<BlobId>(), length: 1000 + i, rawLength: 900 + i }));
    const bytes = encodePackHeader(blobs);
    for (let n = 0; n < bytes.length; n++) expectFormatError(() => decodePackHeader(bytes.subarray(0, n), 'pack'), undefined, `length ${n}`);
    for (const extra of [1, 40, 41, 42]) {
      const longer = new Uint8Array(bytes.length + extra);
      longer.set(bytes);
      expectFormatError(() => decodePackHeader(longer, 'pack'), ErrorCode.FORMAT_CORRUPT, `+${extra}`);
    }
  });

  it('refuses an unknown version, a wrong count and an unknown blob type', () => {
    const bytes = encodePackHeader([{ type: BlobType.DATA, id: randomId<BlobId>(), length: 5, rawLength: 4 }]);
    const v = bytes.slice();
    v[0] = 2;
    expectFormatError(() => decodePackHeader(v, 'pack'), ErrorCode.FORMAT_UNSUPPORTED);
    const c = bytes.slice();
    c[1] = 2;
    expectFormatError(() => decodePackHeader(c, 'pack'), ErrorCode.FORMAT_CORRUPT);
    const huge = bytes.slice();
    huge.set([0xff, 0xff, 0xff, 0xff], 1);
    expectFormatError(() => decodePackHeader(huge, 'pack'), ErrorCode.FORMAT_CORRUPT);
    const t = bytes.slice();
    t[5] = 2;
    expectFormatError(() => decodePackHeader(t, 'pack'), ErrorCode.FORMAT_CORRUPT);
  });

  it('property: random bytes decode or throw a FormatError, never anything else', () => {
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 200 }),
      // Plausible starts: version 1 and a small count, then garbage.
      fc.tuple(fc.integer({ min: 0, max: 4 }), fc.uint8Array({ maxLength: 200 })).map(([count, rest]) => {
        const out = new Uint8Array(5 + rest.length);
        out[0] = 1;
        new DataView(out.buffer).setUint32(1, count, true);
        out.set(rest, 5);
        return out;
      }),
    );
    fc.assert(
      fc.property(input, (bytes) => {
        const err = thrown(() => decodePackHeader(bytes, 'pack'));
        if (err !== undefined) {
          expect(err).toBeInstanceOf(FormatError);
          expect(FORMAT_CODES).toContain((err as FormatError).code);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('headerRange locates the sealed header from the trailer', () => {
    const trailer = new Uint8Array(4);
    new DataView(trailer.buffer).setUint32(0, 100, true);
    expect(headerRange(1000, trailer, 'pack')).toEqual({ offset: 896, length: 100 });
    expect(headerRange(104, trailer, 'pack')).toEqual({ offset: 0, length: 100 });
    expectFormatError(() => headerRange(103, trailer, 'pack'), ErrorCode.FORMAT_CORRUPT);
    expectFormatError(() => headerRange(3, trailer, 'pack'), ErrorCode.FORMAT_CORRUPT);
    expectFormatError(() => headerRange(1000, trailer.subarray(0, 3), 'pack'), ErrorCode.FORMAT_CORRUPT);
    new DataView(trailer.buffer).setUint32(0, 0xffffffff, true);
    expectFormatError(() => headerRange(1000, trailer, 'pack'), ErrorCode.FORMAT_CORRUPT);
    expect(headerRange(2 ** 33, trailer, 'pack')).toEqual({ offset: 2 ** 33 - 4 - 0xffffffff, length: 0xffffffff });
  });
});

describe('index objects', () => {
  const packBlobArb = fc.record({ type: blobType, id: hexId<BlobId>(), offset: u32, length: u32, rawLength: u32 });
  const indexArb: fc.Arbitrary<IndexFile> = fc.record({
    supersedes: fc.array(hexId<IndexId>(), { maxLength: 4 }),
    packs: fc.array(fc.record({ packId: hexId<PackId>(), blobs: fc.array(packBlobArb, { maxLength: 8 }) }), { maxLength: 6 }),
  });

  it('round-trips', () => {
    fc.assert(
      fc.property(indexArb, (idx) => {
        const bytes = encodeIndex(idx);
        expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe(INDEX_MAGIC);
        expect(decodeIndex(bytes, 'index')).toEqual(idx);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses every truncation, trailing bytes and a wrong magic', () => {
    const idx: IndexFile = {
      supersedes: [randomId<IndexId>()],
      packs: [
        { packId: randomId<PackId>(), blobs: [{ type: BlobType.DATA, id: randomId<BlobId>(), offset: 0, length: 100, rawLength: 80 }] },
        { packId: randomId<PackId>(), blobs: [] },
      ],
    };
    const bytes = encodeIndex(idx);
    for (let n = 0; n < bytes.length; n++) expectFormatError(() => decodeIndex(bytes.subarray(0, n), 'index'), undefined, `length ${n}`);
    const longer = new Uint8Array(bytes.length + 1);
    longer.set(bytes);
    expectFormatError(() => decodeIndex(longer, 'index'), ErrorCode.FORMAT_CORRUPT);
    const magic = bytes.slice();
    magic[3] = '2'.charCodeAt(0);
    expectFormatError(() => decodeIndex(magic, 'index'), ErrorCode.FORMAT_UNSUPPORTED);
    // Blob type byte of the first blob: magic 4 + count 4 + 32 + pack count 4 + pack id 32 + blob count 4.
    const type = bytes.slice();
    type[4 + 4 + 32 + 4 + 32 + 4] = 9;
    expectFormatError(() => decodeIndex(type, 'index'), ErrorCode.FORMAT_CORRUPT);
  });

  it('property: random bytes, with or without the magic, never throw anything but an EngineError', () => {
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 300 }),
      fc.uint8Array({ maxLength: 300 }).map((rest) => {
        const out = new Uint8Array(4 + rest.length);
        out.set(enc(INDEX_MAGIC));
        out.set(rest, 4);
        return out;
      }),
    );
    fc.assert(
      fc.property(input, (bytes) => {
        const err = thrown(() => decodeIndex(bytes, 'index'));
        if (err !== undefined) {
          expect(isEngineError(err)).toBe(true);
          expect(FORMAT_CODES).toContain((err as FormatError).code);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('property: a valid index with random bytes overwritten decodes or throws an EngineError', () => {
    fc.assert(
      fc.property(indexArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (idx, edits) => {
        const bytes = encodeIndex(idx).slice();
        for (const [pos, v] of edits) bytes[pos % bytes.length] = v;
        const err = thrown(() => decodeIndex(bytes, 'index'));
        if (err !== undefined) expect(isEngineError(err)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });
});

function node(name: string, type: (typeof NodeType)[number], extra: Partial<TreeNode> = {}): TreeNode {
  const base: TreeNode = { name, type, mode: 0o644, mtimeNs: '1700000000123456789', ctimeNs: '1700000000123456789', uid: 1000, gid: 1000, deviceId: '2049', inode: '123456', links: 1 };
  if (type === 'file') Object.assign(base, { size: 3, content: [randomId<BlobId>()] });
  if (type === 'dir') Object.assign(base, { subtree: randomId<BlobId>() });
  if (type === 'symlink') Object.assign(base, { linkTarget: '../target' });
  if (type === 'chardev' || type === 'blockdev') Object.assign(base, { rdev: '259' });
  return Object.assign(base, extra);
}

describe('trees', () => {
  const nameArb = fc
    .string({ unit: 'grapheme', minLength: 1, maxLength: 12 })
    .filter((s) => s !== '.' && s !== '..' && !s.includes('/') && !s.includes('\0'));
  const digits = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(String);
  const nodeArb: fc.Arbitrary<TreeNode> = fc
    .record({
      name: nameArb,
      type: fc.constantFrom(...NodeType),
      mode: fc.integer({ min: 0, max: 0o7777 }),
      mtimeNs: digits,
      ctimeNs: digits,
      uid: fc.nat(),
      gid: fc.nat(),
      deviceId: digits,
      inode: digits,
      links: fc.integer({ min: 1, max: 1000 }),
      size: fc.maxSafeNat(),
      content: fc.array(hexId<BlobId>(), { maxLength: 4 }),
      subtree: hexId<BlobId>(),
      linkTarget: fc.string({ unit: 'grapheme', maxLength: 30 }),
      rdev: digits,
    })
    .map(({ size, content, subtree, linkTarget, rdev, ...base }) => {
      const n: TreeNode = { ...base };
      if (base.type === 'file') Object.assign(n, { size, content });
      if (base.type === 'dir') n.subtree = subtree;
      if (base.type === 'symlink') n.linkTarget = linkTarget;
      if (base.type === 'chardev' || base.type === 'blockdev') n.rdev = rdev;
      return n;
    });
  const treeArb = fc.uniqueArray(nodeArb, { selector: (n) => n.name, maxLength: 16 });

  it('round-trips; decoded nodes are sorted by the UTF-8 bytes of their names', () => {
    fc.assert(
      fc.property(treeArb, (nodes) => {
        const decoded = decodeTree(encodeTree({ nodes }), 'tree');
        const sorted = [...nodes].sort((a, b) => compareNames(a.name, b.name));
        expect(decoded.nodes).toEqual(sorted);
      }),
      { numRuns: 200 },
    );
  });

  it('is canonical: any order of the same nodes, and any key order within a node, encodes to the same bytes', () => {
    fc.assert(
      fc.property(
        treeArb.chain((nodes) => fc.tuple(fc.constant(nodes), fc.shuffledSubarray(nodes, { minLength: nodes.length, maxLength: nodes.length }))),
        ([nodes, shuffled]) => {
          const reversedKeys = shuffled.map((n) => Object.fromEntries(Object.entries(n).reverse()) as unknown as TreeNode);
          const a = encodeTree({ nodes });
          expect(Buffer.compare(encodeTree({ nodes: shuffled }), a)).toBe(0);
          expect(Buffer.compare(encodeTree({ nodes: reversedKeys }), a)).toBe(0);
          // Canonical bytes are a fixed point of decode → encode.
          expect(Buffer.compare(encodeTree(decodeTree(a, 'tree')), a)).toBe(0);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('orders names by UTF-8 bytes, not UTF-16 code units', () => {
    const bmp = '\uffff'; // UTF-8 EF BF BF, UTF-16 FFFF
    const astral = '\u{1f600}'; // UTF-8 F0 9F 98 80, UTF-16 D83D DE00
    expect(compareNames(bmp, astral)).toBeLessThan(0);
    expect(bmp > astral).toBe(true); // JavaScript's own order is the opposite
    const tree = decodeTree(encodeTree({ nodes: [node(astral, 'fifo'), node('Z', 'fifo'), node(bmp, 'fifo'), node('a', 'fifo')] }), 'tree');
    expect(tree.nodes.map((n) => n.name)).toEqual(['Z', 'a', bmp, astral]);
  });

  it('writes fields in the fixed order and omits absent ones', () => {
    const text = new TextDecoder().decode(encodeTree({ nodes: [node('f', 'file', { content: [], size: 0 })] }));
    const keys = Object.keys((JSON.parse(text) as { nodes: Record<string, unknown>[] }).nodes[0]!);
    expect(keys).toEqual(['name', 'type', 'mode', 'mtimeNs', 'ctimeNs', 'uid', 'gid', 'deviceId', 'inode', 'links', 'size', 'content']);
    expect(text.startsWith('{"nodes":[{"name":"f","type":"file",')).toBe(true);
  });

  it('rejects duplicate names when encoding', () => {
    const err = expectFormatError(() => encodeTree({ nodes: [node('x', 'file'), node('y', 'dir'), node('x', 'symlink')] }), ErrorCode.FORMAT_CORRUPT);
    expect(err.message).toContain('"x"');
    fc.assert(
      fc.property(treeArb.filter((n) => n.length > 0), fc.nat(), (nodes, k) => {
        const dup = { ...nodes[k % nodes.length]!, type: 'fifo' as const };
        expectFormatError(() => encodeTree({ nodes: [...nodes, dup] }), ErrorCode.FORMAT_CORRUPT);
      }),
      { numRuns: 100 },
    );
  });

  it('decodeTree rejects unsafe names', () => {
    for (const name of ['', '.', '..', 'a/b', '/', '/etc', '../x', 'a\0b', '\0']) {
      const bytes = encodeTree({ nodes: [node('ok', 'fifo'), node(name, 'file')] });
      const err = expectFormatError(() => decodeTree(bytes, 'tree'), ErrorCode.FORMAT_CORRUPT, JSON.stringify(name));
      expect(err.message).toContain('unsafe name');
    }
    // Names that merely look odd are fine.
    for (const name of ['...', '.hidden', 'a\\b', ' ', 'ü', '\u{1f600}', 'x'.repeat(255)]) {
      expect(decodeTree(encodeTree({ nodes: [node(name, 'fifo')] }), 'tree').nodes[0]!.name).toBe(name);
    }
  });

  it('decodeTree rejects nodes that lack what their type needs, or have wrongly typed fields', () => {
    const cases: [string, unknown][] = [
      ['file without content', { ...node('f', 'file'), content: undefined }],
      ['file without size', { ...node('f', 'file'), size: undefined }],
      ['dir without subtree', { ...node('d', 'dir'), subtree: undefined }],
      ['symlink without target', { ...node('l', 'symlink'), linkTarget: undefined }],
      ['unknown type', { ...node('u', 'fifo'), type: 'door' }],
      ['string mode', { ...node('m', 'fifo'), mode: '420' }],
      ['fractional uid', { ...node('m', 'fifo'), uid: 1.5 }],
      ['unsafe integer size', { ...node('f', 'file'), size: 2 ** 60 }],
      ['numeric mtime', { ...node('m', 'fifo'), mtimeNs: 5 }],
      ['content not a list', { ...node('f', 'file'), content: 'abc' }],
      ['bad content id', { ...node('f', 'file'), content: ['abc'] }],
      ['bad subtree id', { ...node('d', 'dir'), subtree: 'xyz' }],
    ];
    for (const [label, n] of cases) {
      expectFormatError(() => decodeTree(enc(JSON.stringify({ nodes: [n] })), 'tree'), ErrorCode.FORMAT_CORRUPT, label);
    }
    for (const bad of ['', '{', '{"nodes":{}}', '{"nodes":"x"}', '[]', '42', '{"nodes":[1]}']) {
      expectFormatError(() => decodeTree(enc(bad), 'tree'), ErrorCode.FORMAT_CORRUPT, bad);
    }
    expectFormatError(() => decodeTree(new Uint8Array([0x7b, 0xff, 0x7d]), 'tree'), ErrorCode.FORMAT_CORRUPT, 'invalid UTF-8');
    expect(decodeTree(enc('{"nodes":[]}'), 'tree')).toEqual({ nodes: [] });
  });
});

const summary = {
  filesNew: 3, filesChanged: 1, filesUnmodified: 10, dirs: 4, bytesRead: 12345, filesRead: 4, totalBytes: 99999,
  blobsNew: 7, bytesAddedRaw: 12000, bytesAddedStored: 6000, errors: 0, durationSeconds: 1.25,
};

describe('snapshots', () => {
  const snap: Snapshot = {
    version: 1, time: '2024-05-01T12:00:00.123456789Z', tree: randomId<BlobId>(), paths: ['/home/u', '/etc'],
    hostname: 'host', username: 'u', uid: 1000, gid: 1000, tags: ['daily', 'ü'], summary,
  };

  it('round-trips with and without a parent', () => {
    expect(decodeSnapshot(encodeSnapshot(snap), 'snap')).toEqual(snap);
    const child: Snapshot = { ...snap, parent: randomId<SnapshotId>() };
    expect(decodeSnapshot(encodeSnapshot(child), 'snap')).toEqual(child);
    const copied: Snapshot = { ...snap, original: randomId<SnapshotId>(), copiedFrom: randomId<SnapshotId>() };
    expect(decodeSnapshot(encodeSnapshot(copied), 'snap')).toEqual(copied);
  });

  it('refuses another version, a bad tree or parent id, and non-JSON', () => {
    expectFormatError(() => decodeSnapshot(enc(JSON.stringify({ ...snap, version: 2 })), 'snap'), ErrorCode.FORMAT_UNSUPPORTED);
    expectFormatError(() => decodeSnapshot(enc(JSON.stringify({ ...snap, tree: 'abc' })), 'snap'), ErrorCode.FORMAT_CORRUPT);
    expectFormatError(() => decodeSnapshot(enc(JSON.stringify({ ...snap, parent: 'abc' })), 'snap'), ErrorCode.FORMAT_CORRUPT);
    expectFormatError(() => decodeSnapshot(enc(JSON.stringify({ ...snap, copiedFrom: 'abc' })), 'snap'), ErrorCode.FORMAT_CORRUPT);
    expectFormatError(() => decodeSnapshot(enc(JSON.stringify({ ...snap, time: 5 })), 'snap'), ErrorCode.FORMAT_CORRUPT);
    expectFormatError(() => decodeSnapshot(enc(JSON.stringify({ ...snap, paths: '/' })), 'snap'), ErrorCode.FORMAT_CORRUPT);
    expectFormatError(() => decodeSnapshot(enc('{"version":1,'), 'snap'), ErrorCode.FORMAT_CORRUPT);
    expectFormatError(() => decodeSnapshot(new Uint8Array([0xc3, 0x28]), 'snap'), ErrorCode.FORMAT_CORRUPT);
  });
});

describe('config', () => {
  const config: RepoConfig = {
    version: 1, id: randomBytes(32).toString('hex'), chunker: { algorithm: 'fastcdc-v1', ...DEFAULT_CHUNKER },
    compression: { algorithm: 'zstd', level: 3 }, cipher: 'aes-256-gcm', packSizeBytes: 16 * 1024 * 1024, created: '2024-05-01T12:00:00Z',
  };
  const variant = (patch: Record<string, unknown>): Uint8Array => enc(JSON.stringify({ ...config, ...patch }));

  it('round-trips, for both ciphers', () => {
    expect(decodeConfig(encodeConfig(config))).toEqual(config);
    const x: RepoConfig = { ...config, cipher: 'xchacha20-poly1305', packSizeBytes: 1024 * 1024 };
    expect(decodeConfig(encodeConfig(x))).toEqual(x);
  });

  it('reads versions 1 to 4 (2 adds locks, 3 chunked trees, 4 names as bytes); refuses another version, bad chunker, compression, cipher or pack size', () => {
    expect(decodeConfig(variant({ version: 4 })).version).toBe(4);
    expect(decodeConfig(variant({ version: 3 })).version).toBe(3);
    expect(decodeConfig(variant({ version: 2 })).version).toBe(2);
    expect(decodeConfig(variant({ version: 1 })).version).toBe(1);
    expectFormatError(() => decodeConfig(variant({ version: 6 })), ErrorCode.FORMAT_UNSUPPORTED);
    expectFormatError(() => decodeConfig(variant({ version: 0 })), ErrorCode.FORMAT_UNSUPPORTED);
    expectFormatError(() => decodeConfig(variant({ chunker: { ...config.chunker, algorithm: 'rabin' } })), ErrorCode.FORMAT_CORRUPT);
    expectFormatError(() => decodeConfig(variant({ chunker: { ...config.chunker, avgSize: 1000000 } })), ErrorCode.FORMAT_CORRUPT);
    expectFormatError(() => decodeConfig(variant({ chunker: undefined })), ErrorCode.FORMAT_CORRUPT);
    expectFormatError(() => decodeConfig(variant({ compression: { algorithm: 'lz4', level: 1 } })), ErrorCode.FORMAT_CORRUPT);
    expectFormatError(() => decodeConfig(variant({ compression: { algorithm: 'zstd', level: 1.5 } })), ErrorCode.FORMAT_CORRUPT);
    expectFormatError(() => decodeConfig(variant({ cipher: 'des' })), ErrorCode.FORMAT_UNSUPPORTED);
    expectFormatError(() => decodeConfig(variant({ packSizeBytes: 1024 * 1024 - 1 })), ErrorCode.FORMAT_CORRUPT);
    expectFormatError(() => decodeConfig(variant({ packSizeBytes: 1024 * 1024 * 1024 + 1 })), ErrorCode.FORMAT_CORRUPT);
    expectFormatError(() => decodeConfig(variant({ packSizeBytes: '16M' })), ErrorCode.FORMAT_CORRUPT);
    expectFormatError(() => decodeConfig(enc('not json')), ErrorCode.FORMAT_CORRUPT);
  });

  it('version 5 (init --copy-chunker-params) holds idKeys, two 32-byte keys in hex; neither goes without the other', () => {
    const idKeys = { blobId: 'ab'.repeat(32), gear: '0c'.repeat(32) };
    const v5: RepoConfig = { ...config, version: 5, idKeys };
    expect(decodeConfig(encodeConfig(v5))).toEqual(v5);
    expectFormatError(() => decodeConfig(variant({ version: 5 })), ErrorCode.FORMAT_CORRUPT);
    // Keys in a version an older engine reads would be ignored by it: every blob id would look wrong.
    expectFormatError(() => decodeConfig(variant({ version: 4, idKeys })), ErrorCode.FORMAT_CORRUPT);
    expectFormatError(() => decodeConfig(variant({ version: 5, idKeys: { ...idKeys, gear: 'ab'.repeat(31) } })), ErrorCode.FORMAT_CORRUPT);
    expectFormatError(() => decodeConfig(variant({ version: 5, idKeys: { blobId: 'AB'.repeat(32), gear: idKeys.gear } })), ErrorCode.FORMAT_CORRUPT);
    expectFormatError(() => decodeConfig(variant({ version: 5, idKeys: 'present' })), ErrorCode.FORMAT_CORRUPT);
  });
});

describe('key files', () => {
  const kf: KeyFile = {
    version: 1, kdf: 'argon2id', t: 3, m: 65536, p: 1, salt: randomBytes(16).toString('base64'),
    created: '2024-05-01T12:00:00Z', hostname: 'host', username: 'u', data: randomBytes(76).toString('base64'),
  };
  const variant = (patch: Record<string, unknown>): Uint8Array => enc(JSON.stringify({ ...kf, ...patch }));

  it('round-trips as readable JSON', () => {
    const bytes = encodeKeyFile(kf);
    expect(new TextDecoder().decode(bytes)).toContain('\n  "kdf": "argon2id"');
    expect(decodeKeyFile(bytes, 'key')).toEqual(kf);
  });

  it('refuses another version or KDF as unsupported, and malformed parameters as corrupt', () => {
    expectFormatError(() => decodeKeyFile(variant({ version: 2 }), 'key'), ErrorCode.FORMAT_UNSUPPORTED);
    expectFormatError(() => decodeKeyFile(variant({ kdf: 'scrypt' }), 'key'), ErrorCode.FORMAT_UNSUPPORTED);
    for (const patch of [{ t: 0 }, { t: 1.5 }, { m: 7 }, { m: '64' }, { p: 2 }, { salt: 5 }, { salt: undefined }, { data: null }]) {
      expectFormatError(() => decodeKeyFile(variant(patch), 'key'), ErrorCode.FORMAT_CORRUPT, JSON.stringify(patch));
    }
    expectFormatError(() => decodeKeyFile(enc('{'), 'key'), ErrorCode.FORMAT_CORRUPT);
  });
});

describe('JSON decoders on non-objects', () => {
  it('throw FormatError, never TypeError', async () => {
    const { decodeTree } = await import('./tree.js');
    const { decodeSnapshot } = await import('./snapshot.js');
    const { decodeConfig } = await import('./config.js');
    const { decodeKeyFile } = await import('./key-file.js');
    const inputs = ['null', '[]', '42', '"x"', '{"nodes":[null]}', '{"nodes":[1]}'];
    for (const text of inputs) {
      const bytes = new TextEncoder().encode(text);
      for (const decode of [(b: Uint8Array) => decodeTree(b, 't'), (b: Uint8Array) => decodeSnapshot(b, 's'), decodeConfig, (b: Uint8Array) => decodeKeyFile(b, 'k')]) {
        let err: unknown = null;
        try {
          decode(bytes);
        } catch (e) {
          err = e;
        }
        expect((err as { code?: string } | null)?.code, text).toMatch(/^E_FORMAT_/);
      }
    }
  });

  it('decodeTree rejects entries out of order or repeated', async () => {
    const { decodeTree } = await import('./tree.js');
    const node = (name: string): string => `{"name":"${name}","type":"symlink","mode":511,"mtimeNs":"0","ctimeNs":"0","uid":0,"gid":0,"deviceId":"1","inode":"1","links":1,"linkTarget":"x"}`;
    expect(() => decodeTree(new TextEncoder().encode(`{"nodes":[${node('b')},${node('a')}]}`), 't')).toThrow(/out of order/);
    expect(() => decodeTree(new TextEncoder().encode(`{"nodes":[${node('a')},${node('a')}]}`), 't')).toThrow(/out of order or repeated/);
  });
});

describe('IndexPayloadBuilder', () => {
  it('builds the same bytes as encodeIndex, a pack at a time, and starts empty again', () => {
    const rnd = (n: number): string => Buffer.from(Array.from({ length: n }, () => Math.floor(Math.random() * 256))).toString('hex');
    const b = new IndexPayloadBuilder();
    for (let round = 0; round < 2; round++) {
      const packs = Array.from({ length: 5 }, (_, p) => ({
        packId: rnd(32) as PackId,
        blobs: Array.from({ length: p * 3 }, (_, k) => ({ type: k % 3 === 0 ? BlobType.TREE : BlobType.DATA, id: rnd(32) as BlobId, offset: k * 100, length: 99 + k, rawLength: 2 ** 32 - 1 - k })),
      }));
      const supersedes = round === 0 ? [] : [rnd(32) as IndexId, rnd(32) as IndexId];
      for (const p of packs) b.addPack(p.packId, p.blobs);
      expect(b.packs).toBe(5);
      expect(b.blobs).toBe(30);
      expect(Buffer.from(b.finish(supersedes)).equals(Buffer.from(encodeIndex({ supersedes, packs })))).toBe(true);
      expect(b.packs).toBe(0);
    }
  });
});
