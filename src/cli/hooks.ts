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

/** What the hooks are told: resticprofile's variables, and the command's exit code. */
export interface HookOutcome {
  exitCode?: number;
  error?: string;
}

/** Runs `run` between the hooks; returns the exit code of the whole. */
export async function withHooks(hooks: Hooks, run: () => Promise<{ code: number; error?: string }>, say: (message: string) => void): Promise<number> {
  const base = { PROFILE_NAME: hooks.profile, PROFILE_COMMAND: hooks.command };
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
  } else {
    const failEnv = { ...env, ERROR_EXIT_CODE: String(outcome.code), ERROR: outcome.error ?? `engine ${hooks.command} exited ${outcome.code}` };
    for (const h of hooks.afterFail) {
      const status = await runHook(h, failEnv);
      if (status !== 0) say(`run-after-fail hook \`${h}\` failed (${describe(status)})`);
    }
  }
  for (const h of hooks.finally) {
    const status = await runHook(h, env);
    if (status !== 0) say(`run-finally hook \`${h}\` failed (${describe(status)})`);
  }
  return code;
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
