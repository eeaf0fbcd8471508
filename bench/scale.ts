// `npm run bench:scale -- --blobs N --mem-budget B [--data 1G] [--kdf-memory 64M] [--json] [--work-dir DIR] [--keep]`
//
// Memory whatever the repository size (docs/MEMORY.md "The index off the heap"): builds a
// repository whose index holds N blobs without storing N chunks of data (synthetic index objects
// over synthetic packs, written with the repository's real keys and format; nothing in the steps
// reads those packs), then runs, each in a fresh process under --mem-budget and measured by its
// peak resident set (VmHWM, worker threads included):
//
//   backup-initial      engine backup of --data bytes of new data (the index cache is built cold)
//   backup-incremental  engine backup of the same tree with a few changes
//   restore             engine restore latest (compared file by file with the source)
//   snapshots           engine snapshots
//   index-open-warm     the index opened warm: no index object read; lookups of synthetic blobs
//   index-open-cold     the same after the cache folder is removed: a cold build in one pass
//
// bytesPerBlob = (peak RSS of index-open-warm once the index is open, at N - the same at N = 0) / N,
// with the peak reset after the key derivation so that Argon2id's memory does not hide the
// index's. The page cache, filled by the lookups that follow, is bounded (not per blob) and shows
// in the step's indexPeakRssBytes.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPrimitives } from '../native-bindings/index.js';
import { LocalBackend } from '../src/backend/local/local-backend.js';
import { cacheDirFor } from '../src/session/open-backend.js';
import { Repository } from '../src/repository/repository.js';
import { formatBytes, parseSize } from '../src/util/bytes.js';
import { makeMixedCorpus } from '../src/benchmark/corpus.js';
import { digestTree } from './digest-tree.js';
import { BLOBS_PER_SYNTHETIC_PACK, syntheticIds, syntheticLocation, syntheticPackId } from './scale-ids.js';
import type { IndexStepResult, IndexStepSpec } from './scale-step.js';

/** The project folder: the nearest one above this file with a package.json (from bench/ or dist/bench/). */
function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}
const root = projectRoot();
const PASSWORD = 'engine scale benchmark';
const SEED = 'scale-1';
/** Blobs per synthetic index object: as prune and repair write them. */
const BLOBS_PER_OBJECT = 100_000;

export interface ScaleStep {
  name: string;
  peakRssBytes: number;
  wallSeconds: number;
  withinBudget: boolean;
  [k: string]: unknown;
}

export interface ScaleReport {
  blobs: number;
  budgetBytes: number;
  bytesPerBlob: number;
  steps: ScaleStep[];
  openColdSeconds: number;
  openWarmSeconds: number;
  lookupsPerSecond: { present: number; absent: number };
  indexCacheBytes: number;
  indexResidentBytes: number;
  baseline: { openPeakRssBytes: number; indexPeakRssBytes: number };
  dataBytes: number;
  kdfMemoryBytes: number;
  allWithinBudget: boolean;
}

export interface Args {
  blobs: number;
  budgetBytes: number;
  dataBytes: number;
  json: boolean;
  workDir: string;
  keep: boolean;
  lookups: number;
  /** Argon2id memory of the repository's key (engine init --kdf-memory); its memory is held while each step opens the repository. */
  kdfMemory: string;
}

