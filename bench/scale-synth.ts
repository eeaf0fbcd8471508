// The scale benchmark's synthetic repository (layout: bench/scale-layout.ts), written with the
// repository's own keys and code: real data blobs sealed into real packs (on worker threads,
// bench/scale-synth-worker.ts), index objects of ~100,000 blobs, trees written by the TreeWriter
// backup uses (chunked where a directory is big), and snapshots. Everything is ordered as a backup
// orders it (FORMAT.md): packs stored, then the index objects naming them, then the snapshots.
//
// One pass in blob order: data packs come back from the threads in any order and are taken in
// pack order; a file's content list is complete when its last blob is, a directory's trees (one
// per distinct set of its files that some snapshot holds) are written once its last file is, and
// only that directory's entries are held meanwhile.
import { availableParallelism } from 'node:os';
import { writeFile } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { loadPrimitives } from '../native-bindings/index.js';
import { LocalBackend } from '../src/backend/local/local-backend.js';
import { type BlobId, BlobType, type SnapshotId } from '../src/format/ids.js';
import type { TreeNode } from '../src/format/tree.js';
import type { PackInput } from '../src/repository/pack-store.js';
import { Repository } from '../src/repository/repository.js';
import { chunkedTreeGuard, TreeWriter, type TreeStore } from '../src/repository/tree-stream.js';
import { SAMPLE_RECORD_BYTES, writeSampleRecord } from './scale-ids.js';
import { BLOBS_PER_FILE, BLOBS_PER_INDEX_OBJECT, BLOBS_PER_PACK, blobsOfFile, layoutOf, SNAPSHOTS, snapshotsOfFile, type Layout } from './scale-layout.js';
import { ENTRY_BYTES, type PackDone, type PackTask, type SynthWorkerData } from './scale-synth-worker.js';

export interface SynthOptions {
  repo: string;
  password: string;
  blobs: number;
  /** The compiled worker (dist/bench/scale-synth-worker.js). */
  workerScript: string;
  /** Blobs whose location is recorded (SAMPLE_RECORD_BYTES each) in sampleFile. */
  sampleCount: number;
  sampleFile: string;
  threads?: number;
}

export interface SynthResult {
  seconds: number;
  layout: Layout;
  /** Synthetic snapshots, oldest first. */
  snapshots: SnapshotId[];
  dataPacks: number;
  treePacks: number;
  treeBlobs: number;
  treeBytes: number;
  indexObjects: number;
  sampled: number;
}

const TREE_PACK_BYTES = 4 * 1024 * 1024;
/** Packs asked of each thread at once: one being sealed, the next queued. */
const TASKS_PER_THREAD = 3;
const SNAPSHOT_DAY_MS = 24 * 3600 * 1000;
/** The synthetic history ends before any real backup of the benchmark: `latest` is the benchmark's. */
const HISTORY_START = Date.parse('2024-01-01T00:00:00Z');
export const SYNTHETIC_HOST = 'scale-synthetic';
export const SYNTHETIC_PATH = '/synthetic';

/** Index objects as the format lays them out (FORMAT.md "Index objects"), packs appended as they are stored. */
class IndexWriter {
  private packs: Buffer[] = [];
  private blobs = 0;
  objects = 0;
  private readonly repo: Repository;
  constructor(repo: Repository) {
    this.repo = repo;
  }

  async add(type: BlobType, packId: Uint8Array, entries: Uint8Array, count: number): Promise<void> {
    if (this.blobs > 0 && this.blobs + count > BLOBS_PER_INDEX_OBJECT) await this.flush();
    const p = Buffer.alloc(36 + count * 45);
    p.set(packId, 0);
    p.writeUInt32LE(count, 32);
    for (let k = 0; k < count; k++) {
      p[36 + k * 45] = type;
      p.set(entries.subarray(k * ENTRY_BYTES, (k + 1) * ENTRY_BYTES), 37 + k * 45);
    }
    this.packs.push(p);
    this.blobs += count;
  }

  async flush(): Promise<void> {
    if (this.packs.length === 0) return;
    const head = Buffer.alloc(12);
    head.write('EIX1', 0, 'latin1');
    head.writeUInt32LE(0, 4);
    head.writeUInt32LE(this.packs.length, 8);
    await this.repo.saveEncodedIndexObject(Buffer.concat([head, ...this.packs]));
    this.packs = [];
    this.blobs = 0;
    this.objects++;
  }
}

/** Tree blobs, stored once each, sealed here and packed apart from data (as a backup does). */
class TreePacker implements TreeStore {
  private pending: PackInput[] = [];
  private bytes = 0;
  private readonly seen = new Set<string>();
  packs = 0;
  blobs = 0;
  rawBytes = 0;
  readonly beforeChunked: () => Promise<void>;
  private readonly repo: Repository;
  private readonly index: IndexWriter;
  constructor(repo: Repository, index: IndexWriter) {
    this.repo = repo;
    this.index = index;
    this.beforeChunked = chunkedTreeGuard(repo);
  }

