// engine vs restic, back to back on one generated corpus and one machine:
//   (1) first backup, (2) no-change backup, (3) full restore into an empty folder.
// For each tool and step: wall seconds, throughput (source bytes / wall, MB = 10^6 bytes) and peak
// RSS. Both tools are measured the same way: each command runs under GNU `/usr/bin/time -f %M`,
// which reports the maximum resident set size of the command (for a tree of processes: of its
// largest single process; the engine's worker threads are in its one process). Wall time is taken
// around the same spawn. Before every step the script runs `sync`, so no step pays for the
// write-back of an earlier one; the page cache is otherwise warm for both tools (the corpus was just
// written or read; 2 GiB fits in RAM): pass --drop-caches (root) to drop it before every step.
// A restore's time ends when the tool exits, before its written data reaches the disk.
//
// Usage: node dist/bench/vs-restic.js [--size 2G] [--dir /tmp/engine-bench] [--keep] [--seed 1]
//          [--tools engine,restic] [--mem-budget 512M] [--drop-caches] [--repeat N]
// Needs: restic (`apt-get install -y restic`), GNU time (`apt-get install -y time`), and a built
// engine (`npm run build`).

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSize } from '../src/util/bytes.js';
import { makeMixedCorpus } from '../src/benchmark/corpus.js';
import type { CorpusStats } from '../src/benchmark/corpus.js';

const GNU_TIME = '/usr/bin/time';
const CORPUS_VERSION = 1; // bump when makeMixedCorpus changes its output
const PASSWORD = 'engine-bench-password';

type Tool = 'engine' | 'restic';
type StepName = 'init' | 'backup1' | 'backup2' | 'restore';
const STEP_LABEL: Record<StepName, string> = {
  init: 'init',
  backup1: 'first backup',
  backup2: 'no-change backup',
  restore: 'full restore',
};

interface Options {
  size: number;
  dir: string;
  keep: boolean;
  seed: number;
  tools: Tool[];
  memBudget: string | undefined;
  dropCaches: boolean;
  repeat: number;
}

interface Run {
  wallSeconds: number;
  maxRssKiB: number;
  exitCode: number;
  stdoutTail: string;
  stderrTail: string;
}

interface StepResult {
  wallSeconds: number;
  /** Source bytes / wall seconds, in 10^6 bytes per second (absent for init). */
  mbPerSecond?: number;
  peakRssMiB: number;
  /** The tool's own JSON summary, when it prints one. */
  summary?: unknown;
}

interface ToolResult {
  version?: string;
  /** Per step: median over the rounds (see --repeat). */
  steps: Partial<Record<StepName, StepResult>>;
  /** Every round's own figures. */
  runs: Array<Partial<Record<StepName, StepResult>>>;
  repoBytes?: number;
  restoreCheck?: { files: number; bytes: number; ok: boolean };
  error?: string;
}

function usage(): never {
  process.stdout.write(
    [
      'usage: vs-restic [--size 2G] [--dir /tmp/engine-bench] [--keep] [--seed N]',
      '                 [--tools engine,restic] [--mem-budget 512M] [--drop-caches] [--repeat N]',
      '  --size         corpus size (K/M/G/T, binary units; default 2G)',
      '  --dir          work directory (corpus, repositories, restores, restic cache)',
      '  --keep         keep the work directory (the corpus is reused by the next run with --keep)',
      '  --tools        which tools to run (default both); ratios need both',
      '  --mem-budget   passed to engine backup/restore',
      '  --drop-caches  sync and drop the page cache before every timed step (needs root)',
      '  --repeat N     run every tool N times, interleaved, and report per-step medians (default 1)',
      '',
    ].join('\n'),
  );
  process.exit(0);
}


