// Everything a command needs from the process: repository location, password, primitives.
// Only cli/ reads argv; the storage's own settings from the environment (S3 region, cache folder,
// retry delay, test hooks) are read where the storage is opened (src/session/open-backend.ts).
import { readFile, unlink } from 'node:fs/promises';
import { basename } from 'node:path';
import { displayName, fsPath } from '../fs/names.js';
import type { NativePolicy, Primitives, SelectionReport } from '../../native-bindings/types.js';
import type { StorageOptions } from '../session/open-backend.js';
import { UsageError } from '../errors/engine-error.js';

export interface GlobalOptions extends StorageOptions {
  repo?: string;
  passwordFile?: string;
  json?: boolean;
  verbose?: boolean;
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
  const loc = opts.repo ?? process.env.ENGINE_REPOSITORY;
  if (!loc) throw new UsageError('no repository given', { hint: 'pass --repo PATH or set ENGINE_REPOSITORY' });
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
  const source = opts.passwordFile !== undefined ? `file:${opts.passwordFile}` : process.env.ENGINE_PASSWORD !== undefined ? 'env' : 'prompt';
  let pw = openPasswords.get(source);
  if (!pw) {
    pw = await readPasswordOnce(opts, purpose);
    openPasswords.set(source, pw);
  }
  return Uint8Array.from(pw);
}

async function readPasswordOnce(opts: GlobalOptions, purpose: 'open' | 'new'): Promise<Uint8Array> {
  return readSecret({
    file: opts.passwordFile,
    fileFlag: '--password-file',
    env: 'ENGINE_PASSWORD',
    question: purpose === 'new' ? 'enter password for the new repository: ' : 'enter repository password: ',
    askTwice: purpose === 'new',
  });
}

/** Where `engine copy` and `init --from-repo` find the repository they read from. */
export interface FromRepoOptions {
  fromRepo?: string;
  fromPasswordFile?: string;
}

/** The repository copied from: --from-repo or ENGINE_FROM_REPOSITORY (restic's names). */
export function fromRepoLocation(opts: FromRepoOptions): string | undefined {
  return opts.fromRepo ?? process.env.ENGINE_FROM_REPOSITORY;
}

/** Its password: --from-password-file, ENGINE_FROM_PASSWORD or a prompt; never a plain flag. */
export async function readFromPassword(opts: FromRepoOptions): Promise<Uint8Array> {
  return readSecret({ file: opts.fromPasswordFile, fileFlag: '--from-password-file', env: 'ENGINE_FROM_PASSWORD', question: 'enter the password of the repository to copy from: ', askTwice: false });
}

interface SecretSource {
  file: string | undefined;
  fileFlag: string;
  env: string;
  question: string;
  askTwice: boolean;
}

async function readSecret(src: SecretSource): Promise<Uint8Array> {
  let pw: string | undefined;
  if (src.file) {
    try {
      pw = (await readFile(src.file, 'utf8')).replace(/\r?\n$/, '');
    } catch (err) {
      throw new UsageError(`cannot read the password file ${src.file}: ${(err as Error).message}`, { hint: `check ${src.fileFlag}` });
    }
  } else if (process.env[src.env] !== undefined) {
    pw = process.env[src.env] as string;
  } else if (process.stdin.isTTY && process.stderr.isTTY) {
    pw = await prompt(src.question);
    if (src.askTwice) {
      const again = await prompt('enter the password again: ');
      if (again !== pw) throw new UsageError('the passwords do not match', { hint: 'run the command again' });
    }
  } else {
    throw new UsageError(`no password given${src.env === 'ENGINE_PASSWORD' ? '' : ` for the repository to copy from`}`, { hint: `set ${src.env}, pass ${src.fileFlag} FILE, or run on a terminal to be asked` });
  }
  if (pw.length === 0) throw new UsageError('an empty password is not allowed', { hint: 'choose a password' });
  return new TextEncoder().encode(pw);
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
