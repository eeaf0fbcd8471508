// One step of the pipeline section of `engine bench`, run in a fresh process (so that its peak RSS,
// VmHWM, is its own): spawned by pipeline.ts as `node pipeline-step.js SPEC-JSON`, it prints one
// JSON line (StepResult) on stdout. Steps: a whole backup or restore with the real classes, or
// the stage ceilings measured one stage at a time on the same corpus.
import { promises as fsp, openSync, writeSync, closeSync, constants as fsc } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';
import { loadPrimitives } from '../../native-bindings/index.js';
import type { Argon2Params, NativePolicy, PrimitiveName, Primitives } from '../../native-bindings/types.js';
import { Archiver, snapshotSummary } from '../archiver/archiver.js';
import { LocalBackend } from '../backend/local/local-backend.js';
import { MemoryBackend } from '../backend/memory/memory-backend.js';
import type { Backend } from '../backend/types.js';
import { makeOutput } from '../cli/output.js';
import { memoryPlan, restoreLimits, startPool, type OpenSession } from '../cli/session.js';
import type { PackId } from '../format/ids.js';
import { ByteBudget, mapLimit } from '../pipeline/budget.js';
import type { Plan } from '../pipeline/planner.js';
import type { WorkerPool } from '../pipeline/pool.js';
import { BlobUploader } from '../repository/blob-uploader.js';
import { CONFIG_NAME, packName } from '../repository/layout.js';
import { Repository } from '../repository/repository.js';
import { Restorer } from '../restorer/restorer.js';
import { toHex } from '../util/hex.js';
import { peakRssBytes } from '../util/memory.js';
import type { Span } from '../../workers/protocol.js';
import type { PipelineBackend } from './types.js';

export interface StepSpec {
  readonly step: 'backup' | 'restore' | 'stages';
  readonly backend: PipelineBackend;
  readonly corpus: string;
  /** Local repository folder (backup local: created; restore: read, copied into memory for a memory run). */
  readonly repo: string;
  /** Restore target, or scratch folder of the stages step. */
  readonly target: string;
  readonly budgetBytes: number;
  readonly policy: NativePolicy;
  readonly kdf: Argon2Params;
}

export interface RunStepResult {
  readonly kind: 'run';
  /** From the pool ready to the snapshot saved / the last file restored. */
  readonly seconds: number;
  /** Starting the pool's threads and loading their primitives, before `seconds` starts. */
  readonly startSeconds: number;
  readonly cpuSeconds: number;
  readonly peakRssBytes: number;
  readonly backendBytes: number;
  readonly workers: number;
  readonly bytes: number;
  /** Busy milliseconds per stage during the run (pool stages: thread-milliseconds). */
  readonly busyMs: Readonly<Record<string, number>>;
}

export interface StageTime {
  readonly seconds: number;
  /** CPU time of the whole process (every thread) while the stage ran alone. */
  readonly cpuSeconds: number;
  readonly bytes: number;
  readonly threads: number;
}

export interface StagesStepResult {
  readonly kind: 'stages';
  readonly workers: number;
  /** Cores the process may use (os.availableParallelism): what every stage of a run shares. */
  readonly cores: number;
  readonly stages: Readonly<Record<string, StageTime>>;
}

export type StepResult = RunStepResult | StagesStepResult;

const PASSWORD = new TextEncoder().encode('engine bench');

async function session(repo: Repository, policy: NativePolicy, chosen: Record<PrimitiveName, string>): Promise<OpenSession> {
  return { repo, remote: false, chosen, fallback: policy === 'fallback', indexCacheDir: null };
}

function planFor(s: OpenSession, budgetBytes: number): Plan {
  return memoryPlan(s, String(budgetBytes), makeOutput({ json: false, verbose: false }));
}

/**
 * The pool started and every thread ready before the clock starts, as for the stages alone: the
 * figures compare steady pipelines, and the start (a fixed cost, ~0.1 s) is reported apart.
 */
