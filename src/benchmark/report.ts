// The human form of a bench report (the JSON form is the report itself).
import { formatBytes } from '../util/bytes.js';
import type { BenchReport, BenchRow, Fingerprint, PipelineReport, StageCeiling } from './types.js';
import { formatFigure, formatTable } from './table.js';

export function describeMachine(f: Fingerprint): string {
  return `${f.cpu.model}, ${f.logicalCores} logical cores, ${formatBytes(f.ramBytes)} RAM, ${f.os.platform} ${f.os.release} ${f.arch}, node ${f.node}, engine ${f.engine ?? '?'}`;
}

export function describeFeatures(f: Fingerprint): string {
  const feats = f.cpu.features;
  if (feats === null) return `cpu features: unknown (${f.cpu.featureSource})`;
  const has = Object.entries(feats).filter(([, v]) => v).map(([k]) => k);
  const lacks = Object.entries(feats).filter(([, v]) => !v).map(([k]) => k);
  return `cpu features: ${has.join(' ') || 'none'}${lacks.length > 0 ? ` (no ${lacks.join(', ')})` : ''}`;
}

export function figureCell(r: Pick<BenchRow, 'unit'>, n: number): string {
  return `${formatFigure(n)} ${r.unit}`;
}

export function formatReport(report: BenchReport): string[] {
  const f = report.fingerprint;
  const out: string[] = [];
  out.push(`engine bench (${report.mode}, ${report.sections.join(', ')}): ${describeMachine(f)}`);
  out.push(describeFeatures(f));
  out.push(`in use (${f.policy === 'fallback' ? 'ENGINE_NATIVE=off' : 'addons, then Node built-ins, where they load'}): ${Object.entries(f.chosen).map(([p, c]) => `${p} ${c.impl} (${c.kind})`).join(', ')}`);
  if (report.sections.includes('primitives')) out.push('', ...formatPrimitives(report));
  if (report.pipeline) out.push('', ...formatPipeline(report.pipeline));
  return out;
}

function formatPrimitives(report: BenchReport): string[] {
  const out: string[] = [];
  const rows = report.primitives.map((r) => [
    r.primitive,
    r.operation,
    r.variant,
    `${r.impl}${r.chosen ? ' *' : ''}`,
    r.kind,
    figureCell(r, r.median),
    `${formatFigure(r.p25)}-${formatFigure(r.p75)}`,
    `${(r.rmad * 100).toFixed(1)}%`,
    r.ratio === undefined ? '' : r.ratio.toFixed(3),
  ]);
  out.push(
    ...formatTable(
      [
        { title: 'primitive' },
        { title: 'operation' },
        { title: 'variant' },
        { title: 'implementation' },
        { title: 'kind' },
        { title: 'median', right: true },
        { title: 'p25-p75', right: true },
        { title: 'rMAD', right: true },
        { title: 'zstd ratio', right: true },
      ],
      rows,
    ),
  );
  out.push('* in use on this machine; MB/s = 10^6 bytes/s on one thread; rMAD = median absolute deviation / median');
  if (report.rejected.length > 0) {
    out.push('');
    out.push('not measured:');
    for (const r of report.rejected) out.push(`  ${r.primitive} ${r.impl} (${r.kind}): ${r.reason}`);
  }
  const rec = report.recommendations;
  out.push('');
  out.push('recommendations:');
  out.push(`  cipher: ${rec.cipher.cipher} (${rec.cipher.reason})`);
  out.push(`    rule: ${rec.cipher.rule}`);
  if (rec.compressionLevel === null) {
    out.push('  compression level: not measured');
  } else {
    out.push(`  compression level: ${rec.compressionLevel.level} (${rec.compressionLevel.reason})`);
    out.push(`    rule: ${rec.compressionLevel.rule}`);
  }
  return out;
}

const pct = (x: number | undefined): string => (x === undefined ? '' : `${(x * 100).toFixed(0)}%`);

export function formatPipeline(p: PipelineReport): string[] {
  const out: string[] = [];
  out.push(`pipeline: corpus of ${formatBytes(p.corpusBytes)} in ${p.corpusFiles} files (seed ${p.seed}), memory budget ${formatBytes(p.budgetBytes)}, each run in a fresh process`);
  out.push(
    ...formatTable(
      [{ title: 'run' }, { title: 'backend' }, { title: 'MB/s', right: true }, { title: 'wall s', right: true }, { title: 'CPU s', right: true }, { title: 'peak RSS', right: true }, { title: 'RSS/budget', right: true }, { title: 'stage busy' }, { title: 'cpu ceiling', right: true }, { title: 'efficiency', right: true }, { title: 'limit' }, { title: 'vs slowest stage', right: true }],
      p.runs.map((r) => [
        r.direction,
        r.backend,
        formatFigure(r.mbps),
        r.seconds.toFixed(2),
        r.cpuSeconds.toFixed(2),
        formatBytes(r.peakRssBytes),
        r.peakRssOverBudget.toFixed(2),
        Object.entries(r.utilisation).map(([k, v]) => `${k} ${pct(v)}`).join(', '),
        formatFigure(r.cpuCeilingMbps),
        r.efficiency.toFixed(2),
        r.limitingStage,
        r.stageEfficiency.toFixed(2),
      ]),
    ),
  );
  out.push('');
  out.push('stage ceilings (each stage alone on the corpus; MB/s of corpus bytes):');
  const st = p.stages;
  const stageRows: [string, string, StageCeiling][] = [
    ['backup', 'read', st.backup.read],
    ['backup', 'chunkHash', st.backup.chunkHash],
    ['backup', 'seal', st.backup.seal],
    ['backup', 'store (memory)', st.backup.store.memory],
    ['backup', 'store (local)', st.backup.store.local],
    ['restore', 'load (memory)', st.restore.load.memory],
    ['restore', 'load (local)', st.restore.load.local],
    ['restore', 'unseal', st.restore.unseal],
    ['restore', 'write', st.restore.write],
  ];
  out.push(
    ...formatTable(
      [{ title: 'direction' }, { title: 'stage' }, { title: 'MB/s', right: true }, { title: 'seconds', right: true }, { title: 'CPU s', right: true }, { title: 'bytes', right: true }, { title: 'threads', right: true }],
      stageRows.map(([d, n, c]) => [d, n, formatFigure(c.mbps), c.seconds.toFixed(3), c.cpuSeconds.toFixed(3), formatBytes(c.bytes), String(c.threads)]),
    ),
  );
  out.push('');
  for (const [name, s] of [['backup', p.backup], ['restore', p.restore]] as const) {
    out.push(`${name}: efficiency ${s.efficiency.toFixed(2)} (worst run: ${s.backend}, limited by ${s.limitingStage}; ${s.stageEfficiency.toFixed(2)} of its slowest stage alone); peak RSS / budget ${s.peakRssOverBudget.toFixed(2)} (local)`);
  }
  out.push(`restore / backup throughput (local): ${p.restoreOverBackup.toFixed(2)}`);
  out.push(`efficiency = run MB/s / its ceiling: the slower of its slowest stage alone and the cpu ceiling (${p.cores} cores x corpus / the CPU seconds of all its stages, each alone)`);
  out.push('stage busy = busy time / wall (pool stages: / workers x wall); memory runs hold the repository in the process');
  return out;
}
