// The performance gate: ratios that do not depend on the machine's speed, taken from one
// `engine bench` report, checked against a committed baseline (bench/baseline.json) with a
// stated tolerance each. Within one run the machine's speed cancels out: a fallback over the
// native implementation of the same primitive, a pipeline's throughput over its slowest stage
// measured alone, restore over backup, peak memory over the budget. A change that makes engine
// slower moves one of them; a faster or slower machine does not (much).
import { ceilingsFor } from './pipeline.js';
import type { BenchReport, BenchRow, PipelineDirection, PipelineRun, PipelineStages } from './types.js';

export const GATE_SCHEMA = 'engine-gate/1';

/** Which way is better for a ratio. */
export type Better = 'higher' | 'lower';

export interface GateRatio {
  readonly value: number;
  readonly better: Better;
  /** Allowed relative regression: 0.3 lets a higher-is-better ratio fall to 70% of its baseline. */
  readonly tolerance: number;
  /**
   * A program the ratio is measured against ("restic" for the peer ratios). Where it is not
   * installed the ratio is absent, not missing: shown as skipped, never failed.
   */
  readonly needs?: string;
  /**
   * Why the ratio is shown but never fails the gate (its spread on a loaded machine is wider than
   * a regression worth catching; a load-robust ratio gates the same property instead).
   */
  readonly advisory?: string;
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
  /** The program it was measured against (GateRatio.needs), copied into a baseline written from it. */
  readonly needs?: string;
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

/**
 * Default tolerances, below the 30% regression the gate must catch. Measured on this 2-core
 * machine with a core-hogging process beside the bench, no gated ratio moved by more than 12%
 * from its median (docs/BENCHMARKS.md, "The gate"); a ratio that moves more is advisory.
 */
export const DEFAULT_TOLERANCE: Readonly<Record<Better, number>> = { higher: 0.2, lower: 0.15 };

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
    add(CPU_EFFICIENCY.backup, cpuEfficiency(pipeline, 'backup'), 'higher');
    add(CPU_EFFICIENCY.restore, cpuEfficiency(pipeline, 'restore'), 'higher');
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
  readonly runs?: readonly Pick<PipelineRun, 'direction' | 'backend' | 'cpuSeconds'>[];
  readonly stages?: PipelineStages;
}

export const CPU_EFFICIENCY: Readonly<Record<PipelineDirection, string>> = {
  backup: 'pipeline backup CPU efficiency (CPU s of its stages alone / CPU s of the run)',
  restore: 'pipeline restore CPU efficiency (CPU s of its stages alone / CPU s of the run)',
};

/**
 * The CPU seconds a direction's stages need when each runs alone, over the CPU seconds the whole
 * run spent on the same corpus: the pipeline's own overhead (main thread, messages, copies,
 * collections). The lower of the memory and local runs. Unlike the wall-time efficiency, which
 * divides by a ceiling that assumes every core is free, this holds on a loaded machine: another
 * process takes wall time from the run, not CPU time (a core-hogging process moved it by 6-12%
 * here, the wall-time efficiency by 33%).
 */
function cpuEfficiency(p: PipelineRatios, direction: PipelineDirection): number | undefined {
  if (!p.runs || !p.stages) return undefined;
  let worst: number | undefined;
  for (const run of p.runs) {
    if (run.direction !== direction || !(run.cpuSeconds > 0)) continue;
    const alone = Object.values(ceilingsFor(p.stages, direction, run.backend)).reduce((n, c) => n + c.cpuSeconds, 0);
    const e = alone / run.cpuSeconds;
    if (worst === undefined || e < worst) worst = e;
  }
  return worst;
}

export function limitOf(r: GateRatio): number {
  return r.better === 'higher' ? r.value * (1 - r.tolerance) : r.value * (1 + r.tolerance);
}

/** The CPU features of a report, as the baseline records them. */
export function cpuFeaturesOf(report: BenchReport): string {
  const f = report.fingerprint.cpu.features;
  return f ? Object.keys(f).filter((k) => f[k]).sort().join(' ') : 'unknown';
}

/** What evaluateGate needs to know about the machine besides the measured ratios. */
export interface GateContext {
  /** The CPU features differ from the baseline's: fallback/native ratios are advisory. */
  readonly otherCpu?: boolean;
  /**
   * Programs a ratio may need (GateRatio.needs) that are not installed here, with the reason
   * shown: their ratios are skipped, not failed.
   */
  readonly absent?: Readonly<Record<string, string>>;
  /**
   * Ratios shown but not judged in this run, with the reason: those of a section none of whose
   * runs counted, because other work kept the machine busy (bench/gate.ts).
   */
  readonly unjudged?: readonly { readonly owns: (ratio: string) => boolean; readonly why: string }[];
}

/**
 * Every baseline ratio must be measured and within its tolerance; new ratios are reported, not
 * failed. A ratio that needs an absent program is skipped; an advisory one, or with `otherCpu` a
 * fallback/native one, is shown and never fails.
 */