async function warmPool(s: OpenSession, threads: number, verifyAfterSeal: boolean): Promise<{ pool: WorkerPool; startSeconds: number; warmBusy: number }> {
  const t0 = performance.now();
  const pool = startPool(s, threads, verifyAfterSeal);
  await pool.warmUp();
  return { pool, startSeconds: (performance.now() - t0) / 1000, warmBusy: pool.busy.busyMs('chunkHash') };
}

function cpuSecondsSince(c0: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e6;
}

/** The result of a backup or restore run whose clock started at t0 / c0: wall, CPU and peak RSS now. */
function runResult(t0: number, c0: NodeJS.CpuUsage, r: { startSeconds: number; backend: Backend; workers: number; bytes: number; busyMs: Record<string, number> }): RunStepResult {
  return {
    kind: 'run',
    seconds: (performance.now() - t0) / 1000,
    startSeconds: r.startSeconds,
    cpuSeconds: cpuSecondsSince(c0),
    peakRssBytes: peakRssBytes(),
    backendBytes: r.backend instanceof MemoryBackend ? r.backend.bytes : 0,
    workers: r.workers,
    bytes: r.bytes,
    busyMs: r.busyMs,
  };
}

/** Copies every object of a local repository into a memory backend. */
async function loadIntoMemory(dir: string): Promise<MemoryBackend> {
  const local = new LocalBackend(dir);
  const mem = new MemoryBackend('bench');
  await mem.save(CONFIG_NAME, await local.load(CONFIG_NAME));
  for (const prefix of ['keys/', 'index/', 'snapshots/', 'data/']) {
    for await (const o of local.list(prefix)) await mem.save(o.name, await local.load(o.name));
  }
  return mem;
}

async function backupStep(spec: StepSpec, p: Primitives, chosen: Record<PrimitiveName, string>): Promise<RunStepResult> {
  const backend: Backend = spec.backend === 'memory' ? new MemoryBackend('bench') : new LocalBackend(spec.repo);
  const repo = await Repository.init(backend, p, PASSWORD, { kdf: spec.kdf });
  const s = await session(repo, spec.policy, chosen);
  const plan = planFor(s, spec.budgetBytes);
  const { pool, startSeconds, warmBusy } = await warmPool(s, plan.workers, true);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const index = await repo.loadIndex();
  const sealedBudget = new ByteBudget('sealed', plan.sealedBytes);
  const uploader = new BlobUploader(repo, index, { packTargetBytes: plan.packTargetBytes, writesInFlight: plan.writesInFlight, indexEveryPacks: 16, sealedBudget });
  const archiver = new Archiver(repo, index, pool, uploader, sealedBudget, {
    plan,
    onProblem: (pr) => {
      throw new Error(`${pr.path}: ${pr.message}`);
    },
  });
  let busyMs: Record<string, number>;
  try {
    const tree = await archiver.run([spec.corpus], null);
    await uploader.flush();
    const c = archiver.counters;
    const u = uploader.stats;
    await repo.saveSnapshot({
      version: 1,
      time: new Date().toISOString(),
      tree,
      paths: [spec.corpus],
      hostname: 'bench',
      username: 'bench',
      uid: -1,
      gid: -1,
      tags: [],
      summary: snapshotSummary(c, u, 0, (performance.now() - t0) / 1000),
    });
    busyMs = { read: archiver.readBusy.busyMs(), chunkHash: pool.busy.busyMs('chunkHash') - warmBusy, seal: pool.busy.busyMs('seal'), store: uploader.storeBusy.busyMs() };
  } finally {
    await pool.close();
  }
  return runResult(t0, c0, { startSeconds, backend, workers: plan.workers, bytes: uploader.stats.bytesAddedStored, busyMs });
}

