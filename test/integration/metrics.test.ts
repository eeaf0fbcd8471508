// --metrics-file (src/cli/metrics.ts, docs/UNATTENDED.md "Metrics"): the Prometheus textfile a
// nightly job leaves for node_exporter, read back with a Prometheus text-format parser: the right
// values after a backup that succeeded and after one that failed, with the last success kept.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { currentNative, runEngine } from '../support/cli.js';
import { workdirPerFile } from '../support/workdir.js';

const native = currentNative();

interface ParsedFamily {
  name: string;
  type: string;
  metrics: { value: string; labels?: Record<string, string> }[];
}
const parsePrometheus = createRequire(import.meta.url)('parse-prometheus-text-format') as (text: string) => ParsedFamily[];

describe(`metrics file (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-metrics-');
  let repo: string;
  let src: string;
  let metrics: string;

  beforeAll(async () => {
    repo = join(work, 'repo');
    src = join(work, 'src');
    metrics = join(work, 'engine.prom');
    await mkdir(src);
    await writeFile(join(src, 'a.txt'), 'aaaa\n');
    await writeFile(join(src, 'b.txt'), 'bbbbbbbb\n');
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
  });

  const read = async (): Promise<Map<string, number>> => {
    const families = parsePrometheus(await readFile(metrics, 'utf8'));
    const out = new Map<string, number>();
    for (const f of families) {
      expect(f.type).toBe('GAUGE');
      for (const m of f.metrics) {
        const labels = Object.entries(m.labels ?? {}).sort().map(([k, v]) => `${k}=${v}`).join(',');
        out.set(`${f.name}{${labels}}`, Number(m.value));
      }
    }
    return out;
  };
  const key = (name: string, extra = ''): string => `${name}{command=backup,profile=${extra}}`;

  it('after a backup: its exit code, times, counters, the snapshot count and the repository size', async () => {
    const before = Date.now() / 1000;
    const r = await runEngine(['backup', '--repo', repo, '--metrics-file', metrics, src], { native });
    expect(r.code, r.stderr).toBe(0);
    const m = await read();
    expect(m.get(key('engine_exit_code'))).toBe(0);
    expect(m.get(key('engine_last_success_timestamp_seconds'))).toBeGreaterThanOrEqual(Math.floor(before));
    expect(m.get(key('engine_last_run_timestamp_seconds'))).toBe(m.get(key('engine_last_success_timestamp_seconds')));
    expect(m.get(key('engine_duration_seconds'))).toBeGreaterThan(0);
    expect(m.get('engine_backup_files{command=backup,profile=,state=new}')).toBe(2);
    expect(m.get('engine_backup_files{command=backup,profile=,state=unmodified}')).toBe(0);
    expect(m.get(key('engine_backup_read_bytes'))).toBe(5 + 9);
    expect(m.get(key('engine_backup_total_bytes'))).toBe(5 + 9);
    expect(m.get(key('engine_backup_errors'))).toBe(0);
    expect(m.get(key('engine_snapshots_total'))).toBe(1);
    expect(m.get(key('engine_repository_size_bytes'))).toBeGreaterThan(0);
  });

  it('after a failed backup: its exit code and run time, the last success kept; other commands\' samples kept', async () => {
    const first = await read();
    const check = await runEngine(['check', '--repo', repo, '--metrics-file', metrics], { native });
    expect(check.code).toBe(0);
    await new Promise((r) => setTimeout(r, 20));
    const failed = await runEngine(['backup', '--repo', repo, '--metrics-file', metrics, src], { env: { ENGINE_PASSWORD: 'wrong' }, native });
    expect(failed.code).toBe(12);
    const m = await read();
    expect(m.get(key('engine_exit_code'))).toBe(12);
    expect(m.get(key('engine_last_success_timestamp_seconds'))).toBe(first.get(key('engine_last_success_timestamp_seconds')));
    expect(m.get(key('engine_last_run_timestamp_seconds'))).toBeGreaterThan(first.get(key('engine_last_run_timestamp_seconds'))!);
    expect(m.get('engine_exit_code{command=check,profile=}')).toBe(0);
    // A backup that did not run records no counters of its own: the earlier ones would be stale.
    expect(m.has('engine_backup_files{command=backup,profile=,state=new}')).toBe(false);
  });
});