export function parseArgs(argv: string[]): Args {
  const a: Args = { blobs: 1_000_000, budgetBytes: parseSize('256M', '--mem-budget'), dataBytes: parseSize('1G', '--data'), json: false, workDir: '', keep: false, lookups: 20_000, kdfMemory: '64M' };
  for (let i = 0; i < argv.length; i++) {
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${argv[i - 1]} needs a value`);
      return x;
    };
    switch (argv[i]) {
      case '--blobs':
        a.blobs = Number(v().replace(/_/g, ''));
        break;
      case '--mem-budget':
        a.budgetBytes = parseSize(v(), '--mem-budget');
        break;
      case '--data':
        a.dataBytes = parseSize(v(), '--data');
        break;
      case '--json':
        a.json = true;
        break;
      case '--work-dir':
        a.workDir = v();
        break;
      case '--keep':
        a.keep = true;
        break;
      case '--kdf-memory':
        a.kdfMemory = v();
        break;
      case '--lookups':
        a.lookups = Number(v());
        break;
      default:
        throw new Error(`unknown option ${argv[i]} (see the header of bench/scale.ts)`);
    }
  }
  if (!Number.isInteger(a.blobs) || a.blobs < 0) throw new Error('--blobs: a whole number of blobs');
  a.workDir ||= join('/var/tmp', `engine-scale-${a.blobs}`);
  return a;
}

/** Writes `blobs` synthetic entries as index objects of the repository (real keys, real format). */
async function synthesizeIndex(repoPath: string, blobs: number, note: (m: string) => void): Promise<void> {
  const { primitives } = await loadPrimitives('auto');
  const repo = await Repository.open(new LocalBackend(repoPath), primitives, new TextEncoder().encode(PASSWORD));
  const ids = Buffer.alloc(32 * BLOBS_PER_OBJECT);
  for (let first = 0; first < blobs; first += BLOBS_PER_OBJECT) {
    const count = Math.min(BLOBS_PER_OBJECT, blobs - first);
    syntheticIds(SEED, first, count, ids);
    // Index payload (FORMAT.md "Index objects"): packs of BLOBS_PER_SYNTHETIC_PACK blobs.
    const packs = Math.ceil(count / BLOBS_PER_SYNTHETIC_PACK);
    const out = Buffer.alloc(12 + packs * 36 + count * 45);
    let o = out.write('EIX1', 0, 'latin1');
    o = out.writeUInt32LE(0, o);
    o = out.writeUInt32LE(packs, o);
    for (let k = 0; k < count; ) {
      const i = first + k;
      const pack = syntheticLocation(i).pack;
      const inPack = Math.min(BLOBS_PER_SYNTHETIC_PACK - (i % BLOBS_PER_SYNTHETIC_PACK), count - k);
      o += out.write(syntheticPackId(SEED, pack), o, 'hex');
      o = out.writeUInt32LE(inPack, o);
      for (let j = 0; j < inPack; j++, k++) {
        const loc = syntheticLocation(first + k);
        o = out.writeUInt8(0, o);
        o += ids.copy(out, o, 32 * k, 32 * k + 32);
        o = out.writeUInt32LE(loc.offset, o);
        o = out.writeUInt32LE(loc.length, o);
        o = out.writeUInt32LE(loc.rawLength, o);
      }
    }
    if (o !== out.length) throw new Error(`synthetic index object: wrote ${o} of ${out.length} bytes`);
    await repo.saveEncodedIndexObject(out);
    if ((first / BLOBS_PER_OBJECT) % 10 === 9) note(`  ${first + count} of ${blobs} synthetic blobs indexed`);
  }
}

interface Spawned {
  code: number;
  stdout: string;
  stderr: string;
  wallSeconds: number;
  peakRssBytes: number;
}

/** Runs a command like the launcher does (its allocator settings) and reads its peak RSS. */
async function run(cmd: string, args: string[], env: Record<string, string>, peakFile: string): Promise<Spawned> {
  const t0 = performance.now();
  return new Promise((resolveRun, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env, ENGINE_PEAK_RSS_FILE: peakFile }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const wallSeconds = (performance.now() - t0) / 1000;
      fsp.readFile(peakFile, 'utf8').then(
        (t) => resolveRun({ code: code ?? -1, stdout, stderr, wallSeconds, peakRssBytes: Number(t.trim()) }),
        () => resolveRun({ code: code ?? -1, stdout, stderr, wallSeconds, peakRssBytes: 0 }),
      );
    });
  });
}

function lastJson(s: string): Record<string, unknown> {
  const line = s.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as Record<string, unknown>;
}

async function folderBytes(dir: string): Promise<number> {
  let n = 0;
  for (const e of await fsp.readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    n += e.isDirectory() ? await folderBytes(p) : (await fsp.stat(p)).size;
  }
  return n;
}

export async function runScale(a: Args, note: (m: string) => void): Promise<ScaleReport> {
  const work = resolve(a.workDir);
  await fsp.rm(work, { recursive: true, force: true });
  await fsp.mkdir(work, { recursive: true });
  const repo = join(work, 'repo');
  const repo0 = join(work, 'repo-empty');
  const src = join(work, 'src');
  const out = join(work, 'restored');
  const cacheHome = join(work, 'cache');
  const engineEnv = { ENGINE_PASSWORD: PASSWORD, XDG_CACHE_HOME: cacheHome };
  const bin = join(root, 'bin/engine');
  // The launcher's allocator and GC settings, for the library step too (bin/engine).
  const launcherEnv = { ...engineEnv, MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '131072' };
  const stepScript = join(root, 'dist/bench/scale-step.js');
  const budget = String(a.budgetBytes);
  const steps: ScaleStep[] = [];
  let seq = 0;
  const engine = async (name: string, args: string[]): Promise<Record<string, unknown>> => {
    note(`${name}: engine ${args.join(' ')}`);
    const r = await run(bin, args, engineEnv, join(work, `peak-${seq++}`));
    if (r.code !== 0) throw new Error(`${name}: engine ${args[0]} exited ${r.code}: ${r.stderr.trim()}`);
    const json = args.includes('--json') ? lastJson(r.stdout) : {};
    steps.push({ name, peakRssBytes: r.peakRssBytes, wallSeconds: r.wallSeconds, withinBudget: r.peakRssBytes < a.budgetBytes, ...(json.index ? { index: json.index } : {}) });
    return json;
  };
  const indexStep = async (name: string | null, repoPath: string, blobs: number): Promise<IndexStepResult> => {
    const spec: IndexStepSpec = { repo: repoPath, indexDir: indexDirOf(repoPath, cacheHome), password: PASSWORD, budgetBytes: a.budgetBytes, seed: SEED, blobs, lookups: a.lookups };
    const r = await run(process.execPath, ['--max-semi-space-size=2', '--single-threaded-gc', stepScript, JSON.stringify(spec)], launcherEnv, join(work, `peak-${seq++}`));
    if (r.code !== 0) throw new Error(`${name ?? 'baseline'}: ${r.stderr.trim()}`);
    const res = lastJson(r.stdout) as unknown as IndexStepResult;
    if (name) steps.push({ ...res, name, wallSeconds: r.wallSeconds, withinBudget: res.peakRssBytes < a.budgetBytes });
    return res;
  };

  note(`repository with ${a.blobs} indexed blobs in ${work}`);
  for (const r of [repo, repo0]) {
    const init = await run(bin, ['init', '--repo', r, '--kdf-memory', a.kdfMemory], engineEnv, join(work, 'peak-init'));
    if (init.code !== 0) throw new Error(`engine init: ${init.stderr}`);
  }
  await synthesizeIndex(repo, a.blobs, note);
  note(`making ${formatBytes(a.dataBytes)} of new data`);
  await makeMixedCorpus(src, { seed: 7, totalBytes: a.dataBytes });

  // Baseline: the same index step on an empty repository.
  await indexStep(null, repo0, 0);
  const baseline = await indexStep(null, repo0, 0);

  await engine('backup-initial', ['backup', '--repo', repo, '--mem-budget', budget, '--json', src]);
  // A few changes: one file grows, one is new.
  await fsp.writeFile(join(src, 'scale-new-file.bin'), createHash('sha256').update('new').digest().toString('hex').repeat(50_000));
  const victims = (await fsp.readdir(src, { withFileTypes: true })).filter((e) => e.isFile());
  if (victims[0]) await fsp.appendFile(join(src, victims[0].name), 'appended by the scale benchmark\n');
  await engine('backup-incremental', ['backup', '--repo', repo, '--mem-budget', budget, '--json', src]);
  await engine('restore', ['restore', 'latest', '--repo', repo, '--mem-budget', budget, '--json', '--target', out]);
  await engine('snapshots', ['snapshots', '--repo', repo, '--json']);
  const warm = await indexStep('index-open-warm', repo, a.blobs);
  const indexCacheBytes = await folderBytes(indexDirOf(repo, cacheHome));
  await fsp.rm(indexDirOf(repo, cacheHome), { recursive: true, force: true });
  const cold = await indexStep('index-open-cold', repo, a.blobs);

  note('comparing the restored tree with the source');
  const [want, got] = await Promise.all([digestTree(src), digestTree(join(out, 'src'))]);
  const differing = [...want].filter(([k, v]) => got.get(k) !== v).length + [...got.keys()].filter((k) => !want.has(k)).length;
  if (differing > 0) throw new Error(`restore differs from the source in ${differing} file(s)`);
  if (!a.keep) await fsp.rm(work, { recursive: true, force: true });
  return {
    blobs: a.blobs,
    budgetBytes: a.budgetBytes,
    bytesPerBlob: a.blobs > 0 ? (warm.openPeakRssBytes - baseline.openPeakRssBytes) / a.blobs : 0,
    steps,
    openColdSeconds: cold.openSeconds,
    openWarmSeconds: warm.openSeconds,
    lookupsPerSecond: { present: warm.presentLookupsPerSecond, absent: warm.absentLookupsPerSecond },
    indexCacheBytes,
    indexResidentBytes: warm.residentBytes,
    baseline: { openPeakRssBytes: baseline.openPeakRssBytes, indexPeakRssBytes: baseline.indexPeakRssBytes },
    dataBytes: a.dataBytes,
    kdfMemoryBytes: parseSize(a.kdfMemory, '--kdf-memory'),
    allWithinBudget: steps.every((s) => s.withinBudget),
  };
}

/** Where the CLI keeps the repository's index cache when XDG_CACHE_HOME is cacheHome (src/session/open-backend.ts). */
function indexDirOf(repoPath: string, cacheHome: string): string {
  return join(cacheDirFor(resolve(repoPath), join(cacheHome, 'engine')), 'local-index');
}

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const args = parseArgs(process.argv.slice(2));
  const note = (m: string): void => {
    process.stderr.write(`${m}\n`);
  };
  runScale(args, note).then(
    (r) => {
      if (args.json) {
        process.stdout.write(`${JSON.stringify(r)}\n`);
      } else {
        process.stdout.write(`${r.blobs} blobs, budget ${formatBytes(r.budgetBytes)}: ${r.bytesPerBlob.toFixed(2)} bytes of RSS per indexed blob\n`);
        for (const s of r.steps) process.stdout.write(`  ${s.name.padEnd(20)} peak ${formatBytes(s.peakRssBytes).padStart(10)}  ${s.wallSeconds.toFixed(1).padStart(7)} s${s.withinBudget ? '' : '  OVER BUDGET'}\n`);
        process.stdout.write(`  open cold ${r.openColdSeconds.toFixed(2)} s, warm ${r.openWarmSeconds.toFixed(3)} s; lookups ${Math.round(r.lookupsPerSecond.present)}/s present, ${Math.round(r.lookupsPerSecond.absent)}/s absent; cache ${formatBytes(r.indexCacheBytes)} on disk\n`);
      }
      process.exit(r.allWithinBudget ? 0 : 1);
    },
    (err: unknown) => {
      process.stderr.write(`bench:scale failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    },
  );
}
