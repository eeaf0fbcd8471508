// The streaming tree writer and reader (FORMAT.md "Trees"): random directories round-trip, a
// directory that fits one chunk is stored exactly as before chunking existed, boundaries are
// canonical and content-defined, and damaged chunk lists are refused.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { keysOf } from './storage.js';
import { loadPrimitives } from '../../native-bindings/index.js';
import type { Argon2Params } from '../../native-bindings/types.js';
import { MemoryBackend } from '../backend/memory/memory-backend.js';
import { seal } from '../crypto/envelope.js';
import { ErrorCode, isEngineError } from '../errors/engine-error.js';
import { encodeConfig, REPO_VERSION } from '../format/config.js';
import { type BlobId, BlobType } from '../format/ids.js';
import { compareNames, decodeTreeBlob, encodeChunkList, encodeNode, encodeNodeList, encodeTree, type TreeNode } from '../format/tree.js';
import { fnv1a32, isChunkBoundaryName, TREE_CHUNK_MAX_BYTES, TREE_CHUNK_MAX_ENTRIES, TREE_CHUNK_MIN_ENTRIES } from '../format/tree-chunks.js';
import { BlobUploader } from './blob-uploader.js';
import { Repository } from './repository.js';
import { chunkedTreeGuard, collectTree, treeEntries, TreeWriter, type TreeStore } from './tree-stream.js';

const policy = process.env.ENGINE_NATIVE === 'off' ? 'fallback' : 'auto';

function fifo(name: string, extra: Partial<TreeNode> = {}): TreeNode {
  return { name, type: 'fifo', mode: 0o644, mtimeNs: '1700000000000000000', ctimeNs: '1700000000000000000', uid: 1000, gid: 1000, deviceId: '2049', inode: '7', links: 1, ...extra };
}

/** Blobs by id (SHA-256 of the bytes stands in for the keyed BLAKE3), and a reader over them. */
class Blobs implements TreeStore {
  readonly map = new Map<string, Uint8Array>();
  chunkedCalls = 0;
  async save(bytes: Uint8Array): Promise<BlobId> {
    const id = createHash('sha256').update(bytes).digest('hex') as BlobId;
    this.map.set(id, bytes);
    return id;
  }
  async beforeChunked(): Promise<void> {
    this.chunkedCalls++;
  }
  /** Just enough of a Repository for treeEntries: blobs by id. */
  get repo(): Repository {
    const map = this.map;
    return {
      loadBlob: async (_index: unknown, _type: BlobType, id: BlobId) => {
        const b = map.get(id);
        if (!b) throw new Error(`no blob ${id}`);
        return b;
      },
    } as unknown as Repository;
  }
}

const index = { has: () => true, lookup: () => undefined, hasPack: () => false, add: () => undefined, blobCount: 0 };

async function write(store: TreeStore, nodes: readonly TreeNode[]): Promise<BlobId> {
  const w = new TreeWriter(store);
  for (const n of [...nodes].sort((a, b) => compareNames(a.name, b.name))) await w.add(n);
  return w.finish();
}

async function read(blobs: Blobs, id: BlobId): Promise<TreeNode[]> {
  const out: TreeNode[] = [];
  for await (const n of treeEntries(blobs.repo, index, id)) out.push(n);
  return out;
}

/** The chunk blobs of a directory (empty when it is one blob). */
function chunksOf(blobs: Blobs, id: BlobId): BlobId[] {
  const b = decodeTreeBlob(blobs.map.get(id)!, 't');
  return b.kind === 'chunks' ? b.chunks : [];
}

const names = (n: number, prefix = 'file-'): TreeNode[] => Array.from({ length: n }, (_, i) => fifo(`${prefix}${String(i).padStart(7, '0')}`));

async function expectCorrupt(p: Promise<unknown>, text: string | RegExp): Promise<void> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(isEngineError(err, ErrorCode.FORMAT_CORRUPT), String(err)).toBe(true);
  expect((err as Error).message).toMatch(text);
}

describe('tree chunk rule', () => {
  it('FNV-1a 32 of the UTF-8 bytes, as documented', () => {
    expect(fnv1a32(new Uint8Array(0)).toString(16)).toBe('811c9dc5');
    expect(fnv1a32(new TextEncoder().encode('a')).toString(16)).toBe('e40c292c');
    expect(fnv1a32(new TextEncoder().encode('foobar')).toString(16)).toBe('bf9cf968');
  });

  it('compareNames orders by UTF-8 bytes, surrogates and all', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
        expect(Math.sign(compareNames(a, b))).toBe(Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))));
      }),
      { numRuns: 3000 },
    );
    for (const [a, b] of [['\uffff', '\u{10000}'], ['\ud800', '\uffff'], ['a\ud83d', 'a\ud83d\ude00'], ['\ue000', '\ud7ff']]) {
      expect(Math.sign(compareNames(a!, b!))).toBe(Math.sign(Buffer.compare(Buffer.from(a!), Buffer.from(b!))));
    }
  });
});

