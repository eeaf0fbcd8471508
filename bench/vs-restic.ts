// engine vs restic, back to back on one generated corpus and one machine:
//   (1) first backup, (2) no-change backup, (3) full restore into an empty folder.
// For each tool and step: wall seconds, throughput (source bytes / wall, MB = 10^6 bytes) and peak
// RSS. Both tools are measured the same way (bench/harness/process.ts): each command runs under
// GNU `/usr/bin/time`, whose %M is the maximum resident set size of the command (for a tree of
// processes: of its largest single process; the engine's worker threads are in its one process).
// Wall time is taken around the same spawn. Before every step the script runs `sync`, so no step
// pays for the write-back of an earlier one, and drops the page cache (bench/harness/page-cache.ts:
// needs root on Linux, else the run says so and stays warm); --warm keeps the cache warm for both
// tools (the corpus was just written or read; 2 GiB fits in RAM).
// A restore's time ends when the tool exits, before its written data reaches the disk.
//
// Usage: node dist/bench/vs-restic.js [--size 2G] [--dir /tmp/engine-bench] [--keep] [--seed 1]
//          [--tools engine,restic] [--mem-budget 512M] [--warm] [--repeat N]
// Needs: restic (`apt-get install -y restic`), GNU time (`apt-get install -y time`), and a built
// engine (`npm run build`).

import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseSize } from '../src/util/bytes.js';
import { readFlags, UsageError } from './harness/flags.js';
import { pageCacheState } from './harness/page-cache.js';
import { duBytes, failureText, hasGnuTime } from './harness/process.js';
import { alignedTable, fmtBytes, median, roundTo, warnIfLoaded } from './harness/report.js';
import { measureStep } from './harness/step.js';
import { engineAdapter, engineCommand, findEngineCheckout, resticAdapter, resticVersion, type ToolAdapter, type ToolName } from './harness/tools.js';
import { reuseOrGenerateTree } from './harness/tree.js';
import { countMatches } from './harness/verify.js';

const PASSWORD = 'engine-bench-password';

