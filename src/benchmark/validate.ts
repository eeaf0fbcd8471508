// Reads a report written by `engine bench --json` back, checking every field --compare relies on.
import { ADAPTERS } from '../../native-bindings/index.js';
import type { PrimitiveName } from '../../native-bindings/types.js';
import { BENCH_SCHEMA, type BenchReport, type BenchRow } from './types.js';

export class ReportFormatError extends Error {}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function field(o: Obj, key: string, where: string, type: 'string' | 'number' | 'object'): unknown {
  const v = o[key];
  const ok = type === 'number' ? typeof v === 'number' && Number.isFinite(v) : type === 'object' ? isObj(v) : typeof v === 'string';
  if (!ok) throw new ReportFormatError(`${where}.${key} is ${v === undefined ? 'missing' : `not a ${type === 'number' ? 'finite number' : type}`}`);
  return v;
}

function checkRow(v: unknown, i: number): BenchRow {
  const where = `primitives[${i}]`;
  if (!isObj(v)) throw new ReportFormatError(`${where} is not an object`);
  for (const k of ['primitive', 'operation', 'variant', 'impl', 'kind', 'unit']) field(v, k, where, 'string');
  for (const k of ['median', 'p25', 'p75', 'rmad', 'samples']) field(v, k, where, 'number');
  if (v.unit !== 'MB/s' && v.unit !== 'ms') throw new ReportFormatError(`${where}.unit is ${JSON.stringify(v.unit)}, not "MB/s" or "ms"`);
  if ((v.median as number) <= 0) throw new ReportFormatError(`${where}.median is not positive`);
  if (typeof v.chosen !== 'boolean') throw new ReportFormatError(`${where}.chosen is not a boolean`);
  return v as unknown as BenchRow;
}

/** Parses and checks one report; throws ReportFormatError saying what is wrong. */
export function parseBenchReport(text: string): BenchReport {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new ReportFormatError(`not JSON (${(err as Error).message})`);
  }
  if (!isObj(v)) throw new ReportFormatError('not a JSON object');
  if (v.schema !== BENCH_SCHEMA) throw new ReportFormatError(`schema is ${JSON.stringify(v.schema)}, expected "${BENCH_SCHEMA}" (written by \`engine bench --json\`)`);
  const fp = field(v, 'fingerprint', 'report', 'object') as Obj;
  field(fp, 'arch', 'fingerprint', 'string');
  field(fp, 'node', 'fingerprint', 'string');
  const cpu = field(fp, 'cpu', 'fingerprint', 'object') as Obj;
  field(cpu, 'model', 'fingerprint.cpu', 'string');
  const chosen = field(fp, 'chosen', 'fingerprint', 'object') as Obj;
  for (const p of Object.keys(ADAPTERS) as PrimitiveName[]) {
    const c = field(chosen, p, 'fingerprint.chosen', 'object') as Obj;
    field(c, 'impl', `fingerprint.chosen.${p}`, 'string');
  }
  if (!Array.isArray(v.primitives)) throw new ReportFormatError('primitives is missing or not an array');
  v.primitives.forEach(checkRow);
  if (v.rejected !== undefined && !Array.isArray(v.rejected)) throw new ReportFormatError('rejected is not an array');
  return { rejected: [], ...v } as unknown as BenchReport;
}
