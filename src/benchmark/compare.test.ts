import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareReports, formatCompare } from './compare.js';
import { parseBenchReport, ReportFormatError } from './validate.js';
import { machineRows, report, row } from './testing.js';
import { benchCommand } from '../cli/commands/bench.js';
import { exitCodeFor } from '../cli/exit-codes.js';
import type { Output } from '../cli/output.js';

// A server with AES instructions, and a small ARM board without them (AES open slow).
const server = report('server', [...machineRows({ xcSeal: 1200, xcOpen: 1300, aesSeal: 4000, aesOpen: 4200 }), row('blake3', 'keyed-hash', 'server-only', 5000, { chosen: false })]);
const pi = report('pi', machineRows({ xcSeal: 170, xcOpen: 180, aesSeal: 27, aesOpen: 30 }));

describe('compareReports', () => {
  it('matches rows by primitive, operation, variant and implementation, with the ratio b/a', () => {
    const c = compareReports(server, pi, { a: 'server.json', b: 'pi.json' });
    const seal = c.rows.find((r) => r.primitive === 'xchacha20poly1305' && r.operation === 'seal' && r.impl === 'xc');
    expect(seal).toMatchObject({ a: 1200, b: 170 });
    expect(seal?.ratio).toBeCloseTo(170 / 1200, 6);
    const only = c.rows.find((r) => r.impl === 'server-only');
    expect(only).toMatchObject({ a: 5000, b: null, ratio: null });
    expect(c.rows).toHaveLength(server.primitives.length);
  });

  it('recommends the cipher from seal on the writer and open on the restorer', () => {
    // Server writes, Pi restores: AES would open at 30 MB/s on the Pi, XChaCha at 180.
    const toPi = compareReports(server, pi, { a: 'server', b: 'pi' });
    expect(toPi.cipher.cipher).toBe('xchacha20-poly1305');
    expect(toPi.cipher.scores).toEqual({ 'xchacha20-poly1305': 180, 'aes-256-gcm': 30 });
    // Two servers: AES wins.
    const other = report('server2', machineRows({ xcSeal: 1000, xcOpen: 1100, aesSeal: 3000, aesOpen: 3500 }));
    const c = compareReports(server, other, { a: 'a', b: 'b' });
    expect(c.cipher.cipher).toBe('aes-256-gcm');
    expect(c.cipher.scores['aes-256-gcm']).toBe(3500);
    const text = formatCompare(c).join('\n');
    expect(text).toMatch(/written on A and restored on B: aes-256-gcm/);
    expect(text).toMatch(/2\.50x|0\.83x/);
  });
});

describe('parseBenchReport', () => {
  it('round-trips a report and names what is wrong with a bad one', () => {
    expect(parseBenchReport(JSON.stringify(server)).primitives).toHaveLength(server.primitives.length);
    expect(() => parseBenchReport('{')).toThrow(ReportFormatError);
    expect(() => parseBenchReport(JSON.stringify({ ...server, schema: 'x/1' }))).toThrow(/schema is "x\/1"/);
    const badRow = { ...server, primitives: [{ ...server.primitives[0], median: 'fast' }] };
    expect(() => parseBenchReport(JSON.stringify(badRow))).toThrow(/primitives\[0\]\.median is not a finite number/);
    const { chosen: _c, ...noChosen } = server.fingerprint;
    expect(() => parseBenchReport(JSON.stringify({ ...server, fingerprint: noChosen }))).toThrow(/fingerprint\.chosen is missing/);
  });
});

describe('engine bench --compare', () => {
  let dir = '';
  const lines: string[] = [];
  const out: Output = { json: false, verbose: false, result: (t) => lines.push(t), data: (v) => lines.push(JSON.stringify(v)), info: () => {}, warn: () => {} };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'engine-bench-'));
    await writeFile(join(dir, 'a.json'), JSON.stringify(server));
    await writeFile(join(dir, 'b.json'), JSON.stringify(pi));
    await writeFile(join(dir, 'bad.json'), JSON.stringify({ schema: 'engine-bench/1' }));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  it('prints the comparison, and gives a usage error (exit 2) naming a bad file', async () => {
    expect(await benchCommand({ compare: [join(dir, 'a.json'), join(dir, 'b.json')] }, out)).toBe(0);
    expect(lines.join('\n')).toMatch(/restored on B: xchacha20-poly1305/);
    const bad = join(dir, 'bad.json');
    const err: unknown = await benchCommand({ compare: [join(dir, 'a.json'), bad] }, out).catch((e: unknown) => e);
    expect(exitCodeFor(err)).toBe(2);
    expect((err as Error).message).toContain(bad);
    expect((err as Error).message).toMatch(/fingerprint is missing/);
    const missing: unknown = await benchCommand({ compare: [join(dir, 'nope.json'), bad] }, out).catch((e: unknown) => e);
    expect(exitCodeFor(missing)).toBe(2);
    expect((missing as Error).message).toMatch(/cannot read .*nope\.json/);
    expect(exitCodeFor(await benchCommand({ compare: [bad] }, out).catch((e: unknown) => e))).toBe(2);
  });
});
