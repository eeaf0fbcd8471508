// `npm run bench:scale -- --blobs N --mem-budget B [--data 1G] [--kdf-memory 64M] [--json] [--work-dir DIR] [--keep] [--lookups 20000] [--threads T]`
//
// Memory whatever the repository size (docs/MEMORY.md "The index off the heap"), for every
// command. Builds a repository holding N real data blobs (bench/scale-synth.ts: tiny plaintexts,
// 512 bytes for the churned files, sealed with the repository's keys into real packs of 1500 blobs, index objects of ~100,000
// blobs, chunked trees of files of 100 blobs in directories of up to 1000 files, and 10 snapshots
// laid out by bench/scale-layout.ts so that forgetting the 3 oldest leaves ~25% of the blobs
// unused: wholly unused packs to delete and half-used ones to repack), then runs, each in a fresh
// process measured by its peak resident set (VmHWM, worker threads included), with --json and
// with --mem-budget B where the command has that option (`memBudgetFlag` says which did):
//
//   backup-initial          engine backup of --data bytes of new data (the index cache is built cold)
//   backup-incremental      engine backup of the same tree with a few changes
//   restore                 engine restore of that snapshot (compared file by file with the source)
//   snapshots               engine snapshots
//   index-open-warm         the index opened warm (`kind` says how it opened: cold when no backup
//                           built the cache): lookups of sampled blobs, each checked against where
//                           the synthesis stored it
//   index-open-cold         the same after the cache folder is removed: a cold build in one pass
//   stats                   engine stats (every snapshot)
//   ls                      engine ls of the newest synthetic snapshot (lines counted)
//   diff                    engine diff of the oldest and the newest synthetic snapshots
//   serve-webdav            engine serve --webdav: every folder of the newest synthetic snapshot
//                           listed (PROPFIND, depth 1) and a tenth of its files read (GET), then
//                           stopped with SIGTERM
//   copy                    engine copy of the newest synthetic snapshot into an empty repository
//                           with its own keys (every blob read and named again, trees written again)
//   copy-again              the same copy once more: nothing to copy (the copy is found by copiedFrom)
//   check                   engine check
//   check-read-data-subset  engine check --read-data-subset 1%
//   forget                  engine forget --keep-last 7 (3 synthetic snapshots removed; no --prune)
//   prune                   engine prune, default --max-unused (the layout gives it wholly unused
//                           packs to delete and half-used ones to repack: packsDeleted, packsRepacked)
//   check-after-prune       engine check (must pass)
//   repair-index            engine repair index
//   backup-after-repair     engine backup of the unchanged tree: the next command after prune and
//                           repair, with how it opened the index (`index.open`: warm, incremental, cold)
//
// Every command must exit 0, except a refusal by the memory planner (exit 2, E_BUDGET): that
// step is recorded with `refused` and the run goes on (a restore with no backup to restore is
// then `skipped`). Any other exit ends the run with an error, a crash too (exit -1: killed by a
// signal, such as V8's abort at its heap limit). A step over budget, refused or skipped has withinBudget false; the run still
// goes on, and exits 1 at the end when any step was not within budget.
//
// bytesPerBlob = (peak RSS of index-open-warm once the index is open, at N - the same at N = 0) / N,
// with the peak reset after the key derivation so that Argon2id's memory does not hide the
// index's. The page cache, filled by the lookups that follow, is bounded (not per blob) and shows
// in the step's indexPeakRssBytes.
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { cacheDirFor } from '../src/session/open-backend.js';
import { formatBytes, parseSize } from '../src/util/bytes.js';
import { makeMixedCorpus } from '../src/benchmark/corpus.js';
import { digestTree } from './digest-tree.js';
import { KEEP_LAST, type Layout } from './scale-layout.js';
import type { IndexStepResult, IndexStepSpec } from './scale-step.js';
import { synthesizeRepository } from './scale-synth.js';

