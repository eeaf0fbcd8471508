// A profile's hooks (docs/UNATTENDED.md "Hooks", resticprofile's names): shell commands run before
// and after the command a profile runs, e.g. dump a database first, ping a monitor after. Each runs
// by /bin/sh with engine's standard error as its output (standard output stays the command's, for
// --json), and learns what happened from its environment.
import { spawn } from 'node:child_process';

export interface Hooks {
  profile: string;
  /** The command as typed ("backup", "repair index"). */
  command: string;
  /** Run in order before the command; the first that fails stops everything (the command is not run). */
  before: string[];
  /** Run after the command succeeded (exit 0, or 3: a snapshot with unreadable files). */
  after: string[];
  /** Run after the command (or a run-before hook) failed. */
  afterFail: string[];
  /** Run last, whatever happened; a failure here is only said. */
  finally: string[];
}

/**
 * A monitor to tell (resticprofile's send-before, send-after, send-after-fail, send-finally): a
 * healthchecks-style ping URL, or a webhook whose body is a template or one of the shapes ntfy,
 * Gotify and Slack take.
 */
export interface Send {
  url: string;
  method: string;
  /** With {{profile}}, {{command}}, {{exit_code}}, {{error}}, {{log}} (the tail of engine's stderr) replaced. */
  body: string | undefined;
  headers: Record<string, string>;
  format: 'text' | 'ntfy' | 'gotify' | 'slack';
}

export interface Sends {
  before: Send[];
  after: Send[];
  afterFail: Send[];
  finally: Send[];
}

export const NO_SENDS: Sends = { before: [], after: [], afterFail: [], finally: [] };

/**
 * Runs `run` between the hooks and the sends; returns the exit code of the whole. `logTail` gives
 * the last lines engine wrote to its standard error (for a failure ping).
 */
export async function withHooks(hooks: Hooks, sends: Sends, run: () => Promise<{ code: number; error?: string }>, say: (message: string) => void, logTail: () => string = () => ''): Promise<number> {
  const base = { PROFILE_NAME: hooks.profile, PROFILE_COMMAND: hooks.command };
  const tell = async (list: Send[], exitCode: number | null, error: string | undefined): Promise<void> => {
    for (const s of list) await send(s, { profile: hooks.profile, command: hooks.command, exit_code: exitCode === null ? '' : String(exitCode), error: error ?? '', log: logTail() }, say);
  };
  await tell(sends.before, null, undefined);
  let outcome: { code: number; error?: string } | null = null;
  for (const h of hooks.before) {
    const status = await runHook(h, base);
    if (status !== 0) {
      const error = `run-before hook \`${h}\` failed (${describe(status)}): \`engine ${hooks.command}\` was not run`;
      say(error);
      outcome = { code: 1, error };
      break;
    }
  }
  outcome ??= await run();
  const env = { ...base, ENGINE_EXIT_CODE: String(outcome.code) };
  const ok = outcome.code === 0 || outcome.code === 3;
  let code = outcome.code;
  if (ok) {
    for (const h of hooks.after) {
      const status = await runHook(h, env);
      if (status !== 0) {
        say(`run-after hook \`${h}\` failed (${describe(status)})`);
        code = 1;
        break;
      }
    }
    if (code === outcome.code) await tell(sends.after, code, undefined);
  }
  if (!ok || code !== outcome.code) {
    const error = code !== outcome.code ? `a run-after hook failed` : (outcome.error ?? `engine ${hooks.command} exited ${outcome.code}`);
    const failEnv = { ...env, ERROR_EXIT_CODE: String(code), ERROR: error };
    if (ok === false) {
      for (const h of hooks.afterFail) {
        const status = await runHook(h, failEnv);
        if (status !== 0) say(`run-after-fail hook \`${h}\` failed (${describe(status)})`);
      }
    }
    await tell(sends.afterFail, code, error);
  }
  for (const h of hooks.finally) {
    const status = await runHook(h, env);
    if (status !== 0) say(`run-finally hook \`${h}\` failed (${describe(status)})`);
  }
  await tell(sends.finally, code, undefined);
  return code;
}

/** How long a monitor may take to answer: a monitor that is down must not hold the job. */
const SEND_TIMEOUT_MS = 10_000;

/**
 * Tells one monitor; a failure (unreachable, timeout, an answer other than 2xx) is said, never
 * the job's failure. The URL is not said whole: a ping URL is a secret (anyone with it can ping).
 */
async function send(s: Send, vars: Record<string, string>, say: (message: string) => void): Promise<void> {
  const fill = (t: string): string => t.replace(/\{\{\s*(profile|command|exit_code|error|log)\s*\}\}/g, (_, k: string) => vars[k] ?? '');
  const title = `engine ${vars.command} (${vars.profile})${vars.exit_code === '' ? ' started' : vars.exit_code === '0' || vars.exit_code === '3' ? ' done' : ` failed, exit ${vars.exit_code}`}`;
  const text = s.body !== undefined ? fill(s.body) : vars.error !== '' ? `${vars.error}\n\n${vars.log}` : '';
  let body: string | undefined = text;
  const headers: Record<string, string> = { ...s.headers };
  if (s.format === 'ntfy') headers.Title ??= title;
  else if (s.format === 'gotify') {
    body = JSON.stringify({ title, message: text || title, priority: vars.error !== '' ? 8 : 4 });
    headers['Content-Type'] ??= 'application/json';
  } else if (s.format === 'slack') {
    body = JSON.stringify({ text: text ? `${title}\n${text}` : title });
    headers['Content-Type'] ??= 'application/json';
  }
  const where = new URL(s.url).origin;
  try {
    const res = await fetch(s.url, { method: s.method, headers, ...(s.method === 'GET' || s.method === 'HEAD' ? {} : { body }), signal: AbortSignal.timeout(SEND_TIMEOUT_MS) });
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) say(`monitor at ${where} answered ${res.status}`);
  } catch (err) {
    say(`cannot reach the monitor at ${where}: ${(err as Error).message}`);
  }
}

/** Exit status of one hook; -signal when a signal ended it. */
function runHook(command: string, env: Record<string, string>): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], { env: { ...process.env, ...env }, stdio: ['ignore', process.stderr, process.stderr] });
    child.on('error', () => resolve(127));
    child.on('close', (code, signal) => resolve(code ?? (signal ? -1 : 1)));
  });
}

function describe(status: number): string {
  return status < 0 ? 'killed by a signal' : `exit ${status}`;
}