describe('tree writer and reader', () => {
  it('random directories round-trip; those within one chunk are stored byte-identical to an unchunked tree', async () => {
    const nodeArb = fc.record({ name: fc.string({ minLength: 1, maxLength: 40 }).filter((s) => s !== '.' && s !== '..' && !s.includes('/') && !s.includes('\0')), size: fc.nat(3) });
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(nodeArb, { selector: (n) => n.name, maxLength: 200 }), fc.integer({ min: 0, max: 9000 }), async (some, extra) => {
        const nodes = [...some.map((n) => fifo(n.name, { inode: String(n.size) })), ...names(extra, '\u00e9t\u00e9-')];
        const blobs = new Blobs();
        const id = await write(blobs, nodes);
        const sorted = [...nodes].sort((a, b) => compareNames(a.name, b.name));
        expect(await read(blobs, id)).toEqual(sorted);
        const single = encodeTree({ nodes });
        if (nodes.length <= TREE_CHUNK_MAX_ENTRIES && single.length <= TREE_CHUNK_MAX_BYTES) {
          expect(blobs.map.size).toBe(1);
          expect(Buffer.compare(blobs.map.get(id)!, single)).toBe(0);
          expect(blobs.chunkedCalls).toBe(0);
        } else {
          expect(chunksOf(blobs, id).length).toBeGreaterThanOrEqual(2);
          expect(blobs.chunkedCalls).toBe(1);
        }
        // Canonical: the same entries, added again, make the same blobs.
        const again = new Blobs();
        expect(await write(again, [...nodes].reverse())).toBe(id);
        expect([...again.map.keys()].sort()).toEqual([...blobs.map.keys()].sort());
      }),
      { numRuns: 25 },
    );
  });

  it('cuts chunks by the documented rule, each within the limits', async () => {
    const nodes = names(30_000);
    const blobs = new Blobs();
    const id = await write(blobs, nodes);
    const chunks = chunksOf(blobs, id).map((c) => decodeTreeBlob(blobs.map.get(c)!, 'c'));
    let next = 0;
    for (const [i, c] of chunks.entries()) {
      if (c.kind !== 'nodes') throw new Error('nested');
      const bytes = blobs.map.get(chunksOf(blobs, id)[i]!)!.length;
      expect(bytes).toBeLessThanOrEqual(TREE_CHUNK_MAX_BYTES);
      expect(c.nodes).toEqual(nodes.slice(next, next + c.nodes.length));
      next += c.nodes.length;
      const last = c.nodes[c.nodes.length - 1]!;
      if (i < chunks.length - 1) {
        const ruled = c.nodes.length === TREE_CHUNK_MAX_ENTRIES || (c.nodes.length >= TREE_CHUNK_MIN_ENTRIES && isChunkBoundaryName(last.name));
        expect(ruled, `chunk ${i} of ${c.nodes.length}`).toBe(true);
      }
      // No earlier hash cut was skipped.
      for (let k = TREE_CHUNK_MIN_ENTRIES - 1; k < c.nodes.length - 1; k++) expect(isChunkBoundaryName(c.nodes[k]!.name)).toBe(false);
    }
    expect(next).toBe(nodes.length);
    // ~1280 entries a chunk on average: 30,000 entries in 10-60 chunks.
    expect(chunks.length).toBeGreaterThan(10);
    expect(chunks.length).toBeLessThan(60);
  });

  it('a byte cap: entries with long content lists make smaller chunks, never past 1 MiB unless one entry is bigger', async () => {
    const id64 = 'ab'.repeat(32) as BlobId;
    const fat = Array.from({ length: 40 }, (_, i) => fifo(`fat-${String(i).padStart(3, '0')}`, { type: 'file', size: 1, content: Array.from({ length: 1500 + i }, () => id64) }));
    const huge = fifo('huge', { type: 'file', size: 1, content: Array.from({ length: 20_000 }, () => id64) });
    const blobs = new Blobs();
    const id = await write(blobs, [...fat, huge]);
    const chunkIds = chunksOf(blobs, id);
    expect(chunkIds.length).toBeGreaterThan(2);
    for (const c of chunkIds) {
      const b = blobs.map.get(c)!;
      const n = decodeTreeBlob(b, 'c');
      if (n.kind === 'nodes' && n.nodes.length > 1) expect(b.length).toBeLessThanOrEqual(TREE_CHUNK_MAX_BYTES);
    }
    expect(await read(blobs, id)).toEqual([...fat, huge].sort((a, b) => compareNames(a.name, b.name)));
    // One entry alone, however big, is one blob as before.
    const alone = new Blobs();
    const one = await write(alone, [huge]);
    expect(Buffer.compare(alone.map.get(one)!, encodeTree({ nodes: [huge] }))).toBe(0);
  });

  it('adding or removing one entry in a large directory rewrites at most two chunks', async () => {
    const base = names(50_000);
    const before = new Blobs();
    const baseChunks = new Set(chunksOf(before, await write(before, base)));
    for (const seed of [1, 7, 4242, 31337, 99_999]) {
      const at = seed % base.length;
      const plus = [...base, fifo(`${base[at]!.name}-new`)];
      const minus = base.filter((_, i) => i !== at);
      for (const variant of [plus, minus]) {
        const after = new Blobs();
        const chunks = chunksOf(after, await write(after, variant));
        const fresh = chunks.filter((c) => !baseChunks.has(c));
        expect(fresh.length, `seed ${seed}`).toBeGreaterThanOrEqual(1);
        expect(fresh.length, `seed ${seed}`).toBeLessThanOrEqual(2);
      }
    }
  });

  it('refuses entries out of order', async () => {
    const w = new TreeWriter(new Blobs());
    await w.add(fifo('b'));
    await expectCorrupt(w.add(fifo('a')), /out of order/);
    await expectCorrupt(w.add(fifo('b')), /out of order or repeated/);
  });

  it('reading refuses chunks out of order across a boundary, nested chunk lists, empty chunks and lists of one chunk', async () => {
    const blobs = new Blobs();
    const id = await write(blobs, names(10_000));
    const chunks = chunksOf(blobs, id);
    expect(chunks.length).toBeGreaterThan(3);
    const swapped = await blobs.save(encodeChunkList([chunks[1]!, chunks[0]!, ...chunks.slice(2)]));
    await expectCorrupt(read(blobs, swapped), new RegExp(`chunk ${chunks[0]} starts with`));
    const repeated = await blobs.save(encodeChunkList([chunks[0]!, chunks[0]!]));
    await expectCorrupt(read(blobs, repeated), /not after/);
    // Chunks in order, but the last name of one equals the first of the next.
    const overlap = await blobs.save(encodeNodeList([encodeNode(fifo('file-0000000')), encodeNode(fifo('zzz'))]));
    const overlapping = await blobs.save(encodeChunkList([chunks[0]!, overlap]));
    await expectCorrupt(read(blobs, overlapping), /not after/);
    const nested = await blobs.save(encodeChunkList([chunks[0]!, id]));
    await expectCorrupt(read(blobs, nested), /nested chunk lists are invalid/);
    const empty = await blobs.save(encodeNodeList([]));
    await expectCorrupt(read(blobs, await blobs.save(encodeChunkList([chunks[0]!, empty]))), /is empty/);
    await expectCorrupt(read(blobs, await blobs.save(new TextEncoder().encode(`{"chunks":["${chunks[0]}"]}`))), /at least 2/);
    await expectCorrupt(read(blobs, await blobs.save(new TextEncoder().encode(`{"chunks":[],"nodes":[]}`))), /.+/);
  });
});

