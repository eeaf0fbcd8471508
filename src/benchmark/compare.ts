// `engine bench --compare a.json b.json`: two machines' reports side by side, and the cipher for a
// repository that machine A writes and machine B restores (pure functions; reading files is the CLI's).
import { formatBytes } from '../util/bytes.js';
import { cipherScores, pickCipher } from './recommend.js';
import { describeMachine } from './report.js';
import { formatFigure, formatTable } from './table.js';
import {
  COMPARE_SCHEMA,
  rowKey,
  type BenchReport,
  type BenchRow,
  type BenchUnit,
  type CipherRecommendation,
  type Fingerprint,
  type PipelineBackend,
  type PipelineDirection,
  type PipelineReport,
  type PipelineRun,
  type StageCeiling,
} from './types.js';

export interface CompareRow {
  readonly primitive: string;
  readonly operation: string;
  readonly variant: string;
  readonly impl: string;
  readonly kind: string;
  readonly unit: BenchUnit;
  /** Medians; null when the row exists in one report only. */
  readonly a: number | null;
  readonly b: number | null;
  /** b / a (for ms rows above 1 means B is slower). */
  readonly ratio: number | null;
  readonly chosenA: boolean;
  readonly chosenB: boolean;
}

export interface CompareResult {
  readonly schema: typeof COMPARE_SCHEMA;
  readonly a: { readonly label: string; readonly fingerprint: Fingerprint; readonly mode: string };
  readonly b: { readonly label: string; readonly fingerprint: Fingerprint; readonly mode: string };
  readonly rows: readonly CompareRow[];
  /** A repository written on A and restored on B. */
  readonly cipher: CipherRecommendation;
  /** Present when either report has a pipeline section. */
  readonly pipeline?: PipelineCompare;
}

/** One pipeline run (direction + backend) on both machines; null where that report lacks it. */
export interface PipelineRunCompare {
  readonly direction: PipelineDirection;
  readonly backend: PipelineBackend;
  readonly mbpsA: number | null;
  readonly mbpsB: number | null;
  /** mbpsB / mbpsA: above 1 means B is faster. */
  readonly ratio: number | null;
  readonly peakRssA: number | null;
  readonly peakRssB: number | null;
  readonly efficiencyA: number | null;
  readonly efficiencyB: number | null;
  readonly limitA: string | null;
  readonly limitB: string | null;
  /** Newer reports only (null when the report predates them). */
  readonly stageEfficiencyA: number | null;
  readonly stageEfficiencyB: number | null;
  readonly cpuCeilingA: number | null;
  readonly cpuCeilingB: number | null;
}

/** One stage ceiling (each stage alone on the corpus) on both machines. */
export interface PipelineStageCompare {
  readonly direction: PipelineDirection;
  /** read, chunkHash, seal, store (memory), store (local), load (memory), load (local), unseal, write */
  readonly stage: string;
  readonly mbpsA: number | null;
  readonly mbpsB: number | null;
  /** mbpsB / mbpsA: above 1 means B is faster. */
  readonly ratio: number | null;
  /** Newer reports only. */
  readonly cpuSecondsA: number | null;
  readonly cpuSecondsB: number | null;
}

export interface PipelineCompare {
  readonly measuredA: boolean;
  readonly measuredB: boolean;
  readonly corpusBytesA: number | null;
  readonly corpusBytesB: number | null;
  readonly budgetBytesA: number | null;
  readonly budgetBytesB: number | null;
  readonly coresA: number | null;
  readonly coresB: number | null;
  readonly runs: readonly PipelineRunCompare[];
  readonly stages: readonly PipelineStageCompare[];
  /** Restore MB/s over backup MB/s (local) on each machine. */
  readonly restoreOverBackupA: number | null;
  readonly restoreOverBackupB: number | null;
  /** A writes, B restores: B's local restore MB/s over A's local backup MB/s (null unless both were measured). */
  readonly restoreOnBOverBackupOnA: { readonly backupMbpsA: number; readonly restoreMbpsB: number; readonly ratio: number } | null;
  /** Why the figures compare less directly (corpus sizes or memory budgets differ). */
  readonly notes: readonly string[];
}

/**
 * The part of a pipeline section --compare reads. Reports saved before stageEfficiency,
 * cpuCeilingMbps, cores and StageCeiling.cpuSeconds existed lack them, so those are optional here.
 */