async function restoreStep(spec: StepSpec, p: Primitives, chosen: Record<PrimitiveName, string>): Promise<RunStepResult> {
  const backend: Backend = spec.backend === 'memory' ? await loadIntoMemory(spec.repo) : new LocalBackend(spec.repo);
  const repo = await Repository.open(backend, p, PASSWORD);
  const s = await session(repo, spec.policy, chosen);
  const plan = planFor(s, spec.budgetBytes);
  const { pool, startSeconds } = await warmPool(s, plan.workers, false);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const index = await repo.loadIndex();
  const { snapshot } = await repo.resolveSnapshot('latest');
  const root = await repo.loadTree(index, snapshot.tree);
  // With the limits of `engine restore` on a local repository.
  const restorer = new Restorer(repo, index, pool, {
    include: [],
    ...restoreLimits(s, plan),
    restoreOwnership: false,
    onProblem: (pr) => {
      throw new Error(`${pr.path}: ${pr.message}`);
    },
  });
  let busyMs: Record<string, number>;
  try {
    await restorer.run(root, spec.target);
    busyMs = { load: restorer.loadBusy.busyMs(), unseal: pool.busy.busyMs('unseal'), write: restorer.writeBusy.busyMs() };
  } finally {
    await pool.close();
  }
  return runResult(t0, c0, { startSeconds, backend, workers: plan.workers, bytes: restorer.counters.bytesWritten, busyMs });
}

// --- stage ceilings ---------------------------------------------------------------------------

interface Piece {
  readonly file: number;
  /** Offset in the file. */
  readonly offset: number;
  readonly length: number;
  /** Where the bytes sit in the segment. */
  readonly start: number;
}

interface Segment {
  readonly bytes: Uint8Array;
  readonly pieces: Piece[];
}

async function listFiles(dir: string): Promise<{ path: string; size: number }[]> {
  const out: { path: string; size: number }[] = [];
  const walk = async (d: string): Promise<void> => {
    const entries = await fsp.readdir(d, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of entries) {
      const full = join(d, e.name);
      if (e.isDirectory()) await walk(full);
      else if (e.isFile()) out.push({ path: full, size: (await fsp.stat(full)).size });
    }
  };
  await walk(dir);
  return out;
}

/** Small files batched as the archiver batches them; larger files in segment-sized pieces. */
function layout(files: readonly { size: number }[], plan: Plan, minChunk: number): Segment[] {
  const segs: Segment[] = [];
  let batch: Piece[] = [];
  let batchBytes = 0;
  const flush = (): void => {
    if (batch.length === 0) return;
    segs.push({ bytes: new Uint8Array(new SharedArrayBuffer(Math.max(1, batchBytes))), pieces: batch });
    batch = [];
    batchBytes = 0;
  };
  files.forEach((f, i) => {
    if (f.size <= minChunk) {
      batch.push({ file: i, offset: 0, length: f.size, start: batchBytes });
      batchBytes += f.size;
      if (batch.length >= 128 || batchBytes >= 2 * 1024 * 1024) flush();
      return;
    }
    for (let off = 0; off < f.size; off += plan.segmentBytes) {
      const length = Math.min(plan.segmentBytes, f.size - off);
      segs.push({ bytes: new Uint8Array(new SharedArrayBuffer(length)), pieces: [{ file: i, offset: off, length, start: 0 }] });
    }
  });
  flush();
  return segs;
}

/** Wall and CPU seconds (process-wide: workers and libuv threads included) of one stage alone. */
async function timed(fn: () => Promise<void>): Promise<{ seconds: number; cpuSeconds: number }> {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await fn();
  return { seconds: (performance.now() - t0) / 1000, cpuSeconds: cpuSecondsSince(c0) };
}

async function readPiece(path: string, piece: Piece, into: Uint8Array): Promise<void> {
  const fh = await fsp.open(path, 'r');
  try {
    let got = 0;
    while (got < piece.length) {
      const { bytesRead } = await fh.read(into, piece.start + got, piece.length - got, piece.offset + got);
      if (bytesRead === 0) throw new Error(`${path}: shorter than expected`);
      got += bytesRead;
    }
  } finally {
    await fh.close();
  }
}

interface Pack {
  readonly name: string;
  readonly bytes: Uint8Array;
  readonly blobs: { offset: number; length: number; rawLength: number; id: string }[];
}