  async save(bytes: Uint8Array): Promise<BlobId> {
    const id = this.repo.blobIdOf(bytes);
    if (this.seen.has(id)) return id;
    this.seen.add(id);
    const sealed = this.repo.sealBlob(bytes);
    this.pending.push({ type: BlobType.TREE, id, sealed, rawLength: bytes.length });
    this.bytes += sealed.length;
    this.blobs++;
    this.rawBytes += bytes.length;
    if (this.bytes >= TREE_PACK_BYTES) await this.flush();
    return id;
  }

  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const built = this.repo.packs.build(this.pending);
    await this.repo.packs.save(built.packId, built.bytes);
    const entries = Buffer.alloc(built.blobs.length * ENTRY_BYTES);
    built.blobs.forEach((b, k) => {
      entries.write(b.id, k * ENTRY_BYTES, 'hex');
      entries.writeUInt32LE(b.offset, k * ENTRY_BYTES + 32);
      entries.writeUInt32LE(b.length, k * ENTRY_BYTES + 36);
      entries.writeUInt32LE(b.rawLength, k * ENTRY_BYTES + 40);
    });
    await this.index.add(BlobType.TREE, Buffer.from(built.packId, 'hex'), entries, built.blobs.length);
    this.pending = [];
    this.bytes = 0;
    this.packs++;
  }
}

const pad = (n: number, width = 9): string => String(n).padStart(width, '0');
const mtimeNs = (n: number): string => String(BigInt(HISTORY_START + n * 1000) * 1_000_000n);

function fileNode(f: number, content: BlobId[], size: number): TreeNode {
  return { name: `file-${pad(f)}`, type: 'file', mode: 0o644, mtimeNs: mtimeNs(f), ctimeNs: mtimeNs(f), uid: 1000, gid: 1000, deviceId: '2049', inode: String(1000 + f), links: 1, size, content };
}

function dirNode(d: number, subtree: BlobId): TreeNode {
  return { name: `dir-${pad(d, 6)}`, type: 'dir', mode: 0o755, mtimeNs: mtimeNs(d), ctimeNs: mtimeNs(d), uid: 1000, gid: 1000, deviceId: '2049', inode: String(d + 1), links: 2, subtree };
}

/** Runs `count` pack tasks on threads; `onPack` gets each result in pack order. */
async function packsOnThreads(o: SynthOptions, count: number, task: (pack: number) => PackTask, onPack: (done: PackDone) => Promise<void>): Promise<void> {
  const threads = Math.max(1, Math.min(o.threads ?? availableParallelism(), count));
  const data: SynthWorkerData = { repo: o.repo, password: o.password, blobs: o.blobs };
  const workers = Array.from({ length: threads }, () => new Worker(o.workerScript, { workerData: data }));
  const done = new Map<number, PackDone>();
  let next = 0;
  let taken = 0;
  let failure: Error | null = null;
  let wake: (() => void) | null = null;
  const send = (w: Worker): void => {
    if (next < count) w.postMessage(task(next++));
  };
  try {
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((ready, fail) => {
            w.on('error', (e) => {
              failure ??= e;
              fail(e);
              wake?.();
            });
            w.on('message', (m: PackDone | { ready: true } | { error: string }) => {
              if ('error' in m) {
                failure ??= new Error(`synthesis thread: ${m.error}`);
                fail(failure);
              } else if ('ready' in m) {
                for (let k = 0; k < TASKS_PER_THREAD; k++) send(w);
                ready();
              } else {
                done.set(m.pack, m);
                send(w);
              }
              wake?.();
            });
          }),
      ),
    );
    while (taken < count) {
      if (failure) throw failure;
      const d = done.get(taken);
      if (!d) {
        await new Promise<void>((r) => (wake = r));
        wake = null;
        continue;
      }
      done.delete(taken++);
      await onPack(d);
    }
    if (failure) throw failure;
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