type StoredCeiling = Pick<StageCeiling, 'mbps'> & Partial<Pick<StageCeiling, 'cpuSeconds'>>;
type StoredRun = Pick<PipelineRun, 'direction' | 'backend' | 'mbps' | 'peakRssBytes' | 'efficiency' | 'limitingStage'> & Partial<Pick<PipelineRun, 'stageEfficiency' | 'cpuCeilingMbps'>>;
export type ComparedPipeline = Pick<PipelineReport, 'corpusBytes' | 'budgetBytes' | 'restoreOverBackup'> &
  Partial<Pick<PipelineReport, 'cores'>> & {
    readonly runs: readonly StoredRun[];
    readonly stages: {
      readonly backup: { readonly read: StoredCeiling; readonly chunkHash: StoredCeiling; readonly seal: StoredCeiling; readonly store: Readonly<Record<PipelineBackend, StoredCeiling>> };
      readonly restore: { readonly load: Readonly<Record<PipelineBackend, StoredCeiling>>; readonly unseal: StoredCeiling; readonly write: StoredCeiling };
    };
  };

/** A finite number, or null (absent from an older report). */
const num = (v: number | undefined): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const ratioOf = (a: number | null, b: number | null): number | null => (a !== null && b !== null && a > 0 ? b / a : null);

function stageList(p: ComparedPipeline): { direction: PipelineDirection; stage: string; ceiling: StoredCeiling | undefined }[] {
  const st = p.stages as ComparedPipeline['stages'] | undefined;
  return [
    { direction: 'backup', stage: 'read', ceiling: st?.backup?.read },
    { direction: 'backup', stage: 'chunkHash', ceiling: st?.backup?.chunkHash },
    { direction: 'backup', stage: 'seal', ceiling: st?.backup?.seal },
    { direction: 'backup', stage: 'store (memory)', ceiling: st?.backup?.store?.memory },
    { direction: 'backup', stage: 'store (local)', ceiling: st?.backup?.store?.local },
    { direction: 'restore', stage: 'load (memory)', ceiling: st?.restore?.load?.memory },
    { direction: 'restore', stage: 'load (local)', ceiling: st?.restore?.load?.local },
    { direction: 'restore', stage: 'unseal', ceiling: st?.restore?.unseal },
    { direction: 'restore', stage: 'write', ceiling: st?.restore?.write },
  ];
}

const runKey = (r: Pick<PipelineRun, 'direction' | 'backend'>): string => `${r.direction}|${r.backend}`;

export function comparePipelines(pa: ComparedPipeline | undefined, pb: ComparedPipeline | undefined): PipelineCompare | undefined {
  if (pa === undefined && pb === undefined) return undefined;
  const runsA = pa?.runs ?? [];
  const runsB = pb?.runs ?? [];
  const bByKey = new Map(runsB.map((r) => [runKey(r), r]));
  const makeRun = (ra: StoredRun | undefined, rb: StoredRun | undefined): PipelineRunCompare => {
    const r = (ra ?? rb)!;
    const mbpsA = num(ra?.mbps);
    const mbpsB = num(rb?.mbps);
    return {
      direction: r.direction,
      backend: r.backend,
      mbpsA,
      mbpsB,
      ratio: ratioOf(mbpsA, mbpsB),
      peakRssA: num(ra?.peakRssBytes),
      peakRssB: num(rb?.peakRssBytes),
      efficiencyA: num(ra?.efficiency),
      efficiencyB: num(rb?.efficiency),
      limitA: ra?.limitingStage ?? null,
      limitB: rb?.limitingStage ?? null,
      stageEfficiencyA: num(ra?.stageEfficiency),
      stageEfficiencyB: num(rb?.stageEfficiency),
      cpuCeilingA: num(ra?.cpuCeilingMbps),
      cpuCeilingB: num(rb?.cpuCeilingMbps),
    };
  };
  const seen = new Set<string>();
  const runs: PipelineRunCompare[] = [];
  for (const ra of runsA) {
    seen.add(runKey(ra));
    runs.push(makeRun(ra, bByKey.get(runKey(ra))));
  }
  for (const rb of runsB) if (!seen.has(runKey(rb))) runs.push(makeRun(undefined, rb));

  const stagesA = pa ? stageList(pa) : [];
  const stagesB = pb ? stageList(pb) : [];
  const stages: PipelineStageCompare[] = (pa ? stagesA : stagesB).map(({ direction, stage }, i) => {
    const ca = stagesA[i]?.ceiling;
    const cb = stagesB[i]?.ceiling;
    const mbpsA = num(ca?.mbps);
    const mbpsB = num(cb?.mbps);
    return { direction, stage, mbpsA, mbpsB, ratio: ratioOf(mbpsA, mbpsB), cpuSecondsA: num(ca?.cpuSeconds), cpuSecondsB: num(cb?.cpuSeconds) };
  });

  const notes: string[] = [];
  if (pa && pb) {
    if (pa.corpusBytes !== pb.corpusBytes) {
      notes.push(`corpus sizes differ (A ${formatBytes(pa.corpusBytes)}, B ${formatBytes(pb.corpusBytes)}): the figures compare less directly`);
    }
    if (pa.budgetBytes !== pb.budgetBytes) {
      notes.push(`memory budgets differ (A ${formatBytes(pa.budgetBytes)}, B ${formatBytes(pb.budgetBytes)}): peak RSS and throughput compare less directly`);
    }
  }
  const backupA = num(runsA.find((r) => r.direction === 'backup' && r.backend === 'local')?.mbps);
  const restoreB = num(runsB.find((r) => r.direction === 'restore' && r.backend === 'local')?.mbps);
  const cross = ratioOf(backupA, restoreB);
  return {
    measuredA: pa !== undefined,
    measuredB: pb !== undefined,
    corpusBytesA: num(pa?.corpusBytes),
    corpusBytesB: num(pb?.corpusBytes),
    budgetBytesA: num(pa?.budgetBytes),
    budgetBytesB: num(pb?.budgetBytes),
    coresA: num(pa?.cores),
    coresB: num(pb?.cores),
    runs,
    stages,
    restoreOverBackupA: num(pa?.restoreOverBackup),
    restoreOverBackupB: num(pb?.restoreOverBackup),
    restoreOnBOverBackupOnA: backupA !== null && restoreB !== null && cross !== null ? { backupMbpsA: backupA, restoreMbpsB: restoreB, ratio: cross } : null,
    notes,
  };
}

