// `npm run bench:gate [-- --baseline FILE] [--report FILE] [--write-baseline FILE] [--work-dir DIR] [--no-peers]`
//
// Runs `engine bench --quick --json` (or reads a saved report with --report), takes the ratios
// that do not depend on the machine's speed (src/benchmark/gate.ts), and, where restic is
// installed, runs a small engine-versus-restic comparison for the peer ratios
// (bench/harness/peer-gate.ts); without restic (or with --no-peers, or with --report) the peer
// ratios are skipped with a note, never failed. It compares them with the committed baseline
// (bench/baseline.json by default). Exits 1 with a readable table when a ratio regressed beyond
// its tolerance in each of up to three runs or is no longer measured, 2 on bad input. With
// --write-baseline FILE it writes a new baseline instead: the median of three runs, keeping the
// tolerances and advisory notes of the current baseline.
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { baselineFrom, bestOf, cpuFeaturesOf, medianOf, evaluateGate, formatGate, parseBaseline, peerRatiosOf, ratiosOf, type GateBaseline, type MeasuredRatio } from '../src/benchmark/gate.js';
import { parseBenchReport } from '../src/benchmark/validate.js';
import type { BenchReport } from '../src/benchmark/types.js';
import { runPeerGate, peerGateUnavailable } from './harness/peer-gate.js';

const ENGINE = fileURLToPath(new URL('../../bin/engine', import.meta.url));
const DEFAULT_BASELINE = fileURLToPath(new URL('../../bench/baseline.json', import.meta.url));

/** At most this many quick benches: the first, and re-measurements while a ratio fails. */
const RUNS = 3;

/**
 * The pipeline section works here, not in /tmp: CI runs the gate right after the test suite, which
 * deletes thousands of files in /tmp, and ext4 then creates new files there 30x slower for
 * minutes (it scans past recently deleted inodes), which the restore runs would time.
 */
const DEFAULT_WORK_DIR = fileURLToPath(new URL('../../.bench-work', import.meta.url));

interface Args {
  baseline: string;
  report: string | null;
  writeBaseline: string | null;
  workDir: string;
  peers: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { baseline: DEFAULT_BASELINE, report: null, writeBaseline: null, workDir: DEFAULT_WORK_DIR, peers: true };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === '--no-peers') {
      a.peers = false;
      continue;
    }
    if (value === undefined || !['--baseline', '--report', '--write-baseline', '--work-dir'].includes(flag ?? '')) {
      throw new Error(`unknown or incomplete argument ${flag ?? ''}: use --baseline FILE, --report FILE, --write-baseline FILE, --work-dir DIR, --no-peers`);
    }
    if (flag === '--baseline') a.baseline = value;
    else if (flag === '--report') a.report = value;
    else if (flag === '--work-dir') a.workDir = value;
    else a.writeBaseline = value;
    i++;
  }
  return a;
}

function runQuickBench(workDir: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(ENGINE, ['bench', '--quick', '--json', '--work-dir', workDir], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`engine bench exited with ${code}`))));
  });
}

function reportOf(text: string): BenchReport {
  return parseBenchReport(text.trim().split('\n').pop() ?? '');
}

/**
 * The two sources of ratios: the quick bench, and the peer comparison (where restic is installed).
 * Each is measured again only when one of its own ratios fails.
 */
interface Section {
  readonly name: string;
  readonly owns: (ratio: string) => boolean;
  readonly measure: () => Promise<Record<string, MeasuredRatio>>;
  readonly runs: Record<string, MeasuredRatio>[];
}

function benchSection(args: Args, first: BenchReport): Section {
  return {
    name: 'quick bench',
    owns: (ratio) => !ratio.startsWith('peers '),
    measure: async () => ratiosOf(reportOf(await runQuickBench(args.workDir))),
    runs: [ratiosOf(first)],
  };
}

function peerSection(args: Args): Section {
  return {
    name: 'peer comparison',
    owns: (ratio) => ratio.startsWith('peers '),
    measure: async () => {
      const outcome = await runPeerGate({ dir: path.join(args.workDir, 'peers') }, (line) => process.stderr.write(`${line}\n`));
      if (outcome.kind === 'skipped') throw new Error(`the peer comparison could not run: ${outcome.why}`);
      process.stdout.write(`bench:gate: peer comparison in ${outcome.seconds.toFixed(1)} s: ${outcome.notes.join('; ')}\n`);
      return peerRatiosOf(outcome.peer, outcome.rounds);
    },
    runs: [],
  };
}

