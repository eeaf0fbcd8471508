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
import { baselineFrom, bestOf, cpuFeaturesOf, medianOf, evaluateGate, formatGate, parseBaseline, peerRatiosOf, ratiosOf, type GateBaseline, type GateContext, type MeasuredRatio } from '../src/benchmark/gate.js';
import { parseBenchReport } from '../src/benchmark/validate.js';
import type { BenchReport } from '../src/benchmark/types.js';
import { childrenCpuSeconds, foreignCores, machineBusySeconds } from './harness/cpu-load.js';
import { runPeerGate, peerGateUnavailable } from './harness/peer-gate.js';

const ENGINE = fileURLToPath(new URL('../../bin/engine', import.meta.url));
const DEFAULT_BASELINE = fileURLToPath(new URL('../../bench/baseline.json', import.meta.url));

/** At most this many quick benches: the first, and re-measurements while a ratio fails. */
const RUNS = 3;

/**
 * Above this share of the cores kept busy by other work on average during a run (measured from
 * /proc/stat, bench/harness/cpu-load.ts), the machine counts as busy. With one core-hogging
 * process beside it, every gated ratio stayed within its tolerance here. With other helpers'
 * test suites on top (1.4-1.6 of 2 cores busy besides the gate), a primitive's native and fallback
 * timings, taken one after the other, each met different load, and single fallback/native ratios
 * came out at 0.2x to 2.8x their quiet values; restic, whose Go threads stop spinning on a crowded
 * machine, spent less CPU than when quiet while engine's pipeline stalled, and every peer ratio
 * fell by 25-57%. So a ratio still beyond tolerance after its section's runs is not judged when
 * every one of those runs was busy: the gate shows it and says why, and does not fail.
 */
const BUSY_SHARE = 0.6;

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

