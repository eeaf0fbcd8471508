// `npm run bench:gate [-- --baseline FILE] [--report FILE] [--write-baseline FILE] [--work-dir DIR]`
//
// Runs `engine bench --quick --json` (or reads a saved report with --report), takes the ratios
// that do not depend on the machine's speed (src/benchmark/gate.ts), and compares them with the
// committed baseline (bench/baseline.json by default). Exits 1 with a readable table when a
// ratio regressed beyond its tolerance in each of up to three runs or is no longer measured, 2 on
// bad input. With --write-baseline FILE it writes a new baseline instead: the median of three
// runs, default tolerances.
import { spawn } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { baselineFrom, bestOf, cpuFeaturesOf, medianOf, evaluateGate, formatGate, parseBaseline, ratiosOf } from '../src/benchmark/gate.js';
import { parseBenchReport } from '../src/benchmark/validate.js';
import type { BenchReport } from '../src/benchmark/types.js';

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
}

function parseArgs(argv: string[]): Args {
  const a: Args = { baseline: DEFAULT_BASELINE, report: null, writeBaseline: null, workDir: DEFAULT_WORK_DIR };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (value === undefined || !['--baseline', '--report', '--write-baseline', '--work-dir'].includes(flag ?? '')) {
      throw new Error(`unknown or incomplete argument ${flag ?? ''}: use --baseline FILE, --report FILE, --write-baseline FILE, --work-dir DIR`);
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

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench:gate: ${(err as Error).message}\n`);
    return 2;
  }
  const started = Date.now();
  const text = args.report ? await readFile(args.report, 'utf8') : await runQuickBench(args.workDir);
  const report: BenchReport = parseBenchReport(text.trim().split('\n').pop() ?? '');
  const measured = ratiosOf(report);
  if (args.writeBaseline) {
    // A baseline is the median of RUNS runs, so that neither a lucky nor a loaded run sets it.
    const runs = [measured];
    while (!args.report && runs.length < RUNS) runs.push(ratiosOf(parseBenchReport((await runQuickBench(args.workDir)).trim().split('\n').pop() ?? '')));
    const f = report.fingerprint;
    const baseline = baselineFrom(medianOf(runs), `${f.cpu.model}, ${f.logicalCores} cores, ${f.arch}, node ${f.node}, ${new Date().toISOString().slice(0, 10)}`, cpuFeaturesOf(report));
    await writeFile(args.writeBaseline, `${JSON.stringify(baseline, null, 2)}\n`);
    process.stdout.write(`wrote ${Object.keys(baseline.ratios).length} ratios (median of ${runs.length} run(s)) to ${args.writeBaseline}\n`);
    return 0;
  }
  let baseline;
  try {
    baseline = parseBaseline(await readFile(args.baseline, 'utf8'), args.baseline);
  } catch (err) {
    process.stderr.write(`bench:gate: ${(err as Error).message}\n`);
    return 2;
  }
  const features = cpuFeaturesOf(report);
  const otherCpu = baseline.cpuFeatures !== undefined && baseline.cpuFeatures !== features;
  const runs = [measured];
  let result = evaluateGate(baseline, measured, { otherCpu });
  // A ratio beyond tolerance is measured again (up to RUNS in all) and judged on its best run:
  // load on a shared machine comes and goes, a regression stays (bestOf in src/benchmark/gate.ts).
  while (!result.ok && !args.report && runs.length < RUNS) {
    const failed = result.rows.filter((r) => !r.ok).map((r) => r.name);
    process.stdout.write(`bench:gate: ${failed.length} ratio(s) beyond tolerance in run ${runs.length} (${failed.join('; ')}); measuring again\n`);
    runs.push(ratiosOf(parseBenchReport((await runQuickBench(args.workDir)).trim().split('\n').pop() ?? '')));
    result = evaluateGate(baseline, bestOf(runs), { otherCpu });
  }
  process.stdout.write(`bench:gate against ${args.baseline} (${os.availableParallelism()} cores, ${runs.length} run(s), best of them per ratio, ${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
  if (otherCpu) process.stdout.write(`CPU features here (${features}) differ from the baseline's (${baseline.cpuFeatures}): fallback/native ratios are advisory\n`);
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