export async function synthesizeRepository(o: SynthOptions, note: (m: string) => void): Promise<SynthResult> {
  const t0 = performance.now();
  const l = layoutOf(o.blobs);
  const { primitives } = await loadPrimitives(process.env.ENGINE_NATIVE === 'off' ? 'fallback' : 'auto');
  const repo = await Repository.open(new LocalBackend(o.repo), primitives, new TextEncoder().encode(o.password));
  const index = new IndexWriter(repo);
  const trees = new TreePacker(repo, index);

  // The sampled blobs, in blob order.
  const sample = Float64Array.from({ length: o.blobs > 0 ? o.sampleCount : 0 }, () => Math.floor(Math.random() * o.blobs)).sort();
  const sampleOut = Buffer.alloc(sample.length * SAMPLE_RECORD_BYTES);
  let sampled = 0;

  // Per snapshot, the tree of each directory it holds; per directory, the file nodes so far.
  const dirTrees: (BlobId | null)[][] = Array.from({ length: SNAPSHOTS }, () => new Array<BlobId | null>(l.dirs).fill(null));
  let dirFiles: { f: number; node: TreeNode }[] = [];
  let content: BlobId[] = [];
  let size = 0;

  const endDir = async (d: number): Promise<void> => {
    // One tree per distinct set of this directory's files that some snapshot holds.
    const bySet = new Map<string, BlobId>();
    for (let s = 0; s < SNAPSHOTS; s++) {
      const held = dirFiles.filter(({ f }) => {
        const r = snapshotsOfFile(l, f);
        return s >= r.first && s <= r.last;
      });
      if (held.length === 0) continue;
      const key = held.map((h) => h.f).join(',');
      let id = bySet.get(key);
      if (!id) {
        const w = new TreeWriter(trees);
        for (const h of held) await w.add(h.node);
        id = await w.finish();
        bySet.set(key, id);
      }
      dirTrees[s]![d] = id;
    }
    dirFiles = [];
  };

  const onPack = async (p: PackDone): Promise<void> => {
    const first = p.pack * BLOBS_PER_PACK;
    const count = p.entries.length / ENTRY_BYTES;
    const entries = Buffer.from(p.entries.buffer, p.entries.byteOffset, p.entries.byteLength);
    for (let k = 0; k < count; k++) {
      const i = first + k;
      const at = k * ENTRY_BYTES;
      content.push(entries.toString('hex', at, at + 32) as BlobId);
      size += entries.readUInt32LE(at + 40);
      while (sampled < sample.length && sample[sampled] === i) {
        writeSampleRecord(sampleOut, sampled++, entries.subarray(at, at + 32), p.packId, entries.readUInt32LE(at + 32), entries.readUInt32LE(at + 36), entries.readUInt32LE(at + 40));
      }
      const f = Math.floor(i / BLOBS_PER_FILE);
      const fb = blobsOfFile(l, f);
      if (i === fb.first + fb.count - 1) {
        dirFiles.push({ f, node: fileNode(f, content, size) });
        content = [];
        size = 0;
        const d = Math.floor(f / l.filesPerDir);
        if (f === Math.min(l.files, (d + 1) * l.filesPerDir) - 1) await endDir(d);
      }
    }
    await index.add(BlobType.DATA, p.packId, entries, count);
    if (p.pack % 500 === 499) note(`  ${first + count} of ${o.blobs} synthetic blobs stored (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  };
  await packsOnThreads(o, l.packs, (pack) => ({ pack, first: pack * BLOBS_PER_PACK, count: Math.min(BLOBS_PER_PACK, o.blobs - pack * BLOBS_PER_PACK) }), onPack);

  // Each snapshot's top tree: the directories it holds.
  const roots: BlobId[] = [];
  for (let s = 0; s < SNAPSHOTS; s++) {
    const w = new TreeWriter(trees);
    for (let d = 0; d < l.dirs; d++) {
      const id = dirTrees[s]![d];
      if (id) await w.add(dirNode(d, id));
    }
    roots.push(await w.finish());
  }
  await trees.flush();
  await index.flush();
  const snapshots: SnapshotId[] = [];
  for (let s = 0; s < SNAPSHOTS; s++) {
    snapshots.push(
      await repo.saveSnapshot({
        version: 1,
        time: new Date(HISTORY_START + s * SNAPSHOT_DAY_MS).toISOString(),
        tree: roots[s]!,
        paths: [SYNTHETIC_PATH],
        hostname: SYNTHETIC_HOST,
        username: 'scale',
        uid: 1000,
        gid: 1000,
        tags: [],
        ...(s > 0 ? { parent: snapshots[s - 1]! } : {}),
        summary: { filesNew: 0, filesChanged: 0, filesUnmodified: 0, dirs: 0, bytesRead: 0, filesRead: 0, totalBytes: 0, blobsNew: 0, bytesAddedRaw: 0, bytesAddedStored: 0, errors: 0, durationSeconds: 0 },
      }),
    );
  }
  await writeFile(o.sampleFile, sampleOut.subarray(0, sampled * SAMPLE_RECORD_BYTES));
  return {
    seconds: (performance.now() - t0) / 1000,
    layout: l,
    snapshots,
    dataPacks: l.packs,
    treePacks: trees.packs,
    treeBlobs: trees.blobs,
    treeBytes: trees.rawBytes,
    indexObjects: index.objects,
    sampled,
  };
}