function merged(sections: readonly Section[], pick: (runs: Record<string, MeasuredRatio>[]) => Record<string, MeasuredRatio>): Record<string, MeasuredRatio> {
  return Object.assign({}, ...sections.map((s) => pick(s.runs))) as Record<string, MeasuredRatio>;
}

/** Why the peer ratios are not measured in this invocation, or undefined when they are. */
async function peersAbsent(args: Args): Promise<string | undefined> {
  if (args.report) return 'not measured with --report (a saved bench report has no peer figures)';
  if (!args.peers) return 'not measured (--no-peers)';
  return peerGateUnavailable();
}

async function writeBaseline(args: Args, report: BenchReport, sections: Section[]): Promise<number> {
  // A baseline is the median of RUNS runs, so that neither a lucky nor a loaded run sets it.
  for (const s of sections) while (!args.report && s.runs.length < RUNS) s.runs.push(await s.measure());
  let previous: GateBaseline | undefined;
  try {
    previous = parseBaseline(await readFile(args.baseline, 'utf8'), args.baseline);
  } catch {
    previous = undefined;
  }
  const f = report.fingerprint;
  const baseline = baselineFrom(merged(sections, medianOf), `${f.cpu.model}, ${f.logicalCores} cores, ${f.arch}, node ${f.node}, ${new Date().toISOString().slice(0, 10)}`, cpuFeaturesOf(report), previous);
  await writeFile(args.writeBaseline!, `${JSON.stringify(baseline, null, 2)}\n`);
  process.stdout.write(`wrote ${Object.keys(baseline.ratios).length} ratios (median of ${sections.map((s) => `${s.runs.length} ${s.name} run(s)`).join(', ')}) to ${args.writeBaseline}\n`);
  return 0;
}

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench:gate: ${(err as Error).message}\n`);
    return 2;
  }
  const started = Date.now();
  const report = reportOf(args.report ? await readFile(args.report, 'utf8') : await runQuickBench(args.workDir));
  const sections = [benchSection(args, report)];
  const absentWhy = await peersAbsent(args);
  if (absentWhy === undefined) {
    const peers = peerSection(args);
    peers.runs.push(await peers.measure());
    sections.push(peers);
  } else {
    process.stdout.write(`bench:gate: peer ratios skipped: ${absentWhy}\n`);
  }
  if (args.writeBaseline) return writeBaseline(args, report, sections);
  let baseline;
  try {
    baseline = parseBaseline(await readFile(args.baseline, 'utf8'), args.baseline);
  } catch (err) {
    process.stderr.write(`bench:gate: ${(err as Error).message}\n`);
    return 2;
  }
  const features = cpuFeaturesOf(report);
  const ctx = { otherCpu: baseline.cpuFeatures !== undefined && baseline.cpuFeatures !== features, ...(absentWhy !== undefined ? { absent: { restic: absentWhy } } : {}) };
  let result = evaluateGate(baseline, merged(sections, bestOf), ctx);
  // A ratio beyond tolerance is measured again (up to RUNS runs of its section) and judged on its
  // best run: load on a shared machine comes and goes, a regression stays (bestOf in
  // src/benchmark/gate.ts). Only the section that failed runs again.
  for (;;) {
    const failed = result.rows.filter((r) => !r.ok).map((r) => r.name);
    const again = sections.filter((s) => !args.report && s.runs.length < RUNS && failed.some(s.owns));
    if (result.ok || again.length === 0) break;
    process.stdout.write(`bench:gate: ${failed.length} ratio(s) beyond tolerance (${failed.join('; ')}); measuring again: ${again.map((s) => s.name).join(', ')}\n`);
    for (const s of again) s.runs.push(await s.measure());
    result = evaluateGate(baseline, merged(sections, bestOf), ctx);
  }
  const runCount = sections.map((s) => `${s.runs.length} ${s.name} run(s)`).join(', ');
  process.stdout.write(`bench:gate against ${args.baseline} (${os.availableParallelism()} cores, ${runCount}, best of them per ratio, ${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
  if (ctx.otherCpu) process.stdout.write(`CPU features here (${features}) differ from the baseline's (${baseline.cpuFeatures}): fallback/native ratios are advisory\n`);
  for (const line of formatGate(result)) process.stdout.write(`${line}\n`);
  return result.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench:gate: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);
