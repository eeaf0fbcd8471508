// `engine bench --compare a.json b.json`: two machines' reports side by side, and the cipher for a
// repository that machine A writes and machine B restores (pure functions; reading files is the CLI's).
import { cipherScores, pickCipher } from './recommend.js';
import { describeMachine } from './report.js';
import { formatFigure, formatTable } from './table.js';
import { COMPARE_SCHEMA, rowKey, type BenchReport, type BenchRow, type BenchUnit, type CipherRecommendation, type Fingerprint } from './types.js';

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
  return {
    schema: COMPARE_SCHEMA,
    a: { label: labels.a, fingerprint: a.fingerprint, mode: a.mode },
    b: { label: labels.b, fingerprint: b.fingerprint, mode: b.mode },
    rows,
    cipher,
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
  return out;
}
