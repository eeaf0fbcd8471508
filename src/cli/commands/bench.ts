// `engine bench`: measures this machine (sections: primitives; the whole pipeline comes later) and
// recommends settings; `--compare A B` puts two saved --json reports side by side.
import { readFile } from 'node:fs/promises';
import type { Output } from '../output.js';
import { nativePolicy } from '../context.js';
import { UsageError } from '../../errors/engine-error.js';
import { runBench } from '../../benchmark/run.js';
import { formatReport } from '../../benchmark/report.js';
import { compareReports, formatCompare } from '../../benchmark/compare.js';
import { parseBenchReport, ReportFormatError } from '../../benchmark/validate.js';
import { BENCH_SECTIONS, type BenchReport, type BenchSection } from '../../benchmark/types.js';

export interface BenchFlags {
  quick?: boolean;
  compare?: string[];
  /** Comma-separated sections to run (default: all). */
  only?: string;
  /** Folder the pipeline section works in (default: os.tmpdir()). */
  workDir?: string;
}

export function parseSections(only: string | undefined): BenchSection[] {
  if (only === undefined) return [...BENCH_SECTIONS];
  const names = only.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  const known: readonly string[] = BENCH_SECTIONS;
  const bad = names.filter((n) => !known.includes(n));
  if (names.length === 0 || bad.length > 0) {
    throw new UsageError(`--only ${only}: unknown section ${bad.join(', ') || '(none given)'}`, { hint: `sections: ${BENCH_SECTIONS.join(', ')}` });
  }
  return names as BenchSection[];
}

async function readReport(file: string): Promise<BenchReport> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--compare: cannot read ${file}: ${(err as Error).message}`);
  }
  try {
    return parseBenchReport(text);
  } catch (err) {
    if (err instanceof ReportFormatError) {
      throw new UsageError(`--compare: ${file} is not an engine bench report: ${err.message}`, { hint: 'write one with `engine bench --json > FILE`' });
    }
    throw err;
  }
}

export async function benchCommand(flags: BenchFlags, out: Output): Promise<number> {
  if (flags.compare !== undefined) {
    if (flags.compare.length !== 2) throw new UsageError(`--compare takes two report files, got ${flags.compare.length}`, { hint: 'engine bench --compare a.json b.json' });
    const [fa, fb] = flags.compare as [string, string];
    const result = compareReports(await readReport(fa), await readReport(fb), { a: fa, b: fb });
    if (out.json) out.data(result);
    else for (const line of formatCompare(result)) out.result(line);
    return 0;
  }
  const sections = parseSections(flags.only);
  const live = !out.json && process.stderr.isTTY === true;
  const started = Date.now();
  const report = await runBench({
    quick: flags.quick === true,
    policy: nativePolicy(),
    sections,
    ...(flags.workDir !== undefined ? { pipelineTune: { workDir: flags.workDir } } : {}),
    ...(live ? { onTask: (label: string) => process.stderr.write(`\r\x1b[Kbench: ${label}`) } : {}),
  });
  if (live) process.stderr.write('\r\x1b[K');
  if (out.json) {
    out.data(report);
    return 0;
  }
  for (const line of formatReport(report)) out.result(line);
  out.info(`(measured in ${((Date.now() - started) / 1000).toFixed(1)} s)`);
  return 0;
}
