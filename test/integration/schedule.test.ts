// `engine schedule` (src/cli/commands/schedule.ts, docs/UNATTENDED.md "Schedules"): the units it
// writes for a profile's scheduled commands run engine by absolute paths with the profile, at low
// priority and within the memory budget, and systemd-analyze verify accepts them (where
// systemd-analyze exists: the verification is skipped there, never the test). Where systemd is
// not running, the cron lines are printed.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { currentNative, ENGINE_BIN, runEngine } from '../support/cli.js';
import { workdirPerFile } from '../support/workdir.js';

const native = currentNative();
const run = promisify(execFile);
const hasAnalyze = await run('systemd-analyze', ['--version']).then(() => true, () => false);

describe(`schedule (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-schedule-');
  let config: string;
  let units: string;
  const schedule = (args: string[]) => runEngine(['schedule', ...args, '--config', config, '--unit-dir', units, '--no-enable'], { native });

  beforeAll(async () => {
    config = join(work, 'profiles.toml');
    units = join(work, 'units');
    await writeFile(
      config,
      [
        '[nas]',
        'repository = "/srv/backup"',
        'mem-budget = "256M"',
        '[nas.backup]',
        'schedule = "*-*-* 02:30"',
        'source = ["/srv"]',
        '[nas.check]',
        'schedule = "Sun *-*-* 04:00"',
        'read-data-subset = "1/7"',
        '[nas.forget]',
        'schedule = ["monthly"]',
        'keep-daily = 7',
        '[nas.stats]',
        'json = true',
      ].join('\n'),
    );
  });

  it('install writes a service and a timer per scheduled command, which systemd-analyze verify accepts', async () => {
    const r = await schedule(['install', 'nas']);
    expect(r.code, r.stderr).toBe(0);
    expect((await readdir(units)).sort()).toEqual(['backup', 'check', 'forget'].flatMap((c) => [`engine-nas-${c}.service`, `engine-nas-${c}.timer`]));
    const service = await readFile(join(units, 'engine-nas-backup.service'), 'utf8');
    expect(service).toContain(`ExecStart="${ENGINE_BIN}" "--config" "${config}" "-P" "nas" "backup"`);
    expect(service).toContain(`Environment="ENGINE_NODE=${process.execPath}"`);
    expect(service).toContain('Nice=19');
    expect(service).toContain('IOSchedulingClass=idle');
    expect(service).toContain(`MemoryHigh=${256 * 1024 * 1024}`);
    expect(await readFile(join(units, 'engine-nas-check.timer'), 'utf8')).toContain('OnCalendar=Sun *-*-* 04:00');
    expect(await readFile(join(units, 'engine-nas-forget.timer'), 'utf8')).toContain('OnCalendar=monthly');
    if (hasAnalyze) {
      const files = (await readdir(units)).map((f) => join(units, f));
      const verify = await run('systemd-analyze', ['verify', ...files]).then(() => 0, (e: { code?: number; stderr?: string }) => {
        throw new Error(`systemd-analyze verify failed (${e.code}): ${e.stderr}`);
      });
      expect(verify).toBe(0);
    }
    if (!existsSync('/run/systemd/system')) {
      // No systemd running: the same jobs as crontab lines.
      expect(r.stdout).toContain(`30 2 * * * ENGINE_NODE=${process.execPath} ${ENGINE_BIN} --config ${config} -P nas backup`);
      expect(r.stdout).toContain('0 4 * * 0 ');
      expect(r.stdout).toContain('0 0 1 * * ');
    }
  });

  it('status says what is installed; remove deletes the files', async () => {
    const status = await schedule(['status', 'nas']);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('engine-nas-backup: installed');
    const removed = await schedule(['remove', 'nas']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(await readdir(units)).toEqual([]);
    expect((await schedule(['status', 'nas'])).stdout).toContain('engine-nas-backup: not installed');
  });

  it('refuses a schedule systemd would not take, and a profile that schedules nothing', async () => {
    const bad = join(work, 'bad.toml');
    await writeFile(bad, '[x.backup]\nschedule = "every full moon"\n[y]\nrepository = "/r"\n');
    if (hasAnalyze) {
      const r = await runEngine(['schedule', 'install', 'x', '--config', bad, '--unit-dir', units, '--no-enable'], { native });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('every full moon');
    }
    const none = await runEngine(['schedule', 'install', 'y', '--config', bad, '--unit-dir', units, '--no-enable'], { native });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('schedules no command');
  });
});
