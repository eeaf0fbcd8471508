// The human form of a bench report (the JSON form is the report itself).
import { formatBytes } from '../util/bytes.js';
import type { BenchReport, BenchRow, Fingerprint } from './types.js';
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
  out.push(`in use (${f.policy === 'fallback' ? 'ENGINE_NATIVE=off' : 'native where it loads'}): ${Object.entries(f.chosen).map(([p, c]) => `${p} ${c.impl} (${c.kind})`).join(', ')}`);
  out.push('');
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