function parseArgs(argv: string[]): Options {
  const o: Options = {
    size: 2 * 2 ** 30,
    dir: '/tmp/engine-bench',
    keep: false,
    seed: 1,
    tools: ['engine', 'restic'],
    memBudget: undefined,
    dropCaches: false,
    repeat: 1,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--size': o.size = parseSize(value(), '--size'); break;
      case '--dir': o.dir = path.resolve(value()); break;
      case '--keep': o.keep = true; break;
      case '--seed': o.seed = Number(value()); break;
      case '--tools': {
        const tools = value().split(',').map((t) => t.trim()).filter(Boolean);
        for (const t of tools) if (t !== 'engine' && t !== 'restic') throw new Error(`unknown tool: ${t}`);
        o.tools = tools as Tool[];
        break;
      }
      case '--mem-budget': o.memBudget = value(); break;
      case '--drop-caches': o.dropCaches = true; break;
      case '--repeat': {
        o.repeat = Number(value());
        if (!Number.isInteger(o.repeat) || o.repeat < 1) throw new Error('--repeat needs a whole number >= 1');
        break;
      }
      case '--help': case '-h': usage(); break;
      default: throw new Error(`unknown option: ${a} (try --help)`);
    }
  }
  return o;
}

/** Run a command under GNU time; collects wall time, max RSS and the tails of its output. */
async function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeFile: string): Promise<Run> {
  const start = process.hrtime.bigint();
  const child = spawn(GNU_TIME, ['-f', '%M', '-o', timeFile, cmd, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const tail = (limit: number): { push: (b: Buffer) => void; text: () => string } => {
    let chunks: Buffer[] = [];
    let size = 0;
    return {
      push(b) {
        chunks.push(b);
        size += b.length;
        if (size > 2 * limit) {
          const all = Buffer.concat(chunks).subarray(-limit);
          chunks = [all];
          size = all.length;
        }
      },
      text: () => Buffer.concat(chunks).subarray(-limit).toString('utf8'),
    };
  };
  const out = tail(256 * 1024);
  const err = tail(64 * 1024);
  child.stdout.on('data', out.push);
  child.stderr.on('data', err.push);
  const exitCode = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
  const wallSeconds = Number(process.hrtime.bigint() - start) / 1e9;
  // GNU time writes "Command exited with non-zero status N" before the format line on failure.
  const lines = (await fs.readFile(timeFile, 'utf8')).trim().split('\n');
  const maxRssKiB = Number(lines[lines.length - 1]);
  return { wallSeconds, maxRssKiB: Number.isFinite(maxRssKiB) ? maxRssKiB : NaN, exitCode, stdoutTail: out.text(), stderrTail: err.text() };
}

function lastJsonLine(text: string, pick?: (o: Record<string, unknown>) => boolean): unknown {
  const lines = text.split('\n').map((l) => l.trim()).filter(Boolean).reverse();
  for (const l of lines) {
    if (!l.startsWith('{')) continue;
    try {
      const o = JSON.parse(l) as Record<string, unknown>;
      if (!pick || pick(o)) return o;
    } catch {
      // not JSON
    }
  }
  return undefined;
}

async function commandOutput(cmd: string, args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', () => resolve({ code: 127, out }));
    child.on('close', (code) => resolve({ code: code ?? 1, out }));
  });
}

async function duBytes(p: string): Promise<number> {
  const r = await commandOutput('du', ['-sb', p]);
  if (r.code !== 0) throw new Error(`du -sb ${p} failed: ${r.out}`);
  return Number(r.out.split(/\s/)[0]);
}

async function countTree(p: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  const visit = async (d: string): Promise<void> => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const q = path.join(d, e.name);
      if (e.isDirectory()) await visit(q);
      else if (e.isFile()) {
        files++;
        bytes += (await fs.lstat(q)).size;
      }
    }
  };
  await visit(p);
  return { files, bytes };
}

/**
 * Before every timed step: flush dirty pages, so that no step pays for writing back what an
 * earlier one (or the other tool) left in the page cache; then optionally drop the cache.
 */
async function settle(drop: boolean): Promise<void> {
  await commandOutput('sync', []);
  if (drop) await fs.writeFile('/proc/sys/vm/drop_caches', '3\n');
}

function findRepoRoot(): string {
  const candidates = [path.dirname(fileURLToPath(import.meta.url)), process.cwd()];
  for (const start of candidates) {
    for (let d = start; ; d = path.dirname(d)) {
      if (existsSync(path.join(d, 'package.json')) && existsSync(path.join(d, 'bin', 'engine.js'))) return d;
      if (path.dirname(d) === d) break;
    }
  }
  throw new Error('cannot find the engine checkout (a folder with package.json and bin/engine.js)');
}

