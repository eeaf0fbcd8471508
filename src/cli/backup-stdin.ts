// backup --stdin and --stdin-from-command (restic's flags): the snapshot is one file, NAME
// (--stdin-filename, default "stdin"; "a/b" is file b in folder a), whose content is standard
// input or the standard output of a command, streamed through the archiver's segment path (never
// held whole). As restic, the file has mode 0644 (folders 0755), the backup's time as mtime, and
// the user's uid and gid; the snapshot's path is "/NAME". A command that exits non-zero (or dies by a signal) fails the backup before any
// snapshot is saved; its standard error passes through to ours.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable } from 'node:stream';
import { StreamSource } from '../archiver/archiver.js';
import { AbortedError, EngineError, ErrorCode, UsageError } from '../errors/engine-error.js';
import type { TreeNode } from '../format/tree.js';
import { displayName } from '../fs/names.js';

export interface StdinFlags {
  stdin?: boolean;
  stdinFilename?: string;
  stdinFromCommand?: boolean;
  filesFrom?: string[];
  filesFromVerbatim?: string[];
  filesFromRaw?: string[];
}

/** What the stdin flags ask for: the file's name and, with --stdin-from-command, the command; null without them. */
export interface StdinRequest {
  /** The file's path in the snapshot, without a leading "/": "stdin", or "dumps/db.sql" (file db.sql in folder dumps). */
  readonly name: string;
  readonly command: string[] | null;
}

/** Checks the stdin flags against the paths given (restic's rules and messages); null when neither flag is given. */
export function stdinRequest(paths: string[], flags: StdinFlags): StdinRequest | null {
  if (!flags.stdin && !flags.stdinFromCommand) {
    if (flags.stdinFilename !== undefined) throw new UsageError('--stdin-filename is only for --stdin or --stdin-from-command', { hint: 'add --stdin, or leave --stdin-filename out' });
    return null;
  }
  for (const [flag, given] of [['--files-from', flags.filesFrom], ['--files-from-verbatim', flags.filesFromVerbatim], ['--files-from-raw', flags.filesFromRaw]] as const) {
    if (given && given.length > 0) throw new UsageError(`--stdin and ${flag} cannot be used together`, { hint: 'back up either standard input or a list of paths' });
  }
  // As restic's path.Join("/", NAME): "a/b" is file b in folder a; empty and "." parts dropped.
  const given = flags.stdinFilename ?? 'stdin';
  const parts = given.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0 || parts.includes('..') || given.includes('\0')) {
    throw new UsageError(`--stdin-filename ${JSON.stringify(given)} is not a file name`, { hint: 'give a name such as db.sql or dumps/db.sql (no ".." and no trailing "/")' });
  }
  if (given.endsWith('/')) throw new UsageError(`--stdin-filename ${JSON.stringify(given)} names a folder, not a file`, { hint: 'leave out the trailing "/"' });
  const name = parts.join('/');
  if (flags.stdinFromCommand) {
    if (paths.length === 0) throw new UsageError('--stdin-from-command: no command was given', { hint: 'put the command after "--": engine backup --stdin-from-command -- pg_dump mydb' });
    return { name, command: paths };
  }
  if (paths.length > 0) throw new UsageError('--stdin was specified and files/dirs were listed as arguments', { hint: 'give no paths with --stdin (or use --stdin-from-command -- CMD ARGS...)' });
  return { name, command: null };
}

/**
 * The snapshot's one file without its content (mode 0644) and the folders around it, outermost
 * first, without their subtrees (mode 0755, as restic's): mtime (and ctime) the backup's time,
 * the user's uid and gid.
 */
export function stdinNodes(name: string, time: Date, user: { uid: number; gid: number }): { folders: TreeNode[]; file: TreeNode } {
  const ns = (BigInt(time.getTime()) * 1_000_000n).toString();
  const node = (n: string, type: 'file' | 'dir', mode: number): TreeNode => ({ name: n, type, mode, mtimeNs: ns, ctimeNs: ns, uid: user.uid, gid: user.gid, deviceId: '0', inode: '0', links: 1 });
  const parts = name.split('/');
  const last = parts.pop()!;
  return { folders: parts.map((p) => node(p, 'dir', 0o755)), file: node(last, 'file', 0o644) };
}

/** The bytes to store, and `stop` to end the command if the backup ends first (no-op for standard input). */
export interface StdinSource {
  readonly source: StreamSource;
  readonly stop: () => void;
}

/** Standard input, or the standard output of the command, as a segment source. */
export function openStdinSource(request: StdinRequest, signal: AbortSignal): StdinSource {
  // Interrupted, a read waiting for a writer that writes nothing more must not hold the exit: the
  // stream is ended (and the command stopped) at once.
  const endOnAbort = (stream: Readable, stop: () => void): void => {
    const onAbort = (): void => {
      stop();
      stream.destroy(new AbortedError('backup interrupted: no snapshot saved'));
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  };
  if (!request.command) {
    endOnAbort(process.stdin, () => undefined);
    return { source: new StreamSource(process.stdin), stop: () => undefined };
  }
  const [file, ...args] = request.command;
  // As a shell would take it back: an argument with spaces or quotes in single quotes.
  const shown = request.command.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).map((a) => displayName(a)).join(' ');
  const child: ChildProcess = spawn(file!, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', (err) => reject(new EngineError(ErrorCode.SOURCE_READ, `--stdin-from-command: cannot run ${shown}: ${err.message}`, { hint: 'check the command name and that it is on PATH' })));
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new EngineError(ErrorCode.SOURCE_READ, `--stdin-from-command: ${shown} ${signal ? `was killed by ${signal}` : `exited with code ${code}`}; no snapshot was saved`, { hint: 'the command failed: see its messages above' }));
    });
  });
  exited.catch(() => undefined);
  // The command ends before its output is taken as whole: a failure fails the read (no snapshot).
  const source = new StreamSource(child.stdout!, () => exited);
  const stop = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  };
  endOnAbort(child.stdout!, stop);
  return { source, stop };
}
