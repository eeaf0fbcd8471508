// The performance gate: ratios that do not depend on the machine's speed, taken from one
// `engine bench` report, checked against a committed baseline (bench/baseline.json) with a
// stated tolerance each. Within one run the machine's speed cancels out: a fallback over the
// native implementation of the same primitive, a pipeline's throughput over its slowest stage
// measured alone, restore over backup, peak memory over the budget. A change that makes engine
// slower moves one of them; a faster or slower machine does not (much).
import type { BenchReport, BenchRow } from './types.js';

export const GATE_SCHEMA = 'engine-gate/1';

/** Which way is better for a ratio. */
export type Better = 'higher' | 'lower';

export interface GateRatio {
  readonly value: number;
  readonly better: Better;
  /** Allowed relative regression: 0.3 lets a higher-is-better ratio fall to 70% of its baseline. */
  readonly tolerance: number;
}

export interface GateBaseline {
  readonly schema: typeof GATE_SCHEMA;
  /** Where and how the baseline was measured (for people; not compared). */
  readonly measuredOn?: string;
  /**
   * The CPU features of the machine that measured it (e.g. "aes avx2 avx512f"). A fallback over
   * a native implementation depends on the instruction set (native BLAKE3 doubles with AVX-512):
   * on a machine with other features those ratios are shown but do not fail the gate.
   */
  readonly cpuFeatures?: string;
  readonly ratios: Readonly<Record<string, GateRatio>>;
}

export interface MeasuredRatio {
  readonly value: number;
  readonly better: Better;
}

export interface GateRow {
  readonly name: string;
  readonly baseline: number;
  readonly measured: number | null;
  /** The worst value still accepted. */
  readonly limit: number;
  readonly better: Better;
  readonly ok: boolean;
  readonly note: string;
}

export interface GateResult {
  readonly ok: boolean;
  readonly rows: readonly GateRow[];
}

/** Default tolerances: primitive timings on a shared 2-core machine wander by up to ~20%. */
export const DEFAULT_TOLERANCE: Readonly<Record<Better, number>> = { higher: 0.3, lower: 0.15 };

function fallbackRatio(native: BenchRow, fallback: BenchRow): number {
  // MB/s: fallback / native; ms per operation: native / fallback. Either way, higher means the
  // fallback is closer to the native implementation.
  return native.unit === 'ms' ? native.median / fallback.median : fallback.median / native.median;
}

/** The machine-independent ratios one report yields. */
export function ratiosOf(report: BenchReport): Record<string, MeasuredRatio> {
  const out: Record<string, MeasuredRatio> = {};
  const chosenNative = report.primitives.filter((r) => r.chosen && r.kind === 'native');
  for (const native of chosenNative) {
    for (const fb of report.primitives) {
      if (fb.kind === 'native' || fb.primitive !== native.primitive || fb.operation !== native.operation || fb.variant !== native.variant) continue;
      if (!(native.median > 0) || !(fb.median > 0)) continue;
      out[`fallback/native ${fb.primitive} ${fb.operation} (${fb.variant}) ${fb.impl}`] = { value: fallbackRatio(native, fb), better: 'higher' };
    }
  }
  const pipeline = (report as { pipeline?: PipelineRatios }).pipeline;
  if (pipeline) {
    const add = (name: string, value: number | undefined, better: Better): void => {
      if (typeof value === 'number' && Number.isFinite(value)) out[name] = { value, better };
    };
    add('pipeline backup efficiency (throughput / ceiling: slowest stage or cpu)', pipeline.backup?.efficiency, 'higher');
    add('pipeline restore efficiency (throughput / ceiling: slowest stage or cpu)', pipeline.restore?.efficiency, 'higher');
    add('pipeline backup throughput / slowest stage alone', pipeline.backup?.stageEfficiency, 'higher');
    add('pipeline restore throughput / slowest stage alone', pipeline.restore?.stageEfficiency, 'higher');
    add('pipeline restore / backup throughput', pipeline.restoreOverBackup, 'higher');
    add('pipeline backup peak RSS / budget', pipeline.backup?.peakRssOverBudget, 'lower');
    add('pipeline restore peak RSS / budget', pipeline.restore?.peakRssOverBudget, 'lower');
  }
  return out;
}

/** The part of the pipeline section the gate reads. */
interface PipelineRatios {
  readonly backup?: { readonly efficiency?: number; readonly stageEfficiency?: number; readonly peakRssOverBudget?: number };
  readonly restore?: { readonly efficiency?: number; readonly stageEfficiency?: number; readonly peakRssOverBudget?: number };
  readonly restoreOverBackup?: number;
}

export function limitOf(r: GateRatio): number {
  return r.better === 'higher' ? r.value * (1 - r.tolerance) : r.value * (1 + r.tolerance);
}

/** The CPU features of a report, as the baseline records them. */
export function cpuFeaturesOf(report: BenchReport): string {
  const f = report.fingerprint.cpu.features;
  return f ? Object.keys(f).filter((k) => f[k]).sort().join(' ') : 'unknown';
}

/**
 * Every baseline ratio must be measured and within its tolerance; new ratios are reported, not
 * failed. With `otherCpu`, fallback/native ratios are advisory (see GateBaseline.cpuFeatures).
 */
