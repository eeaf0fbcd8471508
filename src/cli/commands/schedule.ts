// `engine schedule install|remove|status PROFILE` (docs/UNATTENDED.md "Schedules"): systemd units
// and timers for the commands of a profile that have a `schedule` (resticprofile's key: systemd
// OnCalendar expressions), each running `engine --config FILE -P PROFILE COMMAND` by absolute
// paths, in the background (Nice, idle I/O) and within a memory limit matching --mem-budget. Where
// systemd is not running, the cron lines that do the same are printed instead.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { UsageError } from '../../errors/engine-error.js';
import { packageRoot } from '../../package-info.js';
import { parseSize } from '../../util/bytes.js';
import type { Output } from '../output.js';
import { defaultConfigFile, readProfile } from '../profiles.js';

const run = promisify(execFile);

export interface ScheduleFlags {
  config?: string;
  /** Where the unit files go (default: the user's or the system's systemd folder). */
  unitDir?: string;
  /** Write the files only: no daemon-reload, no enable. */
  enable?: boolean;
  json?: boolean;
}

interface ScheduledCommand {
  command: string;
  schedules: string[];
  permission: 'user' | 'system';
  memBudgetBytes: number | undefined;
}

export async function scheduleCommand(action: 'install' | 'remove' | 'status', profile: string, flags: ScheduleFlags, out: Output): Promise<number> {
  const file = resolve(flags.config ?? defaultConfigFile());
  const scheduled = scheduledCommands(file, profile);
  if (scheduled.length === 0 && action === 'install') throw new UsageError(`profile "${profile}" of ${file} schedules no command`, { hint: 'add schedule = "daily" (a systemd calendar expression) to a command\'s table, e.g. [' + profile + '.backup]' });
  const systemd = existsSync('/run/systemd/system');
  const results: { unit: string; schedules: string[]; files: string[]; state: string }[] = [];
  for (const s of scheduled) {
    const dir = flags.unitDir ? resolve(flags.unitDir) : unitDir(s.permission);
    const base = unitName(profile, s.command);
    const files = [join(dir, `${base}.service`), join(dir, `${base}.timer`)];
    const systemctl = (...args: string[]) => run('systemctl', [...(s.permission === 'user' ? ['--user'] : []), ...args]);
    if (action === 'install') {
      for (const expr of s.schedules) await checkCalendar(expr, profile, s.command);
      await mkdir(dir, { recursive: true });
      await writeFile(files[0]!, serviceUnit(file, profile, s));
      await writeFile(files[1]!, timerUnit(profile, s));
      let state = 'written';
      if (systemd && flags.enable !== false) {
        await systemctl('daemon-reload');
        await systemctl('enable', '--now', `${base}.timer`);
        state = 'enabled';
      }
      results.push({ unit: base, schedules: s.schedules, files, state });
    } else if (action === 'remove') {
      if (systemd && flags.enable !== false) await systemctl('disable', '--now', `${base}.timer`).catch(() => undefined);
      for (const f of files) await rm(f, { force: true });
      if (systemd && flags.enable !== false) await systemctl('daemon-reload').catch(() => undefined);
      results.push({ unit: base, schedules: s.schedules, files, state: 'removed' });
    } else {
      const present = files.every((f) => existsSync(f));
      let state = present ? 'installed' : 'not installed';
      if (present && systemd) state = (await systemctl('is-active', `${base}.timer`).then((r) => r.stdout.trim(), (e: { stdout?: string }) => e.stdout?.trim() ?? 'unknown')) || state;
      results.push({ unit: base, schedules: s.schedules, files, state });
    }
  }
  if (out.json) {
    out.data({ message_type: 'schedule', action, profile, config: file, systemd, units: results });
    return 0;
  }
  for (const r of results) out.result(`${r.unit}: ${r.state} (${r.schedules.join('; ')})${action === 'status' ? '' : ` ${r.files.join(', ')}`}`);
  if (action === 'install' && !systemd) {
    out.info('systemd is not running here: the unit files are written but not enabled. Without systemd, these crontab lines run the same (crontab -e):');
    for (const s of scheduled) {
      for (const expr of s.schedules) {
        const cron = await cronOf(expr);
        // cron reads % as a line break: escaped in the command.
        const line = `${shellQuote(join(packageRoot() ?? '', 'bin', 'engine'))} --config ${shellQuote(file)} -P ${shellQuote(profile)} ${s.command}`.replace(/%/g, '\\%');
        out.result(cron ? `${cron} ENGINE_NODE=${shellQuote(process.execPath)} ${line}` : `# ${expr}: no cron form; run ${line} from your scheduler`);
      }
    }
  }
  return 0;
}