export function compareReports(a: BenchReport, b: BenchReport, labels: { a: string; b: string }): CompareResult {
  const bByKey = new Map<string, BenchRow>(b.primitives.map((r) => [rowKey(r), r]));
  const seen = new Set<string>();
  const rows: CompareRow[] = [];
  const make = (ra: BenchRow | undefined, rb: BenchRow | undefined): CompareRow => {
    const r = (ra ?? rb)!;
    const av = ra?.median ?? null;
    const bv = rb?.median ?? null;
    return {
      primitive: r.primitive,
      operation: r.operation,
      variant: r.variant,
      impl: r.impl,
      kind: r.kind,
      unit: r.unit,
      a: av,
      b: bv,
      ratio: av !== null && bv !== null && av > 0 ? bv / av : null,
      chosenA: ra?.chosen ?? false,
      chosenB: rb?.chosen ?? false,
    };
  };
  for (const ra of a.primitives) {
    const key = rowKey(ra);
    seen.add(key);
    rows.push(make(ra, bByKey.get(key)));
  }
  for (const rb of b.primitives) if (!seen.has(rowKey(rb))) rows.push(make(undefined, rb));

  const rule = 'per cipher, min(seal MB/s on A, open MB/s on B) with the implementation each machine uses: the slower end limits both backup and restore; aes-256-gcm only when over 1.2x xchacha20-poly1305';
  const cipher = pickCipher(cipherScores({ rows: a.primitives, chosen: a.fingerprint.chosen }, { rows: b.primitives, chosen: b.fingerprint.chosen }), rule);
  const pipeline = comparePipelines(a.pipeline, b.pipeline);
  return {
    schema: COMPARE_SCHEMA,
    a: { label: labels.a, fingerprint: a.fingerprint, mode: a.mode },
    b: { label: labels.b, fingerprint: b.fingerprint, mode: b.mode },
    rows,
    cipher,
    ...(pipeline !== undefined ? { pipeline } : {}),
  };
}

export function formatCompare(c: CompareResult): string[] {
  const out: string[] = [];
  out.push(`A: ${c.a.label} (${c.a.mode}): ${describeMachine(c.a.fingerprint)}`);
  out.push(`B: ${c.b.label} (${c.b.mode}): ${describeMachine(c.b.fingerprint)}`);
  out.push('');
  const cell = (v: number | null, unit: BenchUnit, chosen: boolean): string => (v === null ? '-' : `${formatFigure(v)} ${unit}${chosen ? ' *' : ''}`);
  out.push(
    ...formatTable(
      [{ title: 'primitive' }, { title: 'operation' }, { title: 'variant' }, { title: 'implementation' }, { title: 'A', right: true }, { title: 'B', right: true }, { title: 'B/A', right: true }],
      c.rows.map((r) => [r.primitive, r.operation, r.variant, r.impl, cell(r.a, r.unit, r.chosenA), cell(r.b, r.unit, r.chosenB), r.ratio === null ? '-' : `${r.ratio.toFixed(2)}x`]),
    ),
  );
  out.push('* in use on that machine; B/A above 1 means B is faster for MB/s rows and slower for ms rows; - = measured on one machine only');
  out.push('');
  const s = c.cipher.scores;
  const f = (v: number | null): string => (v === null ? 'not measured' : `${formatFigure(v)} MB/s`);
  out.push(`cipher for a repository written on A and restored on B: ${c.cipher.cipher} (${c.cipher.reason})`);
  out.push(`  xchacha20-poly1305 ${f(s['xchacha20-poly1305'])}, aes-256-gcm ${f(s['aes-256-gcm'])}`);
  out.push(`  rule: ${c.cipher.rule}`);
  out.push('', ...formatPipelineCompare(c.pipeline));
  return out;
}