export function evaluateGate(baseline: GateBaseline, measured: Readonly<Record<string, MeasuredRatio>>, opts: { otherCpu?: boolean } = {}): GateResult {
  const rows: GateRow[] = [];
  for (const [name, base] of Object.entries(baseline.ratios)) {
    const m = measured[name];
    const limit = limitOf(base);
    const advisory = opts.otherCpu === true && name.startsWith('fallback/native');
    if (!m) {
      rows.push({ name, baseline: base.value, measured: null, limit, better: base.better, ok: advisory, note: `not measured (an implementation or a section is missing)${advisory ? '; advisory: other CPU features' : ''}` });
      continue;
    }
    const within = base.better === 'higher' ? m.value >= limit : m.value <= limit;
    const change = m.value / base.value - 1;
    const note = `${change >= 0 ? '+' : ''}${(change * 100).toFixed(0)}%${within ? '' : advisory ? ' beyond tolerance, advisory: other CPU features' : ' REGRESSION'}`;
    rows.push({ name, baseline: base.value, measured: m.value, limit, better: base.better, ok: within || advisory, note });
  }
  for (const [name, m] of Object.entries(measured)) {
    if (!(name in baseline.ratios)) rows.push({ name, baseline: Number.NaN, measured: m.value, limit: Number.NaN, better: m.better, ok: true, note: 'new (not in the baseline)' });
  }
  return { ok: rows.every((r) => r.ok), rows };
}

/**
 * Per ratio, the best value any of several runs measured. A shared machine's load (CPU steal,
 * another job on the other core) only ever makes one side of a ratio look worse for a while; a
 * change in engine makes it worse in every run. So a ratio that fails once is measured again,
 * and only one that fails in every run is a regression.
 */
export function bestOf(runs: readonly Readonly<Record<string, MeasuredRatio>>[]): Record<string, MeasuredRatio> {
  const out: Record<string, MeasuredRatio> = {};
  for (const run of runs) {
    for (const [name, m] of Object.entries(run)) {
      const prev = out[name];
      const better = prev === undefined || (m.better === 'higher' ? m.value > prev.value : m.value < prev.value);
      if (better) out[name] = m;
    }
  }
  return out;
}

/** Per ratio, the median of several runs: what a baseline is written from, so one lucky run does not set it. */
export function medianOf(runs: readonly Readonly<Record<string, MeasuredRatio>>[]): Record<string, MeasuredRatio> {
  const out: Record<string, MeasuredRatio> = {};
  const names = new Set(runs.flatMap((r) => Object.keys(r)));
  for (const name of names) {
    const seen = runs.map((r) => r[name]).filter((m): m is MeasuredRatio => m !== undefined);
    const values = seen.map((m) => m.value).sort((a, b) => a - b);
    const mid = values.length >> 1;
    const median = values.length % 2 === 1 ? (values[mid] ?? 0) : ((values[mid - 1] ?? 0) + (values[mid] ?? 0)) / 2;
    out[name] = { value: median, better: seen[0]?.better ?? 'higher' };
  }
  return out;
}

/** A baseline from one run's ratios, with the default tolerances. */
export function baselineFrom(measured: Readonly<Record<string, MeasuredRatio>>, measuredOn: string, cpuFeatures?: string): GateBaseline {
  const ratios: Record<string, GateRatio> = {};
  for (const [name, m] of Object.entries(measured)) ratios[name] = { value: round(m.value), better: m.better, tolerance: DEFAULT_TOLERANCE[m.better] };
  return { schema: GATE_SCHEMA, measuredOn, ...(cpuFeatures !== undefined ? { cpuFeatures } : {}), ratios };
}

export function parseBaseline(text: string, file: string): GateBaseline {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file} is not JSON: ${(err as Error).message}`);
  }
  const b = data as Partial<GateBaseline> | null;
  if (!b || b.schema !== GATE_SCHEMA || typeof b.ratios !== 'object' || b.ratios === null) throw new Error(`${file} is not a gate baseline (schema ${GATE_SCHEMA} with "ratios")`);
  for (const [name, r] of Object.entries(b.ratios)) {
    const ok = typeof r?.value === 'number' && (r.better === 'higher' || r.better === 'lower') && typeof r.tolerance === 'number' && r.tolerance >= 0 && r.tolerance < 1;
    if (!ok) throw new Error(`${file}: ratio "${name}" needs a numeric value, better "higher" or "lower", and a tolerance in [0, 1)`);
  }
  return b as GateBaseline;
}

export function formatGate(result: GateResult): string[] {
  const fmt = (x: number | null): string => (x === null || Number.isNaN(x) ? '-' : x.toFixed(3));
  const lines = [`${'ratio'.padEnd(86)} ${'baseline'.padStart(9)} ${'measured'.padStart(9)} ${'limit'.padStart(9)}  change`];
  for (const r of result.rows) {
    lines.push(`${(r.ok ? '  ' : '! ') + r.name.padEnd(84)} ${fmt(r.baseline).padStart(9)} ${fmt(r.measured).padStart(9)} ${(r.better === 'higher' ? '>=' : '<=') + fmt(r.limit).padStart(7)}  ${r.note}`);
  }
  const bad = result.rows.filter((r) => !r.ok).length;
  lines.push(result.ok ? `gate passed: ${result.rows.length} ratios within tolerance` : `gate FAILED: ${bad} of ${result.rows.length} ratios regressed or were not measured`);
  return lines;
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}
