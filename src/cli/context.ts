// Everything a command needs from the process: repository location, password, primitives.
// Only cli/ reads argv; the storage's own settings from the environment (S3 region, cache folder,
// retry delay, test hooks) are read where the storage is opened (src/session/open-backend.ts).
import { spawn } from 'node:child_process';
import { fstatSync, readFileSync } from 'node:fs';
import { readFile, unlink } from 'node:fs/promises';
import { basename } from 'node:path';
import { displayName, fsPath } from '../fs/names.js';
import type { NativePolicy, Primitives, SelectionReport } from '../../native-bindings/types.js';
import type { StorageOptions } from '../session/open-backend.js';
import { UsageError } from '../errors/engine-error.js';

export interface GlobalOptions extends StorageOptions {
  repo?: string;
  /** --repository-file: a file whose first line is the repository location (restic's). */
  repositoryFile?: string;
  passwordFile?: string;
  /** --password-command: a command (run by /bin/sh) that prints the password. */
  passwordCommand?: string;
  /** backup --stdin: standard input is the data, never the password. */
  stdin?: boolean;
  /** backup --files-from - (and its -raw, -verbatim kinds): standard input is the list. */
  filesFrom?: string[];
  filesFromRaw?: string[];
  filesFromVerbatim?: string[];
  json?: boolean;
  /** -v (1), -vv (2): commander counts them. */
  verbose?: boolean | number;
  /** --quiet: results, warnings and errors only (src/cli/output.ts). */
  quiet?: boolean;
  /** --metrics-file: a Prometheus textfile written when the command ends (src/cli/metrics.ts). */
  metricsFile?: string;
  /** --retry-lock: how long to wait for a conflicting lock. */
  retryLock?: string;
}

export function nativePolicy(): NativePolicy {
  const v = (process.env.ENGINE_NATIVE ?? 'auto').toLowerCase();
  if (v === 'off' || v === '0' || v === 'false' || v === 'fallback') return 'fallback';
  return 'auto';
}

export async function primitives(): Promise<{ primitives: Primitives; report: SelectionReport[]; policy: NativePolicy }> {
  const policy = nativePolicy();
  // Loaded here, not at the top: the early key derivation (early-key.ts) imports this module and
  // runs before the primitives' modules are loaded.
  const { loadPrimitives } = await import('../../native-bindings/index.js');
  const { primitives: p, report } = await loadPrimitives(policy);
  return { primitives: p, report, policy };
}

export function repoLocation(opts: GlobalOptions): string {
  const loc = givenRepoLocation(opts);
  if (!loc) throw new UsageError('no repository given', { hint: 'pass --repo PATH (or --repository-file FILE), or set ENGINE_REPOSITORY (or ENGINE_REPOSITORY_FILE)' });
  return loc;
}

/**
 * The repository location as given, or undefined: --repo or ENGINE_REPOSITORY, else the first
 * line of --repository-file or ENGINE_REPOSITORY_FILE (restic's names). A location and a file
 * together are a usage error, as in restic (which one was meant?); an empty variable is unset.
 */
export function givenRepoLocation(opts: Pick<GlobalOptions, 'repo' | 'repositoryFile'>): string | undefined {
  return locationOf(opts.repo, opts.repositoryFile, { flag: '--repo', env: 'ENGINE_REPOSITORY', fileFlag: '--repository-file', fileEnv: 'ENGINE_REPOSITORY_FILE' });
}

/** A repository file's first line, read once per process: a FIFO (`<(vault read ...)`) reads once. */
const repositoryFiles = new Map<string, string>();