/** Command groups: a unit must name one of their subcommands, which `schedule` does not (yet) take. */
const NOT_SCHEDULABLE = new Set(['repair', 'schedule', 'completion', 'man', 'serve']);

/** The profile's command tables that have a `schedule`. */
function scheduledCommands(file: string, profile: string): ScheduledCommand[] {
  // Written into unit files and a crontab: a line break there would add lines of its own.
  for (const [what, text] of [['profile', profile], ['profiles file', file], ['engine', packageRoot() ?? ''], ['node', process.execPath]] as const) {
    if (/[\n\r]/.test(text)) throw new UsageError(`the ${what} name holds a line break: it cannot go into a unit file`);
  }
  const p = readProfile(file, profile);
  const out: ScheduledCommand[] = [];
  for (const [command, table] of Object.entries(p.tables)) {
    const schedule = table.schedule;
    if (schedule === undefined) continue;
    if (NOT_SCHEDULABLE.has(command)) throw new UsageError(`${file}: [${profile}.${command}] schedule: \`engine ${command}\` cannot be scheduled`, { hint: 'schedule backup, check, forget, prune, copy...' });
    const schedules = Array.isArray(schedule) ? schedule : [schedule];
    if (schedules.length === 0 || !schedules.every((x) => typeof x === 'string' && x.trim() !== '')) throw new UsageError(`${file}: [${profile}.${command}] schedule: give a systemd calendar expression or a list of them`);
    const permission = table['schedule-permission'] ?? p.keys['schedule-permission'] ?? (process.getuid?.() === 0 ? 'system' : 'user');
    if (permission !== 'user' && permission !== 'system') throw new UsageError(`${file}: [${profile}.${command}] schedule-permission: "user" or "system"`);
    const budget = table['mem-budget'] ?? p.keys['mem-budget'];
    out.push({ command, schedules: schedules as string[], permission, memBudgetBytes: typeof budget === 'string' || typeof budget === 'number' ? parseSize(String(budget), 'mem-budget') : undefined });
  }
  return out.sort((a, b) => (a.command < b.command ? -1 : 1));
}

export function unitName(profile: string, command: string): string {
  return `engine-${profile}-${command}`.replace(/[^A-Za-z0-9:_.-]/g, '_');
}

function unitDir(permission: 'user' | 'system'): string {
  return permission === 'system' ? '/etc/systemd/system' : join(process.env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'systemd', 'user');
}

/**
 * The service: engine's launcher by absolute path, told which Node to run (a timer's bare PATH
 * finds no Node installed by nvm or under a prefix), at the lowest CPU and I/O priority, with
 * systemd's memory limits around --mem-budget: reclaim above it (MemoryHigh), a hard stop at one and
 * a half times it (MemoryMax: the page cache counts there too).
 */