type Tool = Extract<ToolName, 'engine' | 'restic'>;
type StepName = 'init' | 'backup1' | 'backup2' | 'restore';
const STEPS: StepName[] = ['init', 'backup1', 'backup2', 'restore'];
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
  warm: boolean;
  repeat: number;
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
      '                 [--tools engine,restic] [--mem-budget 512M] [--warm] [--repeat N]',
      '  --size         corpus size (K/M/G/T, binary units; default 2G)',
      '  --dir          work directory (corpus, repositories, restores, restic cache)',
      '  --keep         keep the work directory (the corpus is reused by the next run with --keep)',
      '  --tools        which tools to run (default both); ratios need both',
      '  --mem-budget   passed to engine backup/restore',
      '  --warm         keep the page cache warm (default: sync and drop it before every step; needs root)',
      '  --drop-caches  the default since --warm came; still accepted',
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
    warm: false,
    repeat: 1,
  };
  readFlags(argv, (flag, value, a) => {
    switch (flag) {
      case '--size': o.size = parseSize(value(), '--size'); break;
      case '--dir': o.dir = path.resolve(value()); break;
      case '--keep': o.keep = true; break;
      case '--seed': o.seed = Number(value()); break;
      case '--tools': {
        const tools = value().split(',').map((t) => t.trim()).filter(Boolean);
        for (const t of tools) if (t !== 'engine' && t !== 'restic') throw new UsageError(`unknown tool: ${t}`);
        o.tools = tools as Tool[];
        break;
      }
      case '--mem-budget': o.memBudget = value(); break;
      case '--warm': o.warm = true; break;
      case '--drop-caches': o.warm = false; break;
      case '--repeat': {
        o.repeat = Number(value());
        if (!Number.isInteger(o.repeat) || o.repeat < 1) throw new UsageError('--repeat needs a whole number >= 1');
        break;
      }
      case '--help': case '-h': usage(); break;
      default: throw new UsageError(`unknown option: ${a} (try --help)`);
    }
  });
  return o;
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));

  // --- prerequisites: say what to install, do not install -----------------------------------------
  const missing: string[] = [];
  if (!(await hasGnuTime())) missing.push('GNU time at /usr/bin/time: apt-get install -y time');
  let resticVersionText: string | undefined;
  if (o.tools.includes('restic')) {
    const v = await resticVersion();
    if (!v) missing.push('restic: apt-get install -y restic');
    else resticVersionText = v.version;
  }
  const checkout = o.tools.includes('engine') ? findEngineCheckout() : undefined;
  if (o.tools.includes('engine') && !checkout) missing.push('cannot find the engine checkout (a folder with package.json and bin/engine.js)');
  if (missing.length > 0) {
    process.stderr.write(`vs-restic: missing prerequisites:\n${missing.map((m) => `  - ${m}`).join('\n')}\n`);
    process.exit(2);
  }

  // --- corpus ----------------------------------------------------------------------------------------
  const work = o.dir;
  const corpus = path.join(work, 'corpus');
  await fs.mkdir(work, { recursive: true });
  const { stats, generatedNow } = await reuseOrGenerateTree(corpus, path.join(work, 'corpus.json'), o.seed, o.size);
  const sourceBytes = stats.bytes;

  // --- tools -----------------------------------------------------------------------------------------
  const folders = (tool: ToolName): { repo: string; source: string; target: string; password: string } =>
    ({ repo: path.join(work, `${tool}-repo`), source: corpus, target: path.join(work, `${tool}-restore`), password: PASSWORD });
  const specs: ToolAdapter[] = [];
  const results: Partial<Record<ToolName, ToolResult>> = {};
  if (o.tools.includes('engine') && checkout) {
    const command = engineCommand(checkout);
    specs.push(engineAdapter(command, folders('engine'), o.memBudget));
    results.engine = { steps: {}, runs: [], version: [command.cmd, ...command.pre].join(' ') };
  }
  if (o.tools.includes('restic')) {
    // restic's own default compression (auto on a version 2 repository).
    specs.push(resticAdapter(folders('restic'), path.join(work, 'restic-cache'), false));
    results.restic = { steps: {}, runs: [], version: resticVersionText };
  }
  warnIfLoaded(' (try --repeat 3)');
  const timeFile = path.join(work, 'time.out');
  // Rounds interleave the tools, so slow drift in the machine's load hits both alike.
  for (let round = 1; round <= o.repeat; round++) {
    for (const spec of specs) {
      const res = results[spec.name]!;
      if (res.error) continue;
      const { repo, target } = folders(spec.name);
      // Start from nothing: no repository, cache or restore from an earlier run or round.
      for (const p of [repo, target, path.join(work, 'restic-cache')]) await fs.rm(p, { recursive: true, force: true });
      process.stderr.write(`\n== ${spec.name}${o.repeat > 1 ? ` (round ${round}/${o.repeat})` : ''}\n`);
      const steps: Partial<Record<StepName, StepResult>> = {};
      res.runs.push(steps);
      for (const step of STEPS) {
        if (step === 'restore') await fs.mkdir(target, { recursive: true }); // "an empty folder"
        process.stderr.write(`  ${STEP_LABEL[step]}... `);
        const how = step === 'init' ? spec.init : step === 'restore' ? spec.restore(2) : spec.backup(step === 'backup1' ? 1 : 2);
        const run = await measureStep(spec, how, timeFile, o.warm);
        if (run.exitCode !== 0) {
          res.error = `${STEP_LABEL[step]} failed (exit ${run.exitCode}): ${failureText(run)}`;
          process.stderr.write(`FAILED\n    ${res.error}\n`);
          break;
        }
        const r: StepResult = { wallSeconds: roundTo(run.wallSeconds, 3), peakRssMiB: roundTo(run.maxRssKiB / 1024, 1) };
        if (step !== 'init') r.mbPerSecond = roundTo(sourceBytes / 1e6 / run.wallSeconds, 1);
        const summary = step === 'init' ? undefined : spec.summary(run.stdout);
        if (summary !== undefined) r.summary = summary;
        steps[step] = r;
        const mbs = r.mbPerSecond === undefined ? '' : `, ${r.mbPerSecond} MB/s`;
        process.stderr.write(`${r.wallSeconds.toFixed(2)} s${mbs}, ${r.peakRssMiB} MiB RSS\n`);
      }
      if (existsSync(repo)) res.repoBytes = await duBytes(repo);
      if (steps.restore) {
        const check = await countMatches(target, stats);
        if (!res.restoreCheck || !check.ok) res.restoreCheck = check;
        if (!check.ok) {
          process.stderr.write(`  restore check: ${check.files} files / ${check.bytes} bytes restored, expected ${stats.files} / ${stats.bytes}\n`);
        }
      }
      if (!o.keep || round < o.repeat) await fs.rm(target, { recursive: true, force: true });
    }
  }
  // Per step: the median wall time and the median peak RSS over the rounds.
  for (const res of Object.values(results)) {
    for (const step of STEPS) {
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
  const out: string[] = [];
  out.push('');
  out.push(`corpus: ${stats.files} files, ${fmtBytes(stats.bytes)} (seed ${o.seed}); ${os.cpus().length} CPUs, ${fmtBytes(os.totalmem())} RAM`);
  out.push(...alignedTable(rows, 2));
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

  const cache = pageCacheState(o.warm);
  const json = {
    corpus: { seed: o.seed, requestedBytes: o.size, ...stats, generatedNow },
    machine: { cpus: os.cpus().length, totalMemBytes: os.totalmem(), node: process.version, platform: `${os.type()} ${os.release()}` },
    method: {
      wall: 'hrtime around the spawned command',
      rss: 'GNU /usr/bin/time -f %M (max resident set size, KiB)',
      throughput: 'corpus bytes / wall seconds, MB = 10^6 bytes',
      rounds: o.repeat,
      aggregate: 'median per step over the rounds',
      pageCache: cache.dropped ? 'sync and drop before each step' : `sync before each step, cache warm (${cache.why})`,
    },
    results,
    ratios,
  };
  process.stdout.write(`${JSON.stringify(json)}\n`);

  if (!o.keep) await fs.rm(work, { recursive: true, force: true });
  if (o.tools.some((t) => results[t]?.error)) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`vs-restic: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
