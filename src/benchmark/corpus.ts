// A mixed, realistic-looking corpus for benchmarks, deterministic from a seed:
//   ~40% compressible text (lines of words; zstd shrinks it ~3-4x)
//   ~35% incompressible random data
//   ~15% duplicates of earlier files: exact copies, copies with a few bytes changed in the middle,
//        and copies with bytes inserted near the start (which shifts every later byte, so only
//        content-defined chunking finds the shared data)
//   ~5%  many small files (0-32 KiB; 10-20k files at 2 GiB) over a few hundred directories
//   ~5%  "mixed" files alternating text and random segments, like archives or office documents
// plus a few large files (100-300 MiB each when totalBytes >= 1 GiB; smaller for smaller corpora),
// counted within the shares above. Random data comes from src/benchmark/prng.ts at ~3 GB/s, so generation
// is bound by the disk, not the CPU.

import fs from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Prng, TextGen } from './prng.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const BLOCK = 4 * MiB;

export interface CorpusOptions {
  seed: number;
  /** Approximate total size of the corpus in bytes (the result is within ~1%). */
  totalBytes: number;
  /** Called now and then with the number of bytes written so far. */
  onProgress?: (bytesWritten: number, totalBytes: number) => void;
}

export interface CorpusStats {
  /** Regular files written. */
  files: number;
  dirs: number;
  /** Total bytes of all files. */
  bytes: number;
  textBytes: number;
  randomBytes: number;
  mixedBytes: number;
  duplicateBytes: number;
  smallFiles: number;
  smallBytes: number;
  /** Sizes of the large files, in bytes. */
  largeFiles: number[];
  seconds: number;
}

type Kind = 'text' | 'random' | 'mixed';

interface Written {
  rel: string;
  size: number;
  kind: Kind;
}

