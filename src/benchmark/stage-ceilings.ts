// The stage ceilings of `engine bench`'s pipeline section: each stage of a backup and of a restore
// measured alone on the same corpus (the `stages` step of pipeline-step.ts), so that a run's
// figures can be read against what each stage could do.
import { promises as fsp, openSync, writeSync, closeSync, constants as fsc } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';
import type { PrimitiveName, Primitives } from '../../native-bindings/types.js';
import { LocalBackend } from '../backend/local/local-backend.js';
import { MemoryBackend } from '../backend/memory/memory-backend.js';
import type { Backend } from '../backend/types.js';
import { mapLimit } from '../util/concurrency.js';
import type { Plan } from '../memory/planner.js';
import { Repository } from '../repository/repository.js';
import { startPool } from '../session/worker-pool.js';
import { toHex } from '../util/hex.js';
import type { Span } from '../../workers/protocol.js';
import { cpuSecondsSince, PASSWORD, planFor, session } from './step-session.js';
import type { StagesStepResult, StageTime, StepSpec } from './step-types.js';

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

/** The ceiling of each stage, measured alone on the corpus: read, chunk + hash, seal, store, load, unseal, write. */
export async function stagesStep(spec: StepSpec, p: Primitives, chosen: Record<PrimitiveName, string>): Promise<StagesStepResult> {
  const backend = new MemoryBackend('stages');
  const repo = await Repository.init(backend, p, PASSWORD, { kdf: spec.kdf });
  const s = session(repo, spec.policy, chosen);
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
      const bytes = new Uint8Array(size);
      let pos = 0;
      for (const part of parts) {
        bytes.set(part, pos);
        pos += part.length;
      }
      // Named as packs are spread over folders (by the first two hex digits of their hash), under
      // a folder of the stage's own: store and load see objects of a pack's size and spread
      // without the stage knowing the repository's layout or the pack's header.
      const hex = toHex(p.blake3.hash(bytes));
      packs.push({ name: `stages/${hex.slice(0, 2)}/${hex}`, bytes, blobs });
    }
    sealed.length = 0;
    const storedBytes = packs.reduce((n, pk) => n + pk.bytes.length, 0);

    // store and load, on each backend.
    let loaded: Uint8Array[] = [];
    for (const kind of ['memory', 'local'] as const) {
      const store: Backend = kind === 'memory' ? new MemoryBackend('stages') : new LocalBackend(join(spec.target, 'repo'));
      await store.createRoot();
      stages[`store.${kind}`] = {
        ...(await timed(async () => {
          await mapLimit(packs, plan.writesInFlight, (pk) => store.save(pk.name, pk.bytes));
        })),
        bytes: storedBytes,
        threads: plan.writesInFlight,
      };
      const out: Uint8Array[] = new Array<Uint8Array>(packs.length);
      stages[`load.${kind}`] = {
        ...(await timed(async () => {
          await mapLimit(packs.map((pk, i) => ({ pk, i })), plan.workers + 1, async ({ pk, i }) => {
            // One range over the pack's blobs, as restore reads a pack.
            out[i] = await store.load(pk.name, { offset: 0, length: pk.bytes.length });
          });
        })),
        bytes: storedBytes,
        threads: plan.workers + 1,
      };
      loaded = out;
      await store.close();
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