function runQuickBenchText(workDir: string): Promise<string> {
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

interface QuickRun {
  readonly report: BenchReport;
  /** Cores other work kept busy on average during the run (undefined off Linux or for a saved report). */
  readonly foreignCores: number | undefined;
}

/** One quick bench, with how busy other work kept the machine meanwhile. */
async function runQuickBench(workDir: string): Promise<QuickRun> {
  const [busy0, own0, t0] = [await machineBusySeconds(), await childrenCpuSeconds(), performance.now()];
  const report = reportOf(await runQuickBenchText(workDir));
  const [busy1, own1] = [await machineBusySeconds(), await childrenCpuSeconds()];
  const own = own0 !== undefined && own1 !== undefined ? own1 - own0 : undefined;
  const foreign = own !== undefined ? foreignCores(busy0, busy1, own, (performance.now() - t0) / 1000) : undefined;
  process.stdout.write(`bench:gate: quick bench done${foreign !== undefined ? `; other work kept ${foreign.toFixed(2)} cores busy on average` : ''}\n`);
  return { report, foreignCores: foreign };
}

/** Why a run counts as busy (other work kept more than BUSY_SHARE of the cores busy), or undefined. */
function busyWhy(what: string, foreign: number | undefined): string | undefined {
  const cores = os.availableParallelism();
  if (foreign === undefined || foreign <= BUSY_SHARE * cores) return undefined;
  return `other work kept ${foreign.toFixed(1)} of ${cores} cores busy during the ${what} (limit ${(BUSY_SHARE * cores).toFixed(1)})`;
}

/** One run of a section: its ratios, and why the machine was busy meanwhile, if it was. */
interface SectionRun {
  readonly ratios: Record<string, MeasuredRatio>;
  readonly busy: string | undefined;
}

/**
 * The two sources of ratios: the quick bench, and the peer comparison (where restic is installed).
 * Each is measured again only when one of its own ratios fails.
 */
interface Section {
  readonly name: string;
  readonly owns: (ratio: string) => boolean;
  /** Whether a failing section whose runs were all busy is measured again (not the minute-long peer comparison). */
  readonly retryWhenBusy: boolean;
  readonly measure: () => Promise<SectionRun>;
  readonly runs: SectionRun[];
  /** Set when the section was not run at all, with the reason. */
  notRun?: string;
}

function benchSection(args: Args, first: QuickRun): Section {
  const runOf = (q: QuickRun): SectionRun => ({ ratios: ratiosOf(q.report), busy: busyWhy('quick bench', q.foreignCores) });
  return {
    name: 'quick bench',
    owns: (ratio) => !ratio.startsWith('peers '),
    retryWhenBusy: true,
    measure: async () => runOf(await runQuickBench(args.workDir)),
    runs: [runOf(first)],
  };
}

function peerSection(args: Args): Section {
  return {
    name: 'peer comparison',
    owns: (ratio) => ratio.startsWith('peers '),
    retryWhenBusy: false,
    async measure() {
      const outcome = await runPeerGate({ dir: path.join(args.workDir, 'peers') }, (line) => process.stderr.write(`${line}\n`));
      if (outcome.kind === 'skipped') throw new Error(`the peer comparison could not run: ${outcome.why}`);
      process.stdout.write(`bench:gate: peer comparison in ${outcome.seconds.toFixed(1)} s: ${outcome.notes.join('; ')}\n`);
      return { ratios: peerRatiosOf(outcome.peer, outcome.rounds), busy: busyWhy('peer comparison', outcome.foreignCores) };
    },
    runs: [],
  };
}

/** Why a section's ratios are not judged: it did not run, or every run of it was busy. */
function unjudgedWhy(s: Section): string | undefined {
  if (s.notRun !== undefined) return s.notRun;
  if (s.runs.length > 0 && s.runs.every((r) => r.busy !== undefined)) return `not judged: ${s.runs.map((r) => r.busy).join('; ')}`;
  return undefined;
}

function merged(sections: readonly Section[], pick: (runs: Record<string, MeasuredRatio>[]) => Record<string, MeasuredRatio>): Record<string, MeasuredRatio> {
  return Object.assign({}, ...sections.map((s) => pick(s.runs.map((r) => r.ratios)))) as Record<string, MeasuredRatio>;
}

/** Why the peer ratios are not measured in this invocation, or undefined when they are. */
async function peersAbsent(args: Args): Promise<string | undefined> {
  if (args.report) return 'not measured with --report (a saved bench report has no peer figures)';
  if (!args.peers) return 'not measured (--no-peers)';
  return peerGateUnavailable();
}

async function writeBaseline(args: Args, report: BenchReport, sections: Section[]): Promise<number> {
  // A baseline is the median of RUNS runs, so that neither a lucky nor a loaded run sets it.
  for (const s of sections) {
    while (!args.report && s.notRun === undefined && s.runs.length < RUNS) s.runs.push(await s.measure());
    const busy = s.runs.find((r) => r.busy !== undefined)?.busy;
    if (busy !== undefined) throw new Error(`a baseline needs a quieter machine: ${busy}`);
  }
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
  const first: QuickRun = args.report ? { report: reportOf(await readFile(args.report, 'utf8')), foreignCores: undefined } : await runQuickBench(args.workDir);
  const report = first.report;
  const sections = [benchSection(args, first)];
  const absentWhy = await peersAbsent(args);
  if (absentWhy === undefined) {
    const peers = peerSection(args);
    sections.push(peers);
    // The comparison takes a minute on a quiet machine and three on a busy one, where its ratios
    // would not be judged anyway: on a machine the quick bench found busy it does not start.
    const busy = busyWhy('quick bench', first.foreignCores);
    if (busy !== undefined) peers.notRun = `not measured: ${busy}`;
    else peers.runs.push(await peers.measure());
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
  const context = (judgeBusy: boolean): GateContext => ({
    otherCpu: baseline.cpuFeatures !== undefined && baseline.cpuFeatures !== features,
    ...(absentWhy !== undefined ? { absent: { restic: absentWhy } } : {}),
    unjudged: sections.flatMap((s) => {
      const why = unjudgedWhy(s);
      return why !== undefined && (!judgeBusy || s.notRun !== undefined) ? [{ owns: s.owns, why }] : [];
    }),
  });
  // A ratio beyond tolerance is measured again (up to RUNS runs of its section) and judged on its
  // best run: load on a shared machine comes and goes, a regression stays (bestOf in
  // src/benchmark/gate.ts). Only the section that failed runs again. The decision to measure
  // again judges busy runs too; the verdict then leaves aside a section whose runs were all busy.
  for (;;) {
    const strict = evaluateGate(baseline, merged(sections, bestOf), context(true));
    const failed = strict.rows.filter((r) => !r.ok).map((r) => r.name);
    const again = sections.filter((s) => !args.report && s.notRun === undefined && s.runs.length < RUNS && failed.some(s.owns) && (s.retryWhenBusy || unjudgedWhy(s) === undefined));
    if (strict.ok || again.length === 0) break;
    const perRun = (name: string): string => sections.flatMap((s) => s.runs.map((r) => r.ratios[name]?.value.toFixed(3) ?? '-')).filter((v) => v !== '-').join(', ');
    process.stdout.write(`bench:gate: ${failed.length} ratio(s) beyond tolerance (${failed.map((n) => `${n}: ${perRun(n)}`).join('; ')}); measuring again: ${again.map((s) => s.name).join(', ')}\n`);
    for (const s of again) s.runs.push(await s.measure());
  }
  const result = evaluateGate(baseline, merged(sections, bestOf), context(false));
  const runCount = sections.map((s) => `${s.runs.length} ${s.name} run(s)${s.runs.some((r) => r.busy) ? ` (${s.runs.filter((r) => r.busy).length} on a busy machine)` : ''}`).join(', ');
  process.stdout.write(`bench:gate against ${args.baseline} (${os.availableParallelism()} cores, ${runCount}, best of them per ratio, ${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
  if (context(false).otherCpu) process.stdout.write(`CPU features here (${features}) differ from the baseline's (${baseline.cpuFeatures}): fallback/native ratios are advisory\n`);
  for (const s of sections) {
    const why = unjudgedWhy(s);
    if (why !== undefined) process.stdout.write(`bench:gate: the ${s.name}'s ratios are shown, not judged: ${why}\n`);
  }
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
