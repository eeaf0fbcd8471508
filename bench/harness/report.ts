// Figures and tables of the peer benchmarks: rounding, byte sizes, the tools' JSON summaries,
// plain-text and Markdown tables.

import os from 'node:os';

export function roundTo(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : roundTo((s[mid - 1]! + s[mid]!) / 2, 3);
}

export function fmtBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

/** A tool's JSON summary in its output. */
export function lastJson(text: string, pick?: (o: Record<string, unknown>) => boolean): unknown {
  // A whole-text JSON document first (borg create --json), else the last matching JSON line.
  try {
    const o = JSON.parse(text) as Record<string, unknown>;
    if (o && typeof o === 'object' && (!pick || pick(o))) return o;
  } catch {
    // not one document
  }
  for (const l of text.split('\n').map((x) => x.trim()).reverse()) {
    if (!l.startsWith('{')) continue;
    try {
      const o = JSON.parse(l) as Record<string, unknown>;
      if (!pick || pick(o)) return o;
    } catch {
      // not JSON
    }
  }
  return undefined;
}

/** Warns on stderr when other processes load the machine; returns the 1-minute load average. */
export function warnIfLoaded(advice = ''): number {
  const load = os.loadavg()[0]!;
  if (load > 0.5) process.stderr.write(`warning: load average ${load.toFixed(2)}: other processes use the machine; figures will be noisy${advice}\n`);
  return load;
}

/** A plain-text table: the first `leftColumns` columns left-aligned, the rest right-aligned. */
export function alignedTable(rows: string[][], leftColumns: number): string[] {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]): string => row.map((c, i) => (i < leftColumns ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)];
}

/** A Markdown table; `align` is its separator row's cells (`---`, `--:`). */
export function markdownTable(head: string[], align: string[], rows: string[][]): string[] {
  return [`| ${head.join(' | ')} |`, `|${align.join('|')}|`, ...rows.map((row) => `| ${row.join(' | ')} |`)];
}