/** The project folder: the nearest one above this file with a package.json (from bench/ or dist/bench/). */
function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}
const root = projectRoot();
const PASSWORD = 'engine scale benchmark';

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
  /** The synthetic repository: its layout, what was written, and how long that took. */
  synthetic: { seconds: number; layout: Layout; dataPacks: number; treePacks: number; treeBlobs: number; treeBytes: number; indexObjects: number; snapshots: number; repositoryBytes: number };
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
  /** Threads sealing the synthetic packs (default: one per core). */
  threads: number | undefined;
}

export function parseArgs(argv: string[]): Args {
  const a: Args = { blobs: 1_000_000, budgetBytes: parseSize('256M', '--mem-budget'), dataBytes: parseSize('1G', '--data'), json: false, workDir: '', keep: false, lookups: 20_000, kdfMemory: '64M', threads: undefined };
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
      case '--threads':
        a.threads = Number(v());
        break;
      default:
        throw new Error(`unknown option ${argv[i]} (see the header of bench/scale.ts)`);
    }
  }
  if (!Number.isInteger(a.blobs) || a.blobs < 0) throw new Error('--blobs: a whole number of blobs');
  a.workDir ||= join('/var/tmp', `engine-scale-${a.blobs}`);
  return a;
}

interface Spawned {
  code: number;
  /** stdout's last line (a --json command's summary) and its number of lines. */
  lastLine: string;
  lines: number;
  stderr: string;
  wallSeconds: number;
  peakRssBytes: number;
}

/** Bytes of stderr kept (its end): enough for an error, bounded for a chatty command. */
const STDERR_KEPT = 64 * 1024;

/**
 * Runs a command like the launcher does (its allocator settings) and reads its peak RSS. stdout is
 * counted, not kept (`ls` of ten million blobs prints ~100,000 lines): only its last line is.
 */
async function run(cmd: string, args: string[], env: Record<string, string>, peakFile: string): Promise<Spawned> {
  const t0 = performance.now();
  return new Promise((resolveRun, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env, ENGINE_PEAK_RSS_FILE: peakFile }, stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    let lines = 0;
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      for (let k = d.indexOf('\n'); k >= 0; k = d.indexOf('\n', k + 1)) lines++;
      tail = (tail + d).slice(-4 * 1024 * 1024);
      const end = tail.lastIndexOf('\n', tail.length - 2);
      if (end >= 0) tail = tail.slice(end + 1);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-STDERR_KEPT)));
    child.on('error', reject);
    child.on('close', (code) => {
      const wallSeconds = (performance.now() - t0) / 1000;
      const done = (peakRssBytes: number): void => resolveRun({ code: code ?? -1, lastLine: tail.trim(), lines, stderr, wallSeconds, peakRssBytes });
      // No figure (the process did not write it as it exited) is not a small peak: NaN is never
      // within budget, and the step says why.
      fsp.readFile(peakFile, 'utf8').then(
        (t) => done(Number(t.trim())),
        () => done(Number.NaN),
      );
    });
  });
}

function parseJsonLine(s: string): Record<string, unknown> {
  const line = s.trim().split('\n').pop() ?? '';
  return line ? (JSON.parse(line) as Record<string, unknown>) : {};
}

async function folderBytes(dir: string): Promise<number> {
  let n = 0;
  for (const e of await fsp.readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = join(dir, e.name);
    n += e.isDirectory() ? await folderBytes(p) : (await fsp.stat(p)).size;
  }
  return n;
}

/** `engine COMMAND --help`. */
async function helpText(bin: string, command: string): Promise<string> {
  const { stdout } = await promisify(execFile)(bin, [...command.split(' '), '--help'], { env: process.env });
  return stdout;
}

/** The planner's refusal of a budget (exit 2, E_BUDGET): a finding to record, not a failure of the run. */
function refusal(r: Spawned): string | null {
  if (r.code !== 2) return null;
  for (const line of r.stderr.trim().split('\n').reverse()) {
    try {
      const e = JSON.parse(line) as { message_type?: string; error_code?: string; message?: string };
      if (e.message_type === 'exit_error' && e.error_code === 'E_BUDGET') return e.message ?? 'E_BUDGET';
    } catch {
      // not a JSON line
    }
  }
  return null;
}