async function stagesStep(spec: StepSpec, p: Primitives, chosen: Record<PrimitiveName, string>): Promise<StagesStepResult> {
  const repo = await Repository.init(new MemoryBackend('stages'), p, PASSWORD, { kdf: spec.kdf });
  const s = await session(repo, spec.policy, chosen);
  const plan = planFor(s, spec.budgetBytes);
  const threads = plan.workers;
  const inFlight = 2 * threads;
  const stages: Record<string, StageTime> = {};
  const files = await listFiles(spec.corpus);
  const corpusBytes = files.reduce((n, f) => n + f.size, 0);
  const segs = layout(files, plan, repo.config.chunker.minSize);

  // read: every file, fileConcurrency files at once, as the archiver does.
  const byFile = new Map<number, { seg: Segment; piece: Piece }[]>();
  for (const seg of segs) for (const piece of seg.pieces) byFile.set(piece.file, [...(byFile.get(piece.file) ?? []), { seg, piece }]);
  const fileJobs = [...byFile.entries()];
  stages.read = {
    ...(await timed(async () => {
      await mapLimit(fileJobs, plan.fileConcurrency, async ([i, parts]) => {
        for (const { seg, piece } of parts) await readPiece(files[i]!.path, piece, seg.bytes);
      });
    })),
    bytes: corpusBytes,
    threads: plan.fileConcurrency,
  };

  const pool = startPool(s, threads, true);
  try {
    // Warm-up: every worker started and its primitives loaded before anything is timed.
    await pool.warmUp();
    // chunk + hash: every segment on the pool.
    const chunked: { seg: Segment; ends: number[][]; ids: Uint8Array[] }[] = [];
    stages.chunkHash = {
      ...(await timed(async () => {
        await mapLimit(segs, inFlight, async (seg) => {
          const spans: Span[] = seg.pieces.map((pc) => ({ start: pc.start, end: pc.start + pc.length, final: true }));
          const out = await pool.chunkHash({ segment: seg.bytes, spans });
          chunked.push({ seg, ends: out.spans.map((sp) => sp.ends), ids: out.spans.map((sp) => sp.ids) });
        });
      })),
      bytes: corpusBytes,
      threads,
    };

    // dedup, then seal (compress + encrypt + verify) the unique chunks on the pool.
    const seen = new Set<string>();
    const sealJobs: { seg: Segment; ranges: number[]; ids: Uint8Array[] }[] = [];
    let sealBytes = 0;
    for (const c of chunked) {
      const ranges: number[] = [];
      const ids: Uint8Array[] = [];
      c.seg.pieces.forEach((pc, k) => {
        let prev = pc.start;
        (c.ends[k] ?? []).forEach((end, j) => {
          const id = c.ids[k]!.subarray(32 * j, 32 * j + 32);
          const hex = toHex(id);
          if (!seen.has(hex)) {
            seen.add(hex);
            ranges.push(prev, end - prev);
            ids.push(id);
            sealBytes += end - prev;
          }
          prev = end;
        });
      });
      if (ranges.length > 0) sealJobs.push({ seg: c.seg, ranges, ids });
    }
    const sealed: { sealed: Uint8Array; raw: number; id: string }[] = [];
    stages.seal = {
      ...(await timed(async () => {
        await mapLimit(sealJobs, inFlight, async (j) => {
          const idBytes = new Uint8Array(32 * j.ids.length);
          j.ids.forEach((id, i) => idBytes.set(id, 32 * i));
          const out = await pool.seal({ segment: j.seg.bytes, ranges: Uint32Array.from(j.ranges), ids: idBytes });
          const view = new DataView(out);
          const count = view.getUint32(0, true);
          let pos = 4 + 4 * count;
          for (let i = 0; i < count; i++) {
            const len = view.getUint32(4 + 4 * i, true);
            sealed.push({ sealed: new Uint8Array(out, pos, len), raw: j.ranges[2 * i + 1]!, id: toHex(j.ids[i]!) });
            pos += len;
          }
        });
      })),
      bytes: sealBytes,
      threads,
    };

    // Packs of the plan's size, made of the sealed blobs (built before the store is timed).
    const packs: Pack[] = [];
    for (let i = 0; i < sealed.length; ) {
      const blobs: Pack['blobs'] = [];
      const parts: Uint8Array[] = [];
      let size = 0;
      while (i < sealed.length && (size === 0 || size < plan.packTargetBytes)) {
        const b = sealed[i++]!;
        blobs.push({ offset: size, length: b.sealed.length, rawLength: b.raw, id: b.id });
        parts.push(b.sealed);
        size += b.sealed.length;
      }
      const bytes = new Uint8Array(size + 4);
      let pos = 0;
      for (const part of parts) {
        bytes.set(part, pos);
        pos += part.length;
      }
      packs.push({ name: packName(toHex(p.blake3.hash(bytes)) as PackId), bytes, blobs });
    }
    sealed.length = 0;
    const storedBytes = packs.reduce((n, pk) => n + pk.bytes.length, 0);

    // store and load, on each backend.
    let loaded: Uint8Array[] = [];
    for (const kind of ['memory', 'local'] as const) {
      const backend: Backend = kind === 'memory' ? new MemoryBackend('stages') : new LocalBackend(join(spec.target, 'repo'));
      await backend.createRoot();
      stages[`store.${kind}`] = {
        ...(await timed(async () => {
          await mapLimit(packs, plan.writesInFlight, (pk) => backend.save(pk.name, pk.bytes));
        })),
        bytes: storedBytes,
        threads: plan.writesInFlight,
      };
      const out: Uint8Array[] = new Array<Uint8Array>(packs.length);
      stages[`load.${kind}`] = {
        ...(await timed(async () => {
          await mapLimit(packs.map((pk, i) => ({ pk, i })), plan.workers + 1, async ({ pk, i }) => {
            out[i] = await backend.load(pk.name, { offset: 0, length: pk.bytes.length - 4 });
          });
        })),
        bytes: storedBytes,
        threads: plan.workers + 1,
      };
      loaded = out;
      await backend.close();
    }

    // unseal (decrypt + decompress + verify) the loaded packs on the pool.
    stages.unseal = {
      ...(await timed(async () => {
        await mapLimit(packs.map((pk, i) => ({ pk, i })), inFlight, async ({ pk, i }) => {
          await pool.unseal({ packBytes: loaded[i]!, blobs: pk.blobs });
        });
      })),
      bytes: storedBytes,
      threads,
    };
    loaded = [];
  } finally {
    await pool.close();
  }

  // write: the corpus into a fresh folder, as the restorer writes (one-piece files synchronously).
  const out = join(spec.target, 'write');
  const dirs = new Set(files.map((f) => join(out, relative(spec.corpus, f.path), '..')));
  for (const d of dirs) await fsp.mkdir(d, { recursive: true });
  const flags = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC;
  stages.write = {
    ...(await timed(async () => {
      await mapLimit(fileJobs, 4, async ([i, parts]) => {
        const path = join(out, relative(spec.corpus, files[i]!.path));
        if (parts.length === 1) {
          const { seg, piece } = parts[0]!;
          const fd = openSync(path, flags, 0o600);
          try {
            for (let done = 0; done < piece.length; ) done += writeSync(fd, seg.bytes, piece.start + done, piece.length - done, done);
          } finally {
            closeSync(fd);
          }
          return;
        }
        const fh = await fsp.open(path, flags, 0o600);
        try {
          await fh.truncate(files[i]!.size);
          await Promise.all(
            parts.map(async ({ seg, piece }) => {
              for (let done = 0; done < piece.length; ) done += (await fh.write(seg.bytes, piece.start + done, piece.length - done, piece.offset + done)).bytesWritten;
            }),
          );
        } finally {
          await fh.close();
        }
      });
    })),
    bytes: corpusBytes,
    threads: 4,
  };
  return { kind: 'stages', workers: threads, cores: availableParallelism(), stages };
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '') as StepSpec;
  const { primitives: p, report } = await loadPrimitives(spec.policy);
  const chosen = Object.fromEntries(report.map((r) => [r.primitive, r.chosen])) as Record<PrimitiveName, string>;
  const result = spec.step === 'backup' ? await backupStep(spec, p, chosen) : spec.step === 'restore' ? await restoreStep(spec, p, chosen) : await stagesStep(spec, p, chosen);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
