// A profile's hooks (docs/UNATTENDED.md "Hooks", resticprofile's names): shell commands run before
// and after the command a profile runs, e.g. dump a database first, ping a monitor after. Each runs
// by /bin/sh with engine's standard error as its output (standard output stays the command's, for
// --json), and learns what happened from its environment.
import { spawn } from 'node:child_process';
import { EngineError, ErrorCode } from '../errors/engine-error.js';

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
 * The hooks and monitors of one run. `before()` is called by the command's preAction (once the
 * command line is parsed and valid: `--help` or a usage error runs no hook and tells no monitor);
 * `after()` with the outcome, and does nothing when `before()` never ran. `logTail` gives the last
 * lines engine wrote to its standard error (for a failure ping).
 */
export class HookRun {
  private readonly hooks: Hooks;
  private readonly sends: Sends;
  private readonly say: (message: string) => void;
  private readonly logTail: () => string;
  private started = false;
  private readonly base: Record<string, string>;

  constructor(hooks: Hooks, sends: Sends, say: (message: string) => void, logTail: () => string = () => '') {
    this.hooks = hooks;
    this.sends = sends;
    this.say = say;
    this.logTail = logTail;
    this.base = { PROFILE_NAME: hooks.profile, PROFILE_COMMAND: hooks.command };
  }

  /** send-before, then the run-before hooks in order; the first that fails throws (the command is not run). */
  async before(): Promise<void> {
    this.started = true;
    await this.tell(this.sends.before, null, undefined);
    for (const h of this.hooks.before) {
      const status = await runHook(h, this.base);
      if (status !== 0) throw new EngineError(ErrorCode.HOOK, `run-before hook \`${h}\` failed (${describe(status)}): \`engine ${this.hooks.command}\` was not run`);
    }
  }

  /**
   * After the command (or a failed run-before): run-after and send-after when it succeeded (exit 0,
   * or 3: a snapshot saved with unreadable files named), else run-after-fail and send-after-fail;
   * a failing run-after makes the run a failure (exit 1) and runs those too. run-finally and
   * send-finally last. Returns the run's exit code.
   */
  async after(outcome: { code: number; error?: string }): Promise<number> {
    if (!this.started) return outcome.code;
    let code = outcome.code;
    let error = outcome.error;
    if (code === 0 || code === 3) {
      let hooksPassed = true;
      for (const h of this.hooks.after) {
        const status = await runHook(h, { ...this.base, ENGINE_EXIT_CODE: String(code) });
        if (status !== 0) {
          error = `run-after hook \`${h}\` failed (${describe(status)})`;
          this.say(error);
          code = 1;
          hooksPassed = false;
          break;
        }
      }
      if (hooksPassed) await this.tell(this.sends.after, code, undefined);
    }
    if (code !== 0 && code !== 3) {
      const failEnv = { ...this.base, ENGINE_EXIT_CODE: String(code), ERROR_EXIT_CODE: String(code), ERROR: error ?? `engine ${this.hooks.command} exited ${code}` };
      for (const h of this.hooks.afterFail) {
        const status = await runHook(h, failEnv);
        if (status !== 0) this.say(`run-after-fail hook \`${h}\` failed (${describe(status)})`);
      }
      await this.tell(this.sends.afterFail, code, failEnv.ERROR);
    }
    for (const h of this.hooks.finally) {
      const status = await runHook(h, { ...this.base, ENGINE_EXIT_CODE: String(code) });
      if (status !== 0) this.say(`run-finally hook \`${h}\` failed (${describe(status)})`);
    }
    await this.tell(this.sends.finally, code, undefined);
    return code;
  }

  private async tell(list: Send[], exitCode: number | null, error: string | undefined): Promise<void> {
    for (const s of list) await send(s, { profile: this.hooks.profile, command: this.hooks.command, exit_code: exitCode === null ? '' : String(exitCode), error: error ?? '', log: this.logTail() }, this.say);
  }
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
  let where = s.url.slice(0, 8);
  try {
    where = new URL(s.url).origin;
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
    const child = spawn('/bin/sh', ['-c', command], { env: { ...hookEnvironment(), ...env }, stdio: ['ignore', process.stderr, process.stderr] });
    child.on('error', () => resolve(127));
    child.on('close', (code, signal) => resolve(code ?? (signal ? -1 : 1)));
  });
}

/** engine's environment without the passwords it reads: a hook has no business with them. */
function hookEnvironment(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['ENGINE_PASSWORD', 'ENGINE_FROM_PASSWORD', 'ENGINE_NEW_PASSWORD']) delete env[k];
  return env;
}

function describe(status: number): string {
  return status < 0 ? 'killed by a signal' : `exit ${status}`;
}