interface ToolSpec {
  name: Tool;
  env: NodeJS.ProcessEnv;
  cmd: string;
  args: Record<StepName, string[]>;
  summary: (stdout: string) => unknown;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));

  // --- prerequisites: say what to install, do not install -----------------------------------------
  const missing: string[] = [];
  const gnuTime = await commandOutput(GNU_TIME, ['--version']);
  if (gnuTime.code !== 0 || !/GNU/.test(gnuTime.out)) missing.push('GNU time at /usr/bin/time: apt-get install -y time');
  let resticVersion: string | undefined;
  if (o.tools.includes('restic')) {
    const r = await commandOutput('restic', ['version']);
    if (r.code !== 0) missing.push('restic: apt-get install -y restic');
    else resticVersion = r.out.trim();
  }
  let repoRoot: string | undefined;
  if (o.tools.includes('engine')) {
    try {
      repoRoot = findRepoRoot();
    } catch (e) {
      missing.push(String((e as Error).message));
    }
  }
  if (missing.length > 0) {
    process.stderr.write(`vs-restic: missing prerequisites:\n${missing.map((m) => `  - ${m}`).join('\n')}\n`);
    process.exit(2);
  }

  // --- corpus ----------------------------------------------------------------------------------------
  const work = o.dir;
  const corpus = path.join(work, 'corpus');
  const marker = path.join(work, 'corpus.json');
  await fs.mkdir(work, { recursive: true });
  let stats: CorpusStats | undefined;
  let generatedNow = false;
  try {
    const m = JSON.parse(await fs.readFile(marker, 'utf8')) as { version: number; seed: number; size: number; stats: CorpusStats };
    if (m.version === CORPUS_VERSION && m.seed === o.seed && m.size === o.size && existsSync(corpus)) stats = m.stats;
  } catch {
    // no usable corpus
  }
  if (!stats) {
    await fs.rm(marker, { force: true });
    await fs.rm(corpus, { recursive: true, force: true });
    process.stderr.write(`generating a ${fmtBytes(o.size)} corpus in ${corpus} (seed ${o.seed})...\n`);
    stats = await makeMixedCorpus(corpus, {
      seed: o.seed,
      totalBytes: o.size,
      onProgress: (done, total) => process.stderr.write(`\r  ${fmtBytes(done)} / ${fmtBytes(total)}   `),
    });
    process.stderr.write(`\n  ${stats.files} files, ${fmtBytes(stats.bytes)} in ${stats.seconds.toFixed(1)} s\n`);
    await fs.writeFile(marker, JSON.stringify({ version: CORPUS_VERSION, seed: o.seed, size: o.size, stats }, null, 2));
    generatedNow = true;
  } else {
    process.stderr.write(`reusing the corpus in ${corpus} (${stats.files} files, ${fmtBytes(stats.bytes)})\n`);
  }
  const sourceBytes = stats.bytes;

  // --- tools -----------------------------------------------------------------------------------------
  const specs: ToolSpec[] = [];
  let engineCommand: string | undefined;
  if (o.tools.includes('engine') && repoRoot) {
    const repo = path.join(work, 'engine-repo');
    const target = path.join(work, 'engine-restore');
    // Prefer the installed launcher (bin/engine: a sh script that sets glibc malloc variables and
    // execs node, so GNU time still measures the node process itself); else node bin/engine.js.
    const launcher = path.join(repoRoot, 'bin', 'engine');
    const [cmd, pre] = existsSync(launcher) ? [launcher, []] : [process.execPath, [path.join(repoRoot, 'bin', 'engine.js')]];
    engineCommand = [cmd, ...pre].join(' ');
    const mem = o.memBudget ? ['--mem-budget', o.memBudget] : [];
    specs.push({
      name: 'engine',
      env: { ...process.env, ENGINE_PASSWORD: PASSWORD },
      cmd,
      args: {
        init: [...pre, 'init', '--repo', repo],
        backup1: [...pre, 'backup', '--repo', repo, '--json', ...mem, corpus],
        backup2: [...pre, 'backup', '--repo', repo, '--json', ...mem, corpus],
        restore: [...pre, 'restore', 'latest', '--repo', repo, '--target', target, '--json', ...mem],
      },
      summary: (out) => lastJsonLine(out),
    });
  }
  if (o.tools.includes('restic')) {
    const repo = path.join(work, 'restic-repo');
    const cache = path.join(work, 'restic-cache');
    const target = path.join(work, 'restic-restore');
    const g = ['-r', repo, '--cache-dir', cache];
    specs.push({
      name: 'restic',
      env: { ...process.env, RESTIC_PASSWORD: PASSWORD },
      cmd: 'restic',
      args: {
        init: [...g, 'init'],
        backup1: [...g, 'backup', '--json', corpus],
        backup2: [...g, 'backup', '--json', corpus],
        restore: [...g, 'restore', 'latest', '--target', target],
      },
      summary: (out) => lastJsonLine(out, (x) => x['message_type'] === 'summary'),
    });
  }

  const results: Partial<Record<Tool, ToolResult>> = {};
  for (const spec of specs) {
    results[spec.name] = { steps: {}, runs: [] };
    if (spec.name === 'restic') results[spec.name]!.version = resticVersion;
    if (spec.name === 'engine') results[spec.name]!.version = engineCommand;
  }
  const load = os.loadavg()[0]!;
  if (load > 0.5) {
    process.stderr.write(`warning: load average ${load.toFixed(2)}: other processes use the CPU or disk; figures will be noisy (try --repeat 3)\n`);
  }
  const timeFile = path.join(work, 'time.out');
  // Rounds interleave the tools, so slow drift in the machine's load hits both alike.
  for (let round = 1; round <= o.repeat; round++) {
    for (const spec of specs) {
      const res = results[spec.name]!;
      if (res.error) continue;
      const repo = path.join(work, `${spec.name}-repo`);
      const target = path.join(work, `${spec.name}-restore`);
      // Start from nothing: no repository, cache or restore from an earlier run or round.
      for (const p of [repo, target, path.join(work, 'restic-cache')]) await fs.rm(p, { recursive: true, force: true });
      process.stderr.write(`\n== ${spec.name}${o.repeat > 1 ? ` (round ${round}/${o.repeat})` : ''}\n`);
      const steps: Partial<Record<StepName, StepResult>> = {};
      res.runs.push(steps);
      for (const step of ['init', 'backup1', 'backup2', 'restore'] as const) {
        if (step === 'restore') await fs.mkdir(target, { recursive: true }); // "an empty folder"
        await settle(o.dropCaches && step !== 'init');
        process.stderr.write(`  ${STEP_LABEL[step]}... `);
        const run = await timed(spec.cmd, spec.args[step], spec.env, timeFile);
        if (run.exitCode !== 0) {
          const why = (run.stderrTail || run.stdoutTail).trim().split('\n').slice(-5).join(' | ');
          res.error = `${STEP_LABEL[step]} failed (exit ${run.exitCode}): ${why}`;
          process.stderr.write(`FAILED\n    ${res.error}\n`);
          break;
        }
        const r: StepResult = { wallSeconds: roundTo(run.wallSeconds, 3), peakRssMiB: roundTo(run.maxRssKiB / 1024, 1) };
        if (step !== 'init') r.mbPerSecond = roundTo(sourceBytes / 1e6 / run.wallSeconds, 1);
        const summary = step === 'init' ? undefined : spec.summary(run.stdoutTail);
        if (summary !== undefined) r.summary = summary;
        steps[step] = r;
        const mbs = r.mbPerSecond === undefined ? '' : `, ${r.mbPerSecond} MB/s`;
        process.stderr.write(`${r.wallSeconds.toFixed(2)} s${mbs}, ${r.peakRssMiB} MiB RSS\n`);
      }
      if (existsSync(repo)) res.repoBytes = await duBytes(repo);
      if (steps.restore) {
        const c = await countTree(target);
        const check = { ...c, ok: c.files === stats.files && c.bytes === stats.bytes };
        if (!res.restoreCheck || !check.ok) res.restoreCheck = check;
        if (!check.ok) {
          process.stderr.write(`  restore check: ${c.files} files / ${c.bytes} bytes restored, expected ${stats.files} / ${stats.bytes}\n`);
        }
      }
      if (!o.keep || round < o.repeat) await fs.rm(target, { recursive: true, force: true });
    }
  }
  // Per step: the median wall time and the median peak RSS over the rounds.
  for (const res of Object.values(results)) {
    for (const step of ['init', 'backup1', 'backup2', 'restore'] as const) {
      const runs = res.runs.map((r) => r[step]).filter((r): r is StepResult => r !== undefined);
      if (runs.length === 0) continue;
      const wall = median(runs.map((r) => r.wallSeconds));
      const m: StepResult = { wallSeconds: wall, peakRssMiB: median(runs.map((r) => r.peakRssMiB)) };
      if (step !== 'init') m.mbPerSecond = roundTo(sourceBytes / 1e6 / wall, 1);
      if (runs[0]!.summary !== undefined) m.summary = runs[0]!.summary;
      res.steps[step] = m;
    }
  }

  // --- report ----------------------------------------------------------------------------------------
  const e = results.engine;
  const r = results.restic;
  const ratio = (x: number | undefined, y: number | undefined): number | null =>
    x !== undefined && y !== undefined && y > 0 ? roundTo(x / y, 3) : null;
  const ratios: Record<string, unknown> = {};
  for (const step of ['backup1', 'backup2', 'restore'] as const) {
    ratios[step] = {
      throughput: ratio(e?.steps[step]?.mbPerSecond, r?.steps[step]?.mbPerSecond),
      rss: ratio(e?.steps[step]?.peakRssMiB, r?.steps[step]?.peakRssMiB),
      wall: ratio(e?.steps[step]?.wallSeconds, r?.steps[step]?.wallSeconds),
    };
  }
  ratios['repoSize'] = ratio(e?.repoBytes, r?.repoBytes);

  const rows: string[][] = [['step', 'tool', 'wall s', 'MB/s', 'peak RSS MiB']];
  for (const step of ['backup1', 'backup2', 'restore'] as const) {
    for (const tool of o.tools) {
      const s = results[tool]?.steps[step];
      rows.push([STEP_LABEL[step], tool, s ? s.wallSeconds.toFixed(2) : '-', s?.mbPerSecond !== undefined ? s.mbPerSecond.toFixed(1) : '-', s ? s.peakRssMiB.toFixed(1) : '-']);
    }
    const q = ratios[step] as { throughput: number | null; rss: number | null };
    if (q.throughput !== null || q.rss !== null) {
      rows.push(['', 'engine/restic', '', q.throughput === null ? '-' : `x${q.throughput}`, q.rss === null ? '-' : `x${q.rss}`]);
    }
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]): string => row.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out: string[] = [];
  out.push('');
  out.push(`corpus: ${stats.files} files, ${fmtBytes(stats.bytes)} (seed ${o.seed}); ${os.cpus().length} CPUs, ${fmtBytes(os.totalmem())} RAM`);
  out.push(line(rows[0]!));
  out.push(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of rows.slice(1)) out.push(line(row));
  out.push('');
  for (const tool of o.tools) {
    const t = results[tool];
    if (!t) continue;
    const rc = t.restoreCheck ? (t.restoreCheck.ok ? 'restore check ok' : 'RESTORE CHECK FAILED') : '';
    out.push(`${tool} repository: ${t.repoBytes !== undefined ? fmtBytes(t.repoBytes) : '-'}${rc ? `; ${rc}` : ''}${t.error ? `; ERROR: ${t.error}` : ''}`);
  }
  if (ratios['repoSize'] !== null) out.push(`repository size engine/restic: x${ratios['repoSize'] as number}`);
  out.push('');
  process.stdout.write(`${out.join('\n')}\n`);

  const json = {
    corpus: { seed: o.seed, requestedBytes: o.size, ...stats, generatedNow },
    machine: { cpus: os.cpus().length, totalMemBytes: os.totalmem(), node: process.version, platform: `${os.type()} ${os.release()}` },
    method: {
      wall: 'hrtime around the spawned command',
      rss: 'GNU /usr/bin/time -f %M (max resident set size, KiB)',
      throughput: 'corpus bytes / wall seconds, MB = 10^6 bytes',
      rounds: o.repeat,
      aggregate: 'median per step over the rounds',
      pageCache: o.dropCaches ? 'sync and drop before each step' : 'sync before each step, cache warm',
    },
    results,
    ratios,
  };
  process.stdout.write(`${JSON.stringify(json)}\n`);

  if (!o.keep) await fs.rm(work, { recursive: true, force: true });
  if (o.tools.some((t) => results[t]?.error)) process.exitCode = 1;
}

function roundTo(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : roundTo((s[mid - 1]! + s[mid]!) / 2, 3);
}

function fmtBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

main().catch((err: unknown) => {
  process.stderr.write(`vs-restic: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