function serviceUnit(file: string, profile: string, s: ScheduledCommand): string {
  const root = packageRoot();
  if (!root) throw new UsageError('cannot find where engine is installed (its package.json)');
  const exec = [join(root, 'bin', 'engine'), '--config', file, '-P', profile, ...s.command.split(' ')].map(systemdQuote).join(' ');
  const memory = s.memBudgetBytes !== undefined ? [`MemoryHigh=${s.memBudgetBytes}`, `MemoryMax=${Math.ceil(s.memBudgetBytes * 1.5)}`] : [];
  return [
    '[Unit]',
    `Description=engine ${s.command} of profile ${profile}`,
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    'Type=oneshot',
    // Exit 3 is a snapshot saved with unreadable files named: a success, as for the hooks and metrics.
    'SuccessExitStatus=3',
    `Environment=${systemdQuote(`ENGINE_NODE=${process.execPath}`)}`,
    `ExecStart=${exec}`,
    'Nice=19',
    'IOSchedulingClass=idle',
    ...memory,
    '',
  ].join('\n');
}

function timerUnit(profile: string, s: ScheduledCommand): string {
  return ['[Unit]', `Description=engine ${s.command} of profile ${profile}, on schedule`, '', '[Timer]', ...s.schedules.map((e) => `OnCalendar=${e}`), 'Persistent=true', '', '[Install]', 'WantedBy=timers.target', ''].join('\n');
}

/** A word of ExecStart= or Environment=: quoted, with systemd's specifiers (%) and variables ($) escaped. */
function systemdQuote(word: string): string {
  return `"${word.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/%/g, '%%').replace(/\$/g, '$$$$')}"`;
}

function shellQuote(word: string): string {
  return /^[A-Za-z0-9_./:@=-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Refuses an expression systemd would not take (checked by systemd-analyze where it exists). */
async function checkCalendar(expr: string, profile: string, command: string): Promise<void> {
  if (!(await hasSystemdAnalyze())) return;
  await run('systemd-analyze', ['calendar', expr]).catch(() => {
    throw new UsageError(`[${profile}.${command}] schedule "${expr}" is not a systemd calendar expression`, { hint: 'e.g. "daily", "Mon *-*-* 03:00", "*-*-* 02:30"; `systemd-analyze calendar EXPR` checks one' });
  });
}

let analyze: Promise<boolean> | null = null;
function hasSystemdAnalyze(): Promise<boolean> {
  analyze ??= run('systemd-analyze', ['--version']).then(() => true, () => false);
  return analyze;
}

/** The crontab time fields of a calendar expression, when it has a cron form ("30 2 * * *"). */
async function cronOf(expr: string): Promise<string | null> {
  const keywords: Record<string, string> = { hourly: '0 * * * *', daily: '0 0 * * *', weekly: '0 0 * * 1', monthly: '0 0 1 * *', yearly: '0 0 1 1 *', annually: '0 0 1 1 *' };
  if (keywords[expr.trim()]) return keywords[expr.trim()]!;
  let normalized = expr.trim();
  if (await hasSystemdAnalyze()) {
    const r = await run('systemd-analyze', ['calendar', expr]).catch(() => null);
    const m = r && /Normalized form: (.*)/.exec(r.stdout);
    if (m) normalized = m[1]!.trim();
  }
  // [DOW] YEAR-MONTH-DAY HOUR:MINUTE[:SECOND], each field * or numbers.
  const m = /^(?:([A-Za-z,.]+) )?(\*|\d+)-(\*|[\d,]+)-(\*|[\d,]+) (\*|[\d,]+):(\*|[\d,]+)(?::(00))?$/.exec(normalized);
  if (!m || m[2] !== '*') return null;
  const days: Record<string, string> = { Mon: '1', Tue: '2', Wed: '3', Thu: '4', Fri: '5', Sat: '6', Sun: '0' };
  let dow = '*';
  if (m[1]) {
    const list = m[1].split(',').map((d) => days[d]);
    if (list.some((d) => d === undefined)) return null;
    dow = list.join(',');
  }
  const num = (f: string): string => (f === '*' ? '*' : f.split(',').map((x) => String(Number(x))).join(','));
  return `${num(m[6]!)} ${num(m[5]!)} ${num(m[4]!)} ${num(m[3]!)} ${dow}`;
}