export function evaluateGate(baseline: GateBaseline, measured: Readonly<Record<string, MeasuredRatio>>, ctx: GateContext = {}): GateResult {
  const rows: GateRow[] = [];
  for (const [name, base] of Object.entries(baseline.ratios)) {
    const m = measured[name];
    const limit = limitOf(base);
    const absentWhy = base.needs !== undefined ? ctx.absent?.[base.needs] : undefined;
    if (absentWhy !== undefined) {
      rows.push({ name, baseline: base.value, measured: null, limit, better: base.better, ok: true, note: `skipped: ${absentWhy}` });
      continue;
    }
    const unjudgedWhy = ctx.unjudged?.find((u) => u.owns(name))?.why;
    const advisory =
      base.advisory !== undefined ? `advisory: ${base.advisory}`
      : unjudgedWhy !== undefined ? `advisory: ${unjudgedWhy}`
      : ctx.otherCpu === true && name.startsWith('fallback/native') ? 'advisory: other CPU features'
      : undefined;
    if (!m) {
      rows.push({ name, baseline: base.value, measured: null, limit, better: base.better, ok: advisory !== undefined, note: `not measured (an implementation or a section is missing)${advisory ? `; ${advisory}` : ''}` });
      continue;
    }
    const within = base.better === 'higher' ? m.value >= limit : m.value <= limit;
    const change = m.value / base.value - 1;
    const note = `${change >= 0 ? '+' : ''}${(change * 100).toFixed(0)}%${within ? '' : advisory ? ` beyond tolerance, ${advisory}` : ' REGRESSION'}`;
    rows.push({ name, baseline: base.value, measured: m.value, limit, better: base.better, ok: within || advisory !== undefined, note });
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
    const first = seen[0];
    out[name] = { value: median(seen.map((m) => m.value)) ?? 0, better: first?.better ?? 'higher', ...(first?.needs !== undefined ? { needs: first.needs } : {}) };
  }
  return out;
}

/**
 * A baseline from measured ratios: default tolerances, except that a ratio already in `previous`
 * keeps its tolerance and advisory note (they were set from measured spreads, docs/BENCHMARKS.md).
 */
export function baselineFrom(measured: Readonly<Record<string, MeasuredRatio>>, measuredOn: string, cpuFeatures?: string, previous?: GateBaseline): GateBaseline {
  const ratios: Record<string, GateRatio> = {};
  for (const [name, m] of Object.entries(measured)) {
    const old = previous?.ratios[name];
    ratios[name] = {
      value: round(m.value),
      better: m.better,
      tolerance: old?.tolerance ?? DEFAULT_TOLERANCE[m.better],
      ...(m.needs !== undefined ? { needs: m.needs } : {}),
      ...(old?.advisory !== undefined ? { advisory: old.advisory } : {}),
    };
  }
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
    for (const field of ['needs', 'advisory'] as const) {
      if (r[field] !== undefined && typeof r[field] !== 'string') throw new Error(`${file}: ratio "${name}": "${field}" must be a string`);
    }
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
  const skipped = result.rows.filter((r) => r.note.startsWith('skipped')).length;
  const aside = skipped > 0 ? ` (${skipped} skipped: a program they compare with is not installed)` : '';
  lines.push(result.ok ? `gate passed: ${result.rows.length - skipped} ratios within tolerance or advisory${aside}` : `gate FAILED: ${bad} of ${result.rows.length} ratios regressed or were not measured`);
  return lines;
}

// --- engine against a peer (restic) ---------------------------------------------------------------

/** The steps of the peer comparison the gate runs (bench/harness/peer-gate.ts). */
export const PEER_STEPS = ['first backup', 'no-change backup', 'restore', 'check read-data'] as const;
export type PeerStep = (typeof PEER_STEPS)[number];

export interface PeerTiming {
  readonly wallSeconds: number;
  /** User + system CPU seconds (all threads, waited-for children). */
  readonly cpuSeconds: number;
}

/** One pair of runs of one step: engine and the peer, one right after the other. */
export interface PeerPair {
  readonly engine: PeerTiming;
  readonly peer: PeerTiming;
}

export function peerThroughputName(peer: string, step: PeerStep): string {
  return `peers ${step}: engine/${peer} throughput (${peer} wall / engine wall)`;
}

export function peerCpuName(peer: string, step: PeerStep): string {
  return `peers ${step}: engine/${peer} CPU efficiency (${peer} CPU s / engine CPU s)`;
}

/**
 * The peer ratios of interleaved pairs: per step, the median over pairs of the peer's time over
 * engine's in the same pair (higher is better: 2 means engine does the step in half the time).
 * Within a pair the two ran seconds apart, so load that lasts cancels out of each pair's ratio;
 * load that hits one side of one pair moves that pair only, and the median drops it.
 */
export function peerRatiosOf(peer: string, rounds: Readonly<Partial<Record<PeerStep, readonly PeerPair[]>>>): Record<string, MeasuredRatio> {
  const out: Record<string, MeasuredRatio> = {};
  for (const step of PEER_STEPS) {
    const pairs = rounds[step] ?? [];
    const wall = median(pairs.filter((p) => p.engine.wallSeconds > 0).map((p) => p.peer.wallSeconds / p.engine.wallSeconds));
    const cpu = median(pairs.filter((p) => p.engine.cpuSeconds > 0).map((p) => p.peer.cpuSeconds / p.engine.cpuSeconds));
    if (wall !== undefined) out[peerThroughputName(peer, step)] = { value: wall, better: 'higher', needs: peer };
    if (cpu !== undefined) out[peerCpuName(peer, step)] = { value: cpu, better: 'higher', needs: peer };
  }
  return out;
}

function median(values: readonly number[]): number | undefined {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1]! + v[mid]!) / 2;
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}