export function formatPipelineCompare(p: PipelineCompare | undefined): string[] {
  if (p === undefined) return ['pipeline: not measured in either report (run `engine bench` without `--only primitives`)'];
  const out: string[] = [];
  const dash = (v: number | null, f: (n: number) => string): string => (v === null ? '-' : f(v));
  const mbps = (v: number | null): string => dash(v, formatFigure);
  const bytes = (v: number | null): string => dash(v, formatBytes);
  const fixed = (digits: number) => (v: number | null): string => dash(v, (n) => n.toFixed(digits));
  const ratio = (v: number | null): string => dash(v, (n) => `${n.toFixed(2)}x`);
  const pair = (x: string, y: string): string => `${x} / ${y}`;
  const side = (measured: boolean, corpus: number | null, budget: number | null, cores: number | null): string =>
    measured ? `corpus ${bytes(corpus)}, budget ${bytes(budget)}, ${cores === null ? '-' : String(cores)} cores` : 'not measured';
  const only = p.measuredA && p.measuredB ? '' : ` (measured on ${p.measuredA ? 'A' : 'B'} only)`;
  out.push(`pipeline${only}: A ${side(p.measuredA, p.corpusBytesA, p.budgetBytesA, p.coresA)}; B ${side(p.measuredB, p.corpusBytesB, p.budgetBytesB, p.coresB)}`);
  for (const note of p.notes) out.push(`note: ${note}`);
  out.push(
    ...formatTable(
      [
        { title: 'run' },
        { title: 'backend' },
        { title: 'MB/s A', right: true },
        { title: 'MB/s B', right: true },
        { title: 'B/A', right: true },
        { title: 'peak RSS A / B', right: true },
        { title: 'efficiency A / B', right: true },
        { title: 'limit A / B' },
        { title: 'cpu ceiling A / B', right: true },
        { title: 'vs slowest stage A / B', right: true },
      ],
      p.runs.map((r) => [
        r.direction,
        r.backend,
        mbps(r.mbpsA),
        mbps(r.mbpsB),
        ratio(r.ratio),
        pair(bytes(r.peakRssA), bytes(r.peakRssB)),
        pair(fixed(2)(r.efficiencyA), fixed(2)(r.efficiencyB)),
        pair(r.limitA ?? '-', r.limitB ?? '-'),
        pair(mbps(r.cpuCeilingA), mbps(r.cpuCeilingB)),
        pair(fixed(2)(r.stageEfficiencyA), fixed(2)(r.stageEfficiencyB)),
      ]),
    ),
  );
  out.push('');
  out.push('stage ceilings (each stage alone on the corpus; MB/s of corpus bytes):');
  out.push(
    ...formatTable(
      [{ title: 'direction' }, { title: 'stage' }, { title: 'MB/s A', right: true }, { title: 'MB/s B', right: true }, { title: 'B/A', right: true }, { title: 'CPU s A / B', right: true }],
      p.stages.map((s) => [s.direction, s.stage, mbps(s.mbpsA), mbps(s.mbpsB), ratio(s.ratio), pair(fixed(3)(s.cpuSecondsA), fixed(3)(s.cpuSecondsB))]),
    ),
  );
  out.push('');
  out.push(`restore / backup throughput (local): A ${fixed(2)(p.restoreOverBackupA)}, B ${fixed(2)(p.restoreOverBackupB)}`);
  const x = p.restoreOnBOverBackupOnA;
  out.push(
    x === null
      ? 'restore on B vs backup on A (local): - (needs a local backup run on A and a local restore run on B)'
      : `restore on B vs backup on A (local): ${formatFigure(x.restoreMbpsB)} / ${formatFigure(x.backupMbpsA)} MB/s = ${x.ratio.toFixed(2)}x (A writes, B restores${x.ratio < 1 ? ': restore on B is the slower end' : ''})`,
  );
  out.push('B/A above 1 means B is faster; - = not in that report (reports saved before cpu ceiling, stage efficiency, stage CPU seconds and cores were added lack them)');
  return out;
}