/** What a step keeps of a command's --json summary: its figures, without the lists. */
function figures(json: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(json)) if (k !== 'message_type' && (typeof v !== 'object' || v === null)) out[k] = v;
  return out;
}

export async function runScale(a: Args, note: (m: string) => void): Promise<ScaleReport> {
  const work = resolve(a.workDir);
  await fsp.rm(work, { recursive: true, force: true });
  await fsp.mkdir(work, { recursive: true });
  const repo = join(work, 'repo');
  const repo0 = join(work, 'repo-empty');
  const repoCopy = join(work, 'repo-copy');
  const src = join(work, 'src');
  const out = join(work, 'restored');
  const cacheHome = join(work, 'cache');
  const sampleFile = join(work, 'sample.bin');
  const engineEnv = { ENGINE_PASSWORD: PASSWORD, ENGINE_FROM_PASSWORD: PASSWORD, XDG_CACHE_HOME: cacheHome };
  const bin = join(root, 'bin/engine');
  // The launcher's allocator and GC settings, for the library step too (bin/engine).
  const launcherEnv = { ...engineEnv, MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072', MALLOC_TRIM_THRESHOLD_: '131072' };
  const stepScript = join(root, 'dist/bench/scale-step.js');
  const budget = String(a.budgetBytes);
  const steps: ScaleStep[] = [];
  let seq = 0;

  // Which commands take --mem-budget (from their --help: the maintenance commands are gaining it).
  const commands = ['backup', 'restore', 'snapshots', 'stats', 'ls', 'find', 'dump', 'rewrite', 'copy', 'serve', 'diff', 'check', 'forget', 'prune', 'repair index'];
  const budgeted = new Set<string>();
  await Promise.all(
    commands.map(async (c) => {
      if (/--mem-budget/.test(await helpText(bin, c))) budgeted.add(c);
    }),
  );

  /** One engine command as a step: throws when it fails, except a refusal by the planner (recorded). */
  const engine = async (name: string, command: string, args: string[], keep: (json: Record<string, unknown>, r: Spawned) => Record<string, unknown> = figures, repoPath = repo): Promise<Record<string, unknown> | null> => {
    const memBudgetFlag = budgeted.has(command);
    const argv = [...command.split(' '), '--repo', repoPath, '--json', ...(memBudgetFlag ? ['--mem-budget', budget] : []), ...args];
    note(`${name}: engine ${argv.join(' ')}`);
    const r = await run(bin, argv, engineEnv, join(work, `peak-${seq++}`));
    const base = { name, peakRssBytes: r.peakRssBytes, wallSeconds: r.wallSeconds, withinBudget: r.peakRssBytes < a.budgetBytes, memBudgetFlag, exitCode: r.code };
    const refused = refusal(r);
    if (refused !== null) {
      note(`${name}: refused by the planner: ${refused}`);
      steps.push({ ...base, withinBudget: false, refused });
      return null;
    }
    if (r.code !== 0) throw new Error(`${name}: engine ${command} exited ${r.code}: ${r.stderr.trim()}`);
    if (!Number.isFinite(r.peakRssBytes)) throw new Error(`${name}: engine ${command} exited 0 without reporting its peak (did it finish? stdout ended with ${JSON.stringify(r.lastLine.slice(-200))}; stderr: ${r.stderr.trim().slice(-500)})`);
    const json = parseJsonLine(r.lastLine);
    steps.push({ ...base, ...keep(json, r) });
    if (!base.withinBudget) note(`${name}: peak ${formatBytes(r.peakRssBytes)}, over the budget`);
    return json;
  };
  const skipped = (name: string, why: string): void => {
    note(`${name}: skipped (${why})`);
    steps.push({ name, peakRssBytes: 0, wallSeconds: 0, withinBudget: false, skipped: why });
  };
  /**
   * `engine serve --webdav` while a client walks a snapshot: each folder listed, the files whose
   * name ends in 7 read whole (bytes counted), then SIGTERM; its peak as for the other steps.
   */
  const serveStep = async (snapshot: string): Promise<void> => {
    const name = 'serve-webdav';
    const argv = ['serve', '--webdav', '--listen', '127.0.0.1:0', '--repo', repo, '--json', ...(budgeted.has('serve') ? ['--mem-budget', budget] : [])];
    note(`${name}: engine ${argv.join(' ')}`);
    const peakFile = join(work, `peak-${seq++}`);
    const t0 = performance.now();
    const child = spawn(bin, argv, { env: { ...process.env, ...engineEnv, ENGINE_PEAK_RSS_FILE: peakFile }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-STDERR_KEPT)));
    const exited = new Promise<number>((r) => child.on('close', (code) => r(code ?? -1)));
    const url = await new Promise<string>((resolveUrl, reject) => {
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const line = out.split('\n').find((l) => l.includes('"serving"'));
        if (line) resolveUrl((JSON.parse(line) as { url: string }).url);
      });
      void exited.then((code) => reject(new Error(`${name}: engine serve exited ${code} before serving: ${stderr.trim()}`)));
    });
    let folders = 0;
    let files = 0;
    let bytes = 0;
    try {
      const queue = [`${url.replace(/\/$/, '')}/ids/${snapshot}/`];
      while (queue.length > 0) {
        const folder = queue.shift()!;
        const res = await fetch(folder, { method: 'PROPFIND', headers: { Depth: '1' } });
        if (res.status !== 207) throw new Error(`${name}: PROPFIND ${folder}: ${res.status}`);
        folders++;
        for (const m of (await res.text()).matchAll(/<D:response><D:href>([^<]*)<\/D:href>(.*?)<\/D:response>/g)) {
          const href = new URL(m[1]!.replaceAll('&amp;', '&'), folder).href;
          if (href === folder) continue;
          if (m[2]!.includes('<D:collection/>')) queue.push(href);
          else if (href.endsWith('7')) {
            const got = await fetch(href);
            if (got.status !== 200) throw new Error(`${name}: GET ${href}: ${got.status}`);
            bytes += (await got.arrayBuffer()).byteLength;
            files++;
          }
        }
      }
    } finally {
      child.kill('SIGTERM');
    }
    const code = await exited;
    const wallSeconds = (performance.now() - t0) / 1000;
    const peakRssBytes = await fsp.readFile(peakFile, 'utf8').then((t) => Number(t.trim()), () => Number.NaN);
    if (!Number.isFinite(peakRssBytes)) throw new Error(`${name}: engine serve exited ${code} without reporting its peak: ${stderr.trim().slice(-500)}`);
    steps.push({ name, peakRssBytes, wallSeconds, withinBudget: peakRssBytes < a.budgetBytes, memBudgetFlag: budgeted.has('serve'), exitCode: code, folders, files, bytes });
  };
  const indexStep = async (name: string | null, repoPath: string, sample: string | null): Promise<IndexStepResult> => {
    const spec: IndexStepSpec = { repo: repoPath, indexDir: indexDirOf(repoPath, cacheHome), password: PASSWORD, budgetBytes: a.budgetBytes, sampleFile: sample, lookups: a.lookups };
    const r = await run(process.execPath, ['--max-semi-space-size=2', '--no-concurrent-sparkplug', stepScript, JSON.stringify(spec)], launcherEnv, join(work, `peak-${seq++}`));
    if (r.code !== 0) throw new Error(`${name ?? 'baseline'}: ${r.stderr.trim()}`);
    const res = parseJsonLine(r.lastLine) as unknown as IndexStepResult;
    if (name) steps.push({ ...res, name, wallSeconds: r.wallSeconds, withinBudget: res.peakRssBytes < a.budgetBytes });
    return res;
  };

  note(`repository with ${a.blobs} synthetic data blobs in ${work}`);
  for (const r of [repo, repo0, repoCopy]) {
    const init = await run(bin, ['init', '--repo', r, '--kdf-memory', a.kdfMemory], engineEnv, join(work, 'peak-init'));
    if (init.code !== 0) throw new Error(`engine init: ${init.stderr}`);
  }
  const synth = await synthesizeRepository(
    { repo, password: PASSWORD, blobs: a.blobs, workerScript: join(root, 'dist/bench/scale-synth-worker.js'), sampleCount: a.lookups, sampleFile, ...(a.threads ? { threads: a.threads } : {}) },
    note,
  );
  const repositoryBytes = await folderBytes(repo);
  note(`synthesized in ${synth.seconds.toFixed(1)} s: ${synth.dataPacks} data packs, ${synth.treeBlobs} tree blobs (${formatBytes(synth.treeBytes)}) in ${synth.treePacks} packs, ${synth.indexObjects} index objects, ${formatBytes(repositoryBytes)} stored`);
  note(`making ${formatBytes(a.dataBytes)} of new data`);
  await makeMixedCorpus(src, { seed: 7, totalBytes: a.dataBytes });

  // Baseline: the same index step on an empty repository.
  await indexStep(null, repo0, null);
  const baseline = await indexStep(null, repo0, null);

  const backup = (json: Record<string, unknown>): Record<string, unknown> => ({ ...(json.index ? { index: json.index } : {}), snapshotId: json.snapshot_id });
  await engine('backup-initial', 'backup', [src], backup);
  // A few changes: one file grows, one is new.
  await fsp.writeFile(join(src, 'scale-new-file.bin'), createHash('sha256').update('new').digest().toString('hex').repeat(50_000));
  const victims = (await fsp.readdir(src, { withFileTypes: true })).filter((e) => e.isFile());
  if (victims[0]) await fsp.appendFile(join(src, victims[0].name), 'appended by the scale benchmark\n');
  const second = await engine('backup-incremental', 'backup', [src], backup);
  let restored = false;
  if (second && typeof second.snapshot_id === 'string') {
    await engine('restore', 'restore', [second.snapshot_id, '--target', out]);
    // Again into the same target, with what a restic user adds for a mirror: --delete (both
    // listings walked side by side) and --verify (every file read back and hashed).
    await engine('restore-delete-verify', 'restore', [second.snapshot_id, '--target', out, '--delete', '--verify']);
    restored = true;
  } else {
    skipped('restore', 'no backup to restore');
    skipped('restore-delete-verify', 'no backup to restore');
  }
  await engine('snapshots', 'snapshots', [], (json) => ({ snapshots: Array.isArray(json) ? json.length : null }));
  const warm = await indexStep('index-open-warm', repo, sampleFile);
  const indexCacheBytes = await folderBytes(indexDirOf(repo, cacheHome));
  await fsp.rm(indexDirOf(repo, cacheHome), { recursive: true, force: true });
  const cold = await indexStep('index-open-cold', repo, sampleFile);

  // The maintenance commands on the synthetic history.
  const oldest = synth.snapshots[0]!;
  const newest = synth.snapshots[synth.snapshots.length - 1]!;
  await engine('stats', 'stats', []);
  await engine('ls', 'ls', [newest], (_json, r) => ({ lines: r.lines }));
  // An --include pattern over every entry of the largest snapshot, in a dry run (nothing written).
  await engine('restore-include-dry-run', 'restore', [newest, '--target', join(work, 'dry-run'), '--dry-run', '--include', '*7'], (json) => ({ files: json.files_restored }));
  // The retrieval commands over the whole synthetic history: find walks every snapshot's trees,
  // rewrite (dry run) reads each folder twice where a pattern matches, dump streams a snapshot as tar.
  await engine('find', 'find', ['*77'], (json) => ({ snapshotsWithHits: Array.isArray(json) ? json.length : null, hits: Array.isArray(json) ? (json as { hits: number }[]).reduce((n, s) => n + s.hits, 0) : null }));
  await engine('rewrite-dry-run', 'rewrite', ['--dry-run', '--exclude', '*77'], (json) => ({ rewritten: Array.isArray(json.rewritten) ? json.rewritten.length : null }));
  const tar = join(work, 'dump.tar');
  await engine('dump', 'dump', [newest, '/', '--target', tar], () => ({}));
  const tarBytes = (await fsp.stat(tar)).size;
  await fsp.rm(tar, { force: true });
  steps[steps.length - 1]!.tarBytes = tarBytes;
  await serveStep(newest.slice(0, 8));
  // copy reads every blob of the snapshot and names it again (the destination has its own keys).
  const copied = (json: Record<string, unknown>): Record<string, unknown> => ({ copied: Array.isArray(json.copied) ? json.copied.length : null, blobsAdded: json.blobsAdded, bytesAdded: json.bytesAdded });
  await engine('copy', 'copy', ['--from-repo', repo, newest], copied, repoCopy);
  await engine('copy-again', 'copy', ['--from-repo', repo, newest], copied, repoCopy);
  // restic's statistics line: the entries added and removed (files, folders, others) summed.
  const entries = (c: unknown): number | null => {
    const s = c as { files?: number; dirs?: number; others?: number } | undefined;
    return s && typeof s.files === 'number' ? s.files + (s.dirs ?? 0) + (s.others ?? 0) : null;
  };
  await engine('diff', 'diff', [oldest, newest], (json) => ({ ...figures(json), added: entries(json.added), removed: entries(json.removed) }));
  await engine('check', 'check', []);
  await engine('check-read-data-subset', 'check', ['--read-data-subset', '1%']);
  // forget --json: restic's array of ForgetGroup objects (docs/json/forget.schema.json).
  await engine('forget', 'forget', ['--keep-last', String(KEEP_LAST)], (json) => ({ removed: Array.isArray(json) ? (json as { remove: unknown[] }[]).reduce((n, g) => n + g.remove.length, 0) : null }));
  await engine('prune', 'prune', []);
  await engine('check-after-prune', 'check', []);
  await engine('repair-index', 'repair index', [], (json) => figures({ ...json, unreadable: Array.isArray(json.unreadable) ? json.unreadable.length : json.unreadable }));
  await engine('backup-after-repair', 'backup', [src], backup);

  if (restored) {
    note('comparing the restored tree with the source');
    const [want, got] = await Promise.all([digestTree(src), digestTree(join(out, src))]);
    // The source has not changed since backup-incremental (backup-after-repair saved the same tree).
    const differing = [...want].filter(([k, v]) => got.get(k) !== v).length + [...got.keys()].filter((k) => !want.has(k)).length;
    if (differing > 0) throw new Error(`restore differs from the source in ${differing} file(s)`);
  }
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
    synthetic: { seconds: synth.seconds, layout: synth.layout, dataPacks: synth.dataPacks, treePacks: synth.treePacks, treeBlobs: synth.treeBlobs, treeBytes: synth.treeBytes, indexObjects: synth.indexObjects, snapshots: synth.snapshots.length, repositoryBytes },
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
        process.stdout.write(`${r.blobs} blobs, budget ${formatBytes(r.budgetBytes)}: ${r.bytesPerBlob.toFixed(2)} bytes of RSS per indexed blob; synthesized in ${r.synthetic.seconds.toFixed(1)} s\n`);
        for (const s of r.steps) {
          const mark = s.refused ? '  REFUSED' : s.skipped ? '  SKIPPED' : s.withinBudget ? '' : '  OVER BUDGET';
          process.stdout.write(`  ${s.name.padEnd(24)} peak ${formatBytes(s.peakRssBytes).padStart(10)}  ${s.wallSeconds.toFixed(1).padStart(7)} s${mark}\n`);
        }
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