describe(`chunked trees in a real repository (${policy})`, () => {
  const KDF: Argon2Params = { t: 1, mKiB: 8 * 1024, p: 1 };
  const PASSWORD = new TextEncoder().encode('tree stream test');

  it('written through the uploader, read back through the index; the first chunked tree raises an older repository to the current version', async () => {
    const { primitives } = await loadPrimitives(policy);
    const backend = new MemoryBackend('tree-stream');
    const init = await Repository.init(backend, primitives, PASSWORD, { kdf: KDF });
    expect(init.config.version).toBe(REPO_VERSION);
    await backend.save('config', seal(primitives, keysOf(init), encodeConfig({ ...init.config, version: 2 }), { suite: init.suite, zstdLevel: null }));
    const repo = await Repository.open(backend, primitives, PASSWORD);
    expect(repo.config.version).toBe(2);
    const index = await repo.loadIndex();
    const uploader = new BlobUploader(repo, index, { packTargetBytes: 4 * 1024 * 1024, writesInFlight: 2, indexEveryPacks: 16, sealedBytes: 64 * 1024 * 1024 });
    const store: TreeStore = {
      save: async (bytes) => {
        const id = Buffer.from(repo.p.blake3.keyedHash(keysOf(repo).blobId, bytes)).toString('hex') as BlobId;
        if (!uploader.claim(id)) return id;
        const sealed = seal(repo.p, keysOf(repo), bytes, { suite: repo.suite, zstdLevel: 3 });
        await uploader.sealedBudget.acquire(sealed.length);
        await uploader.add(BlobType.TREE, id, sealed, bytes.length, sealed.length);
        return id;
      },
      beforeChunked: chunkedTreeGuard(repo),
    };
    const small = await write(store, names(100));
    expect((await Repository.open(backend, primitives, PASSWORD)).config.version).toBe(2);
    const nodes = names(12_000);
    const big = await write(store, nodes);
    await uploader.flush();
    expect((await Repository.open(backend, primitives, PASSWORD)).config.version).toBe(REPO_VERSION);
    const fresh = await Repository.open(backend, primitives, PASSWORD);
    const idx = await fresh.loadIndex();
    expect(await collectTree(fresh, idx, big)).toEqual(nodes);
    expect((await fresh.loadTree(idx, small)).nodes).toEqual(names(100));
    const seen: BlobId[] = [];
    let count = 0;
    for await (const _ of treeEntries(fresh, idx, big, { onChunk: (c) => seen.push(c) })) count++;
    expect(count).toBe(nodes.length);
    expect(seen.length).toBeGreaterThan(3);
    for (const c of seen) expect(idx.lookup(c)?.type).toBe(BlobType.TREE);
  });
});