function locationOf(flagValue: string | undefined, flagFile: string | undefined, names: { flag: string; env: string; fileFlag: string; fileEnv: string }): string | undefined {
  const direct = flagValue || process.env[names.env] || undefined;
  const file = flagFile || process.env[names.fileEnv] || undefined;
  if (direct !== undefined && file !== undefined) {
    const said = (given: string | undefined, flag: string, env: string): string => (given ? flag : env);
    throw new UsageError(`${said(flagValue, names.flag, names.env)} and ${said(flagFile, names.fileFlag, names.fileEnv)} are both given`, { hint: 'name the repository one way' });
  }
  if (direct !== undefined || file === undefined) return direct;
  let loc = repositoryFiles.get(file);
  if (loc === undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read the repository file ${file}: ${(err as Error).message}`, { hint: `check ${flagFile ? names.fileFlag : names.fileEnv}` });
    }
    loc = text.split(/\r?\n/)[0]!.trim();
    if (!loc) throw new UsageError(`the repository file ${file} is empty`, { hint: 'its first line is the repository location' });
    repositoryFiles.set(file, loc);
  }
  return loc;
}

/**
 * The password that opens the repository, once read: the early key derivation (early-key.ts) and
 * the opening itself both need it, and a prompt must ask once. Kept in memory only.
 */
const openPasswords = new Map<string, Uint8Array>();

/** The password from ENGINE_PASSWORD, --password-file or a prompt; never from a plain flag. */
export async function readPassword(opts: GlobalOptions, purpose: 'open' | 'new'): Promise<Uint8Array> {
  if (purpose === 'new') return readPasswordOnce(opts, purpose);
  const source = JSON.stringify([opts.passwordCommand ?? process.env.ENGINE_PASSWORD_COMMAND, opts.passwordFile ?? process.env.ENGINE_PASSWORD_FILE]);
  let pw = openPasswords.get(source);
  if (!pw) {
    pw = await readPasswordOnce(opts, purpose);
    openPasswords.set(source, pw);
  }
  return Uint8Array.from(pw);
}

async function readPasswordOnce(opts: GlobalOptions, purpose: 'open' | 'new'): Promise<Uint8Array> {
  return readSecret({
    ...namedSources(opts.passwordCommand, opts.passwordFile, 'repository'),
    question: purpose === 'new' ? 'enter password for the new repository: ' : 'enter repository password: ',
    askTwice: purpose === 'new',
    fromStdin: !stdinIsData(opts),
    hint: 'set ENGINE_PASSWORD, pass --password-file FILE or --password-command CMD, pipe it in, or run on a terminal to be asked',
  });
}

/** The command reads its data or its list of files from standard input: no password comes from there. */
function stdinIsData(opts: GlobalOptions): boolean {
  return opts.stdin === true || [opts.filesFrom, opts.filesFromRaw, opts.filesFromVerbatim].some((l) => l?.includes('-'));
}

/** Where `engine copy` and `init --from-repo` find the repository they read from. */
export interface FromRepoOptions {
  fromRepo?: string;
  fromRepositoryFile?: string;
  fromPasswordFile?: string;
  fromPasswordCommand?: string;
}

/**
 * The repository copied from: --from-repo or ENGINE_FROM_REPOSITORY, else the first line of
 * --from-repository-file or ENGINE_FROM_REPOSITORY_FILE (restic's names).
 */
export function fromRepoLocation(opts: FromRepoOptions): string | undefined {
  return locationOf(opts.fromRepo, opts.fromRepositoryFile, { flag: '--from-repo', env: 'ENGINE_FROM_REPOSITORY', fileFlag: '--from-repository-file', fileEnv: 'ENGINE_FROM_REPOSITORY_FILE' });
}

/** Its password: as the repository's, from the --from-* flags and ENGINE_FROM_* variables; never a plain flag. */
export async function readFromPassword(opts: FromRepoOptions): Promise<Uint8Array> {
  return readSecret({
    ...namedSources(opts.fromPasswordCommand, opts.fromPasswordFile, 'copied from'),
    question: 'enter the password of the repository to copy from: ',
    askTwice: false,
    fromStdin: false,
    hint: 'for the repository to copy from: set ENGINE_FROM_PASSWORD, pass --from-password-file FILE or --from-password-command CMD, or run on a terminal to be asked',
  });
}

/**
 * The command and file a password comes from, by flag or else by environment variable, each with
 * the name to say in a message: --password-command / ENGINE_PASSWORD_COMMAND, --password-file /
 * ENGINE_PASSWORD_FILE, and ENGINE_PASSWORD; the --from-* and ENGINE_FROM_* forms for the
 * repository copied from.
 */
function namedSources(command: string | undefined, file: string | undefined, of: 'repository' | 'copied from'): Pick<SecretSource, 'command' | 'commandFlag' | 'file' | 'fileFlag' | 'env'> {
  const flag = of === 'repository' ? '--password' : '--from-password';
  const env = of === 'repository' ? 'ENGINE_PASSWORD' : 'ENGINE_FROM_PASSWORD';
  // An empty variable is unset (systemd's EnvironmentFile and compose files leave them so).
  return {
    command: command || process.env[`${env}_COMMAND`] || undefined,
    commandFlag: command ? `${flag}-command` : `${env}_COMMAND`,
    file: file || process.env[`${env}_FILE`] || undefined,
    fileFlag: file ? `${flag}-file` : `${env}_FILE`,
    env,
  };
}

interface SecretSource {
  command: string | undefined;
  commandFlag: string;
  file: string | undefined;
  fileFlag: string;
  env: string;
  question: string;
  askTwice: boolean;
  /** Standard input, when it is a pipe or a file (not a terminal), may hold the password. */
  fromStdin: boolean;
  hint: string;
}

/**
 * A password, from the first source given, in restic's order: a command, a file, the environment
 * variable, standard input when it is a pipe or a file, a prompt on the terminal. A command and a
 * file together are a usage error (which one was meant?).
 */
async function readSecret(src: SecretSource): Promise<Uint8Array> {
  let pw: string | undefined;
  if (src.command !== undefined && src.file !== undefined) {
    throw new UsageError(`${src.commandFlag} and ${src.fileFlag} are both given`, { hint: 'give one source of the password' });
  }
  if (src.command !== undefined) {
    pw = await passwordFromCommand(src.command, src.commandFlag);
  } else if (src.file) {
    try {
      pw = (await readFile(src.file, 'utf8')).replace(/\r?\n$/, '');
    } catch (err) {
      throw new UsageError(`cannot read the password file ${src.file}: ${(err as Error).message}`, { hint: `check ${src.fileFlag}` });
    }
  } else if (process.env[src.env] !== undefined) {
    pw = process.env[src.env] as string;
  } else if (src.fromStdin && stdinIsPipeOrFile()) {
    // restic reads a password piped in (`echo pw | restic ...`): its first line.
    pw = await readStdinLine();
  } else if (process.stdin.isTTY && process.stderr.isTTY) {
    pw = await prompt(src.question);
    if (src.askTwice) {
      const again = await prompt('enter the password again: ');
      if (again !== pw) throw new UsageError('the passwords do not match', { hint: 'run the command again' });
    }
  } else {
    throw new UsageError(`no password given${src.env === 'ENGINE_PASSWORD' ? '' : ' for the repository to copy from'}`, { hint: src.hint });
  }
  if (pw.length === 0) throw new UsageError('an empty password is not allowed', { hint: 'choose a password' });
  return new TextEncoder().encode(pw);
}

/** A password is at most this long: a command or a pipe that gives more is not giving a password. */
const MAX_PASSWORD_BYTES = 64 * 1024;

/**
 * The password a command prints (--password-command, as restic's): run by /bin/sh, so quoting
 * works as typed and a pipe may be used. Its standard input is the terminal when engine has one
 * (a tool may ask there), else nothing (/dev/null, as restic: a command that reads it must not
 * wait forever); its standard error is engine's. Its output's trailing newline is dropped. A
 * command that fails is a usage error naming its exit status, never its output.
 */
async function passwordFromCommand(command: string, flag: string): Promise<string> {
  return new Promise((resolvePw, reject) => {
    const child = spawn('/bin/sh', ['-c', command], { stdio: [process.stdin.isTTY ? 'inherit' : 'ignore', 'pipe', 'inherit'] });
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLong = false;
    child.stdout.on('data', (d: Buffer) => {
      size += d.length;
      if (size > MAX_PASSWORD_BYTES) {
        tooLong = true;
        child.kill();
      } else chunks.push(d);
    });
    child.on('error', (err) => reject(new UsageError(`${flag}: cannot run the password command (${err.message})`)));
    child.on('close', (code, signal) => {
      if (tooLong) reject(new UsageError(`${flag}: the password command printed more than 64 KiB`, { hint: 'it must print the password alone' }));
      else if (code !== 0) reject(new UsageError(`${flag}: the password command failed (${code !== null ? `exit ${code}` : `signal ${signal}`})`, { hint: 'run the command by hand to see why' }));
      else resolvePw(Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, ''));
    });
  });
}

function stdinIsPipeOrFile(): boolean {
  if (process.stdin.isTTY) return false;
  try {
    const st = fstatSync(0);
    return st.isFIFO() || st.isFile() || st.isSocket();
  } catch {
    return false;
  }
}

/**
 * The first line of standard input, read up to its newline (or the end): a writer that keeps the
 * pipe open after the password (`(echo pw; long_job) | engine ...`) is not waited for.
 */
async function readStdinLine(): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of process.stdin) {
      const b = chunk as Buffer;
      const nl = b.indexOf(0x0a);
      chunks.push(nl >= 0 ? b.subarray(0, nl) : b);
      size += b.length;
      if (nl >= 0) break;
      if (size > MAX_PASSWORD_BYTES) throw new UsageError('standard input holds more than a password (over 64 KiB without a newline)', { hint: 'pipe the password alone, or use --password-file' });
    }
  } finally {
    process.stdin.pause();
  }
  return Buffer.concat(chunks).toString('utf8').replace(/\r$/, '');
}

/**
 * The password of a new key (`engine key add`, `key passwd`): --new-password-file, else
 * ENGINE_NEW_PASSWORD, else asked twice on the terminal. Never a plain flag.
 */
export async function readNewKeyPassword(file: string | undefined): Promise<Uint8Array> {
  let pw: string;
  if (file) {
    try {
      pw = (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
    } catch (err) {
      throw new UsageError(`cannot read the new password file ${file}: ${(err as Error).message}`, { hint: 'check --new-password-file' });
    }
  } else if (process.env.ENGINE_NEW_PASSWORD !== undefined) {
    pw = process.env.ENGINE_NEW_PASSWORD;
  } else if (process.stdin.isTTY && process.stderr.isTTY) {
    pw = await prompt('enter the new password: ');
    if ((await prompt('enter it again: ')) !== pw) throw new UsageError('the passwords do not match', { hint: 'run the command again' });
  } else {
    throw new UsageError('no new password given', { hint: 'set ENGINE_NEW_PASSWORD, pass --new-password-file FILE, or run on a terminal to be asked' });
  }
  if (pw.length === 0) throw new UsageError('an empty password is not allowed', { hint: 'choose a password' });
  return new TextEncoder().encode(pw);
}

/** Reads a line from the terminal without echoing it. */
async function prompt(question: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.resume();
  stdin.setEncoding('utf8');
  return new Promise((resolvePw, reject) => {
    let buf = '';
    const onData = (s: string): void => {
      for (const ch of s) {
        if (ch === '\r' || ch === '\n') {
          done();
          process.stderr.write('\n');
          resolvePw(buf);
          return;
        }
        if (ch === '\u0003') {
          done();
          reject(new UsageError('interrupted at the password prompt'));
          return;
        }
        if (ch === '\u007f' || ch === '\b') buf = buf.slice(0, -1);
        else buf += ch;
      }
    };
    const done = (): void => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
    };
    stdin.on('data', onData);
  });
}

/**
 * Test hooks, compiled in but inert unless ENGINE_TEST_HOOKS is set (restic's BackendTestHook idea):
 * hooks are `;`-separated: `vanish=NAME` deletes any source file named NAME just before the backup
 * opens it; `open-delay=MS` makes the backup wait that long before opening each file (a backup
 * that is surely still running when a test acts); `faults=SPEC` injects backend faults
 * (session/open-backend.ts); `prune-step-delay=MS`
 * pauses prune before each step that changes the repository (so a test can kill it there).
 */
export function testHooks(): { beforeOpen?: (path: string) => Promise<void>; beforePruneStep?: (step: string) => Promise<void> } {
  const hooks = process.env.ENGINE_TEST_HOOKS?.split(';') ?? [];
  const out: { beforeOpen?: (path: string) => Promise<void>; beforePruneStep?: (step: string) => Promise<void> } = {};
  const vanish = hooks.find((h) => h.startsWith('vanish='));
  if (vanish) {
    const name = vanish.slice('vanish='.length);
    out.beforeOpen = async (path: string) => {
      // NAME as typed, or escaped as engine prints it (`gone\xff`): an environment variable cannot carry a name that is not UTF-8.
      if (path.endsWith(`/${name}`) || displayName(basename(path)) === name) await unlink(fsPath(path)).catch(() => undefined);
    };
  }
  const openDelay = hooks.find((h) => h.startsWith('open-delay='));
  if (openDelay) {
    const ms = Number(openDelay.slice('open-delay='.length));
    const before = out.beforeOpen;
    out.beforeOpen = async (path: string) => {
      await new Promise((r) => setTimeout(r, ms));
      await before?.(path);
    };
  }
  const delay = hooks.find((h) => h.startsWith('prune-step-delay='));
  if (delay) {
    const ms = Number(delay.slice('prune-step-delay='.length));
    out.beforePruneStep = (step: string) => {
      process.stderr.write(`prune step: ${step}\n`);
      return new Promise((r) => setTimeout(r, ms));
    };
  }
  return out;
}