/** Create the corpus in dir (created if missing; should be empty). */
export async function makeMixedCorpus(dir: string, opts: CorpusOptions): Promise<CorpusStats> {
  const t0 = performance.now();
  const total = Math.max(4 * MiB, Math.floor(opts.totalBytes));
  const root = new Prng(opts.seed);
  const rng = root.fork('layout');
  const dirsMade = new Set<string>();
  const stats: CorpusStats = {
    files: 0,
    dirs: 0,
    bytes: 0,
    textBytes: 0,
    randomBytes: 0,
    mixedBytes: 0,
    duplicateBytes: 0,
    smallFiles: 0,
    smallBytes: 0,
    largeFiles: [],
    seconds: 0,
  };
  let lastProgress = 0;
  const progress = (): void => {
    if (opts.onProgress && (stats.bytes - lastProgress >= 64 * MiB || stats.bytes >= total)) {
      lastProgress = stats.bytes;
      opts.onProgress(stats.bytes, total);
    }
  };
  const ensureDir = async (rel: string): Promise<void> => {
    if (dirsMade.has(rel)) return;
    await fs.mkdir(path.join(dir, rel), { recursive: true });
    // Count every new ancestor once.
    for (let p = rel; p && p !== '.' && !dirsMade.has(p); p = path.dirname(p)) {
      dirsMade.add(p);
      stats.dirs++;
    }
  };
  await fs.mkdir(dir, { recursive: true });

  const budget = {
    text: total * 0.4,
    random: total * 0.35,
    mixed: total * 0.05,
    dup: total * 0.15,
    small: total * 0.05,
  };
  const written: Written[] = [];
  let fileNo = 0;

  const generate = async (rel: string, size: number, kind: Kind): Promise<void> => {
    await ensureDir(path.dirname(rel));
    const data = root.fork(`data:${rel}`);
    await writeGenerated(path.join(dir, rel), size, filler(kind, data));
    written.push({ rel, size, kind });
    stats.files++;
    stats.bytes += size;
    if (kind === 'text') stats.textBytes += size;
    else if (kind === 'random') stats.randomBytes += size;
    else stats.mixedBytes += size;
    progress();
  };

  // --- a few large files -------------------------------------------------------------------------
  const large: Array<{ size: number; kind: Kind }> = [];
  if (total >= 1 * GiB) {
    const count = Math.max(2, Math.min(4, Math.round(total / (700 * MiB))));
    for (let i = 0; i < count; i++) {
      large.push({ size: rng.logRange(100 * MiB, Math.min(300 * MiB, total * 0.15)), kind: i % 2 === 0 ? 'random' : 'text' });
    }
  } else {
    large.push({ size: rng.logRange(Math.floor(total * 0.05), Math.floor(total * 0.1)), kind: 'random' });
    large.push({ size: rng.logRange(Math.floor(total * 0.04), Math.floor(total * 0.08)), kind: 'text' });
  }
  for (const [i, f] of large.entries()) {
    const size = Math.min(f.size, Math.floor(budget[f.kind]));
    budget[f.kind] -= size;
    await generate(`large/${f.kind}-${i}.${f.kind === 'text' ? 'log' : 'bin'}`, size, f.kind);
    stats.largeFiles.push(size);
  }

  // --- medium files: text, random and mixed, interleaved -----------------------------------------
  const maxMedium = Math.max(256 * KiB, Math.min(32 * MiB, Math.floor(total * 0.02)));
  const ext: Record<Kind, string[]> = {
    text: ['txt', 'log', 'ts', 'c', 'md', 'csv', 'json'],
    random: ['jpg', 'zst', 'mp4', 'bin', 'gz'],
    mixed: ['pdf', 'docx', 'tar', 'sqlite'],
  };
  for (;;) {
    const open = (['text', 'random', 'mixed'] as const).filter((k) => budget[k] >= 16 * KiB);
    if (open.length === 0) break;
    // Weight by what is left, so the three run out together.
    const left = open.reduce((s, k) => s + budget[k], 0);
    let r = rng.float() * left;
    let kind: Kind = open[open.length - 1]!;
    for (const k of open) {
      if (r < budget[k]) {
        kind = k;
        break;
      }
      r -= budget[k];
    }
    const size = Math.min(Math.floor(budget[kind]), rng.logRange(16 * KiB, kind === 'mixed' ? Math.min(maxMedium, 16 * MiB) : maxMedium));
    budget[kind] -= size;
    const n = fileNo++;
    const rel = `${kind}/g${n % 16}/h${Math.floor(n / 16) % 8}/${kind}-${n}.${rng.pick(ext[kind])}`;
    await generate(rel, size, kind);
  }

  // --- duplicates of earlier files ---------------------------------------------------------------
  {
    const candidates = written.filter((w) => w.size >= 4 * KiB);
    let dupNo = 0;
    // One copy of the smallest large file when it fits in half the budget: big-file dedup.
    const big = [...written].filter((w) => w.rel.startsWith('large/')).sort((a, b) => a.size - b.size)[0];
    if (big && big.size <= budget.dup / 2) {
      await ensureDir('dup/large');
      await fs.copyFile(path.join(dir, big.rel), path.join(dir, 'dup/large', path.basename(big.rel)));
      budget.dup -= big.size;
      stats.files++;
      stats.bytes += big.size;
      stats.duplicateBytes += big.size;
      progress();
    }
    let misses = 0;
    while (budget.dup >= 4 * KiB && candidates.length > 0 && misses < 1000) {
      const src = rng.pick(candidates);
      if (src.size > budget.dup || src.rel.startsWith('large/')) {
        misses++;
        continue;
      }
      const n = dupNo++;
      const variant = rng.float();
      const rel = `dup/d${n % 8}/${n}-${path.basename(src.rel)}`;
      await ensureDir(path.dirname(rel));
      const from = path.join(dir, src.rel);
      const to = path.join(dir, rel);
      let size = src.size;
      if (variant < 0.6 || src.size > 64 * MiB) {
        await fs.copyFile(from, to); // exact copy
      } else {
        const data = await fs.readFile(from);
        const edit = root.fork(`edit:${rel}`);
        if (variant < 0.8) {
          // A few bytes changed in the middle.
          const at = Math.floor(data.length / 2) + edit.int(Math.max(1, Math.floor(data.length / 4)));
          for (let i = 0; i < 8 && at + i < data.length; i++) data[at + i] = data[at + i]! ^ 0xff;
          await fs.writeFile(to, data);
        } else {
          // Bytes inserted near the start: every later byte is shifted.
          const insert = edit.bytes(edit.range(1, 100));
          const at = edit.int(Math.min(data.length, 4096));
          await fs.writeFile(to, Buffer.concat([data.subarray(0, at), insert, data.subarray(at)]));
          size += insert.length;
        }
      }
      budget.dup -= size;
      stats.files++;
      stats.bytes += size;
      stats.duplicateBytes += size;
      progress();
    }
  }

  // --- many small files --------------------------------------------------------------------------
  {
    const lo = 100;
    const hi = 32 * KiB;
    const mean = (hi - lo) / Math.log(hi / lo); // of a log-uniform size in [lo, hi]
    const count = Math.max(50, Math.min(20_000, Math.round(budget.small / mean)));
    const dirCount = Math.max(1, Math.ceil(count / 60));
    const text = new TextGen(root.fork('small-text'));
    const random = root.fork('small-random');
    const jobs: Array<{ rel: string; data: Buffer }> = [];
    for (let i = 0; i < count; i++) {
      const d = rng.int(dirCount);
      const rel = `small/s${d % 32}/t${d}/f${i}.${i % 10 < 7 ? 'txt' : 'dat'}`;
      const size = i % 97 === 0 ? 0 : Math.min(Math.max(0, Math.floor(budget.small)), rng.logRange(lo, hi));
      budget.small -= size;
      jobs.push({ rel, data: i % 10 < 7 ? text.bytes(size) : random.bytes(size) });
      if (jobs.length === 1000 || i === count - 1) {
        for (const j of jobs) await ensureDir(path.dirname(j.rel));
        await pool(jobs, 16, (j) => fs.writeFile(path.join(dir, j.rel), j.data));
        for (const j of jobs) {
          stats.files++;
          stats.smallFiles++;
          stats.bytes += j.data.length;
          stats.smallBytes += j.data.length;
        }
        jobs.length = 0;
        progress();
      }
    }
  }

  stats.seconds = (performance.now() - t0) / 1000;
  opts.onProgress?.(stats.bytes, total);
  return stats;
}

function filler(kind: Kind, rng: Prng): (out: Uint8Array) => void {
  if (kind === 'random') return (out) => rng.fill(out);
  const text = new TextGen(rng.fork('text'), kind === 'text' ? 4096 : 1024);
  if (kind === 'text') return (out) => text.fill(out);
  // Mixed: alternate text and random segments of 16 KiB-1 MiB.
  let left = 0;
  let isText = false;
  return (out) => {
    let i = 0;
    while (i < out.length) {
      if (left === 0) {
        isText = !isText;
        left = rng.logRange(16 * KiB, 1 * MiB);
      }
      const n = Math.min(left, out.length - i);
      const part = out.subarray(i, i + n);
      if (isText) text.fill(part);
      else rng.fill(part);
      i += n;
      left -= n;
    }
  };
}

/** Write size generated bytes; generation of one block overlaps the write of the previous one. */
async function writeGenerated(p: string, size: number, fill: (out: Uint8Array) => void): Promise<void> {
  const fh = await fs.open(p, 'w');
  try {
    const bufs = [Buffer.allocUnsafeSlow(Math.min(BLOCK, size)), Buffer.allocUnsafeSlow(Math.min(BLOCK, size))];
    let pending: Promise<void> | undefined;
    for (let pos = 0, i = 0; pos < size; i++) {
      const n = Math.min(BLOCK, size - pos);
      const buf = bufs[i & 1]!.subarray(0, n);
      fill(buf);
      if (pending) await pending;
      pending = writeAll(fh, buf, pos);
      pos += n;
    }
    if (pending) await pending;
  } finally {
    await fh.close();
  }
}

async function writeAll(fh: FileHandle, buf: Uint8Array, pos: number): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off, pos + off);
    off += bytesWritten;
  }
}

async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}
