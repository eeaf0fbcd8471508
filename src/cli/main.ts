// The engine command line: builds the command table, runs one command, and is the only place that
// turns errors into exit codes and calls process.exit.
import { engineVersion } from '../package-info.js';
import { setMaxListeners } from 'node:events';
import { Command, CommanderError, Option } from 'commander';
import { isEngineError, UsageError } from '../errors/engine-error.js';
import { writeFileSync } from 'node:fs';
import { peakRssBytes } from '../util/memory.js';
import { ExitCode, exitCodeFor } from './exit-codes.js';
import { makeOutput, type Output } from './output.js';
import { releaseLocks } from './locking.js';
import { ProgressLine } from './progress.js';
import { commandIndex } from './command-words.js';
import type { HookRun, Hooks, Sends } from './hooks.js';
import type { GlobalOptions } from './context.js';
import { snapshotFilterOption as filterOpt } from './snapshot-filter-flags.js';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';

// Node 22 and later compile in background threads, and a compile job that needs a GC of the main
// thread while process.exit() joins those threads waits for ever (nodejs/node#54918, #64274: a
// `check --read-data` hung so at exit on Node 24, its baseline compiler parked in
// AwaitCollectionBackground). Baseline code is compiled on the main thread instead (it is quick;
// Node 20 does so by default), and exit() below collects first, which releases a job of the
// optimizing compilers already waiting for a collection.
v8.setFlagsFromString('--no-concurrent-sparkplug');


const controller = new AbortController();
// Every stage waiting on a byte budget listens on this signal: many listeners are expected.
setMaxListeners(0, controller.signal);
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) process.exit(ExitCode.INTERRUPTED);
    interrupted = true;
    process.stderr.write(`\n${sig}: stopping; what is stored so far stays usable (press again to quit at once)\n`);
    controller.abort();
  });
}

function outputFor(cmd: Command): Output {
  const o = cmd.optsWithGlobals<GlobalOptions>();
  const quiet = (o as { quiet?: boolean }).quiet === true;
  // --quiet: no progress line either (it is drawn only on a terminal anyway).
  if (quiet) ProgressLine.disabled = true;
  // --json: the commands that report progress do so in status messages on stdout.
  if (o.json === true) ProgressLine.json = true;
  const level = Number(o.verbose ?? 0);
  return makeOutput({ json: o.json === true, verbose: level > 0, veryVerbose: level > 1, quiet });
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/**
 * Derives the repository's key before the command's module is imported, while the process is
 * small (src/cli/early-key.ts): the Argon2id memory then sits on less of it.
 */
async function earlyKey(cmd: Command, flags: Record<string, unknown> = {}): Promise<void> {
  const { deriveKeyEarly } = await import('./early-key.js');
  await deriveKeyEarly({ ...cmd.optsWithGlobals<GlobalOptions>(), ...flags });
}

function build(): { program: Command; result: { code: number } } {
  const result = { code: 0 };
  const program = new Command('engine')
    .description('deduplicating, compressing, encrypting backups within a memory budget')
    .version(engineVersion() ?? 'unknown')
    .option('--config <file>', 'profiles file (default: $XDG_CONFIG_HOME/engine/profiles.toml; docs/UNATTENDED.md)')
    .option('-P, --profile <name>', 'take the flags of this profile of the profiles file (flags given here win)')
    .option('--metrics-file <path>', 'write a Prometheus textfile (node_exporter\'s textfile collector) when the command ends: exit code, times, a backup\'s counters')
    .option('-r, --repo <location>', 'repository location (default: $ENGINE_REPOSITORY)')
    .option('--repository-file <file>', 'read the repository location from the first line of a file (default: $ENGINE_REPOSITORY_FILE)')
    .option('--password-file <file>', 'read the repository password from a file (default: $ENGINE_PASSWORD_FILE; else $ENGINE_PASSWORD, a pipe on standard input, or a prompt)')
    .option('--password-command <command>', 'run this command (by /bin/sh) and take the password it prints (default: $ENGINE_PASSWORD_COMMAND)')
    .option('--json', 'machine-readable output')
    .option('-v, --verbose', 'explain more (the memory plan, the parent snapshot, retried requests); -vv: also each file a backup saves', (_v: string, level: number) => level + 1, 0)
    .option('-q, --quiet', 'print results, warnings and errors only: no messages, no progress line (as restic\'s --quiet)')
    .option('--limit-upload <rate>', 'limit uploads to a rate: KiB/s, or a size per second such as 2M')
    .option('--limit-download <rate>', 'limit downloads to a rate: KiB/s, or a size per second such as 2M')
    .option('--no-cache', 'do not keep metadata of remote repositories in the local cache')
    .option('--cache-dir <dir>', 'cache folder, with one subfolder per repository (default: $ENGINE_CACHE_DIR, else $XDG_CACHE_HOME/engine or ~/.cache/engine)')
    .option('--s3-storage-class <class>', 'storage class of new S3 objects, e.g. STANDARD_IA')
    .addOption(new Option('--s3-checksums <mode>', 'SDK request checksums (default: when-required for endpoints, when-supported for AWS)').choices(['when-required', 'when-supported']))
    .option('--s3-region <region>', 'S3 region (default: $AWS_REGION, the AWS profile, or us-east-1 for endpoints)')
    .option('--s3-no-verify-etag', 'do not compare ETags with the MD5 sent (buckets with SSE-KMS or SSE-C)')
    .option('--s3-connections <n>', 'S3 requests in flight at most (default 32)')
    .option('--retry-lock <time>', 'when the repository is locked, keep trying for this long (e.g. 30s, 10m, 1h)')
    .showHelpAfterError()
    .exitOverride();

  program
    .command('init')
    .description('create a new repository')
    .addOption(new Option('--cipher <name>', 'cipher for new data').choices(['xchacha20-poly1305', 'aes-256-gcm']).default('xchacha20-poly1305'))
    .option('--pack-size <size>', 'target pack size', '16M')
    .option('--compression-level <n>', 'zstd level 1-19', '3')
    .option('--kdf-memory <size>', 'Argon2id memory of the key (held by every command while it opens the repository)', '64M')
    .option('--kdf-time <passes>', 'Argon2id passes of the key', '3')
    .option('--copy-chunker-params', 'cut and name chunks as the --from-repo repository does, so that `engine copy` from it moves only what is missing')
    .option('--from-repo <location>', 'the repository whose chunker parameters are copied (or ENGINE_FROM_REPOSITORY)')
    .option('--from-repository-file <file>', 'read its location from the first line of a file (or ENGINE_FROM_REPOSITORY_FILE)')
    .option('--from-password-file <file>', 'file holding its password (or ENGINE_FROM_PASSWORD_FILE; else ENGINE_FROM_PASSWORD)')
    .option('--from-password-command <command>', 'command printing its password (or ENGINE_FROM_PASSWORD_COMMAND)')
    .action(async (flags: Record<string, string>, cmd: Command) => {
      const { initCommand } = await import('./commands/init.js');
      result.code = await initCommand({ ...cmd.optsWithGlobals(), ...flags }, outputFor(cmd));
    });

  program
    .command('backup')
    .description('back up one or more paths into a new snapshot')
    .argument('[paths...]', 'files or folders to back up')
    .option('-e, --exclude <pattern>', 'leave out paths that match the pattern (repeatable; restic\'s patterns: docs/SELECTION.md)', collect)
    .option('--iexclude <pattern>', 'as --exclude, ignoring case', collect)
    .option('--exclude-file <file>', 'read --exclude patterns from a file, one per line (repeatable)', collect)
    .option('--iexclude-file <file>', 'read --iexclude patterns from a file, one per line (repeatable)', collect)
    .option('--exclude-caches', 'leave out the contents of folders holding a CACHEDIR.TAG file (the tag file is kept)')
    .option('--exclude-if-present <name[:header]>', 'leave out the contents of folders holding a file of this name, that starts with header if given (repeatable)', collect)
    .option('--exclude-larger-than <size>', 'leave out files larger than this, e.g. 2G')
    .option('-x, --one-file-system', 'stay on the file system of each path: mount points below are stored empty')
    .option('--files-from <file>', 'back up the paths listed in a file, one glob per line; # comments (repeatable; - is standard input)', collect)
    .option('--files-from-verbatim <file>', 'back up the paths listed in a file, one per line, taken as they are (repeatable)', collect)
    .option('--files-from-raw <file>', 'back up the paths listed in a file, separated by NUL bytes (find -print0; repeatable)', collect)
    .option('--mem-budget <size>', 'hard ceiling on resident memory, e.g. 512M (default: from free memory)')
    .option('--tag <tag>', 'tag the snapshot (repeatable)', collect)
    .option('--host <name>', 'host name recorded in the snapshot (default: $ENGINE_HOST, else the machine\'s)')
    .option('--no-extra-verify', 'skip decrypting every sealed blob again before it is stored')
    .option('--with-atime', 'also store access times (they change on every read, so off by default)')
    .option('--stdin', 'back up standard input as one file (named by --stdin-filename)')
    .option('--stdin-filename <name>', 'name of the file --stdin and --stdin-from-command store (default: stdin)')
    .option('--stdin-from-command', 'run the command given after "--" and back up its standard output as one file; the backup fails if the command does')
    .option('-n, --dry-run', 'read and chunk everything, write nothing to the repository; say what would be added')
    .option('--parent <snapshot>', 'use this snapshot as parent (default: the latest of the same host and paths, not newer than --time)')
    .option('-f, --force', 'read every file again: no parent snapshot (overrides --parent)')
    .option('--skip-if-unchanged', 'save no snapshot when nothing changed since the parent snapshot')
    .option('--read-concurrency <n>', 'files read at once (default: from the memory plan)')
    .option('--time <time>', "time of the backup, e.g. '2012-11-01 22:08:41' in local time (default: now)")
    .action(async (paths: string[], flags: Record<string, unknown>, cmd: Command) => {
      await earlyKey(cmd, flags);
      const { backupCommand } = await import('./commands/backup.js');
      result.code = await backupCommand(paths, { ...cmd.optsWithGlobals(), ...flags }, outputFor(cmd), controller.signal);
    });

  program
    .command('restore')
    .description('restore a snapshot (or parts of it) into a folder')
    .argument('<snapshot>', '"latest" or a snapshot id (prefix); ID:/folder restores that folder\'s contents into the target')
    .option('-t, --target <dir>', 'folder to restore into')
    .option('-i, --include <pattern>', 'restore only what matches (repeatable; restic\'s patterns, matched against paths as `engine ls` prints them); one that matches nothing is named, and if none matches the restore exits 1', collect)
    .option('--iinclude <pattern>', 'as --include, ignoring case', collect)
    .option('--include-file <file>', 'read --include patterns from a file (repeatable)', collect)
    .option('--iinclude-file <file>', 'read --iinclude patterns from a file (repeatable)', collect)
    .option('-e, --exclude <pattern>', 'restore all but what matches (repeatable; not with --include)', collect)
    .option('--iexclude <pattern>', 'as --exclude, ignoring case', collect)
    .option('--exclude-file <file>', 'read --exclude patterns from a file (repeatable)', collect)
    .option('--iexclude-file <file>', 'read --iexclude patterns from a file (repeatable)', collect)
    .option('-n, --dry-run', 'say what would be restored (each entry with -v), write nothing')
    .option('--delete', 'remove what the target holds that the snapshot does not (within --include/--exclude)')
    .option('--verify', 'read every restored file back from the target and check it against the snapshot (exit 1 if one differs)')
    .addOption(new Option('--overwrite <when>', 'what to do with a file already in the target: always replace it, keep it if-changed says size and time match, if-newer keeps it unless the snapshot\'s is newer, never replace anything').choices(['always', 'if-changed', 'if-newer', 'never']).default('always'))
    .option('--mem-budget <size>', 'hard ceiling on resident memory, e.g. 512M')
    .addOption(filterOpt('host', 'latest')).addOption(filterOpt('tag', 'latest')).addOption(filterOpt('path', 'latest'))
    .addHelpText(
      'after',
      '\nRestore never follows a link already in the target and replaces what is of the wrong type there.\nExit codes: 0 everything restored; 3 some entries were not restored (each named: out of space, an I/O error, something in the way that may not be removed) or an --include matched nothing while another did; 4 data damaged in the repository (files named); 1 no --include matched anything, so nothing was restored, or --verify found a restored file that does not read back as in the snapshot.',
    )
    .action(async (ref: string, flags: Record<string, unknown>, cmd: Command) => {
      await earlyKey(cmd, flags);
      const { restoreCommand } = await import('./commands/restore.js');
      result.code = await restoreCommand(ref, { ...cmd.optsWithGlobals(), ...flags }, outputFor(cmd), controller.signal);
    });

  program
    .command('snapshots')
    .description('list snapshots: the ones named, or those the filters keep (all without one)')
    .argument('[snapshots...]', 'snapshot ids (prefixes) or "latest"')
    .addOption(filterOpt('host', 'all')).addOption(filterOpt('tag', 'all')).addOption(filterOpt('path', 'all'))
    .option('--latest <n>', 'only the n newest snapshots of each host and set of paths')
    .action(async (refs: string[], flags: Record<string, unknown>, cmd: Command) => {
      await earlyKey(cmd);
      const { snapshotsCommand } = await import('./commands/snapshots.js');
      result.code = await snapshotsCommand(refs, { ...cmd.optsWithGlobals(), ...flags }, outputFor(cmd));
    });

  program
    .command('ls')
    .description('list the files of a snapshot, or of some folders in it (restic\'s ls)')
    .argument('<snapshot>', '"latest" or a snapshot id (prefix)')
    .argument('[dirs...]', 'absolute folders in the snapshot: list only them and their entries')
    .option('-l, --long', 'long format: mode, uid, gid, size, modification time, path')
    .option('--recursive', 'with folders given: also list everything below them')
    .option('--human-readable', 'with -l: sizes as 1.234 MiB')
    .option('--mem-budget <size>', 'memory budget (e.g. 512M)')
    .addOption(filterOpt('host', 'latest')).addOption(filterOpt('tag', 'latest')).addOption(filterOpt('path', 'latest'))
    .action(async (ref: string, dirs: string[], flags: Record<string, unknown>, cmd: Command) => {
      await earlyKey(cmd);
      const { lsCommand } = await import('./commands/ls.js');
      result.code = await lsCommand(ref, dirs, { ...cmd.optsWithGlobals(), ...flags }, outputFor(cmd));
    });

  program
    .command('find')
    .description('find files and folders whose path matches a pattern, in every snapshot (newest first) or those given (restic\'s find)')
    .argument('<patterns...>', 'restic patterns matched against the whole path (docs/SELECTION.md "Patterns"); with --blob/--tree: ids')
    .option('-s, --snapshot <id>', 'search this snapshot only (repeatable)', collect)
    .option('-O, --oldest <time>', 'only entries modified at or after this time, e.g. "2026-12-01 10:00"')
    .option('-N, --newest <time>', 'only entries modified at or before this time')
    .option('-i, --ignore-case', 'ignore case in patterns and paths')
    .option('-l, --long', 'long format: mode, uid, gid, size, modification time, path')
    .option('--human-readable', 'with -l: sizes as 1.234 MiB')
    .option('-R, --reverse', 'oldest snapshot first')
    .addOption(filterOpt('host', 'all'))
    .addOption(filterOpt('tag', 'all'))
    .addOption(filterOpt('path', 'all'))
    .option('--blob', 'the arguments are data blob ids: list the files holding them')
    .option('--tree', 'the arguments are tree ids: list the folders that are them')
    .option('--mem-budget <size>', 'memory budget (e.g. 512M)')
    .action(async (patterns: string[], flags: Record<string, unknown>, cmd: Command) => {
      await earlyKey(cmd);
      const { findCommand } = await import('./commands/find.js');
      result.code = await findCommand(patterns, { ...cmd.optsWithGlobals(), ...flags }, outputFor(cmd));
    });

  program
    .command('dump')
    .description('write a file of a snapshot to stdout, or a folder ("/" for all of it) as a tar archive (restic\'s dump)')
    .argument('<snapshot>', '"latest" or a snapshot id (prefix)')
    .argument('<path>', 'the file or folder, as `engine ls` prints it')
    .option('-a, --archive <format>', 'archive format for folders: tar (zip is not available)', 'tar')
    .option('-t, --target <file>', 'write to this file instead of stdout')
    .addOption(filterOpt('host', 'latest')).addOption(filterOpt('tag', 'latest')).addOption(filterOpt('path', 'latest'))
    .option('--mem-budget <size>', 'memory budget (e.g. 512M)')
    .action(async (ref: string, path: string, flags: Record<string, unknown>, cmd: Command) => {
      await earlyKey(cmd);
      const { dumpCommand } = await import('./commands/dump.js');
      result.code = await dumpCommand(ref, path, { ...cmd.optsWithGlobals(), ...flags }, outputFor(cmd), controller.signal);
    });

  program
    .command('cat')
    .description('print a repository object, decrypted, for debugging: config | snapshot ID | index ID | key ID | blob ID | tree ID or SNAPSHOT[:PATH] | pack ID (its header)')
    .argument('<type>', 'config | snapshot | index | key | blob | tree | pack')
    .argument('[id]', 'the object\'s id')
    .option('--mem-budget <size>', 'memory budget (e.g. 512M)')
    .action(async (type: string, id: string | undefined, flags: Record<string, unknown>, cmd: Command) => {
      await earlyKey(cmd);
      const { catCommand } = await import('./commands/cat.js');
      result.code = await catCommand(type, id, { ...cmd.optsWithGlobals(), ...flags }, outputFor(cmd));
    });

  program
    .command('check')
    .description('verify the repository: structure always, and the data of every pack (--read-data) or of some (--read-data-subset); exit 4 when anything is wrong')
    .option('--read-data', 'download and verify every blob of every pack')
    .option('--read-data-subset <subset>', 'verify the data of some packs only: n/t (the n-th of t groups, by pack id) or x% (a random x%)')
    .option('--mem-budget <size>', 'memory budget (e.g. 512M)')
    .action(async (flags: Record<string, unknown>, cmd: Command) => {
      await earlyKey(cmd, flags);
      const { checkCommand } = await import('./commands/check.js');
      result.code = await checkCommand({ ...cmd.optsWithGlobals(), ...flags }, outputFor(cmd), controller.signal);
    });

  program
    .command('forget')
    .description('remove snapshots: the ones named, or those a retention policy does not keep (per host and paths); --prune then reclaims their space')
    .argument('[snapshots...]', 'snapshot ids (prefixes) to remove')
    .option('--keep-last <n>', 'keep the n newest snapshots')
    .option('--keep-hourly <n>', 'keep the newest snapshot of each of the n latest hours that have one')
    .option('--keep-daily <n>', 'likewise for days (local time)')
    .option('--keep-weekly <n>', 'likewise for ISO weeks')
    .option('--keep-monthly <n>', 'likewise for months')
    .option('--keep-yearly <n>', 'likewise for years')
    .option('--keep-within <duration>', 'keep every snapshot within this time of the newest (e.g. 30d, 2w, 6m, 1y)')
    .option('--keep-tag <tag...>', 'keep every snapshot with this tag; refused (exit 1) when it would leave a group with no snapshot, e.g. a misspelt tag')
    .option('--group-by <keys>', 'group snapshots by host, paths, tags (comma-separated; "" for one group)', 'host,paths')
    .addOption(filterOpt('host', 'all', false)).addOption(filterOpt('tag', 'all')).addOption(filterOpt('path', 'all'))
    .option('--dry-run', 'list what would be kept and removed, and why; change nothing')
    .option('--prune', 'run prune afterwards')
    .option('--max-unused <share>', 'with --prune: unused share of the repository left unrepacked', '5%')
    .option('--mem-budget <size>', 'memory budget for --prune (e.g. 512M)')
    .action(async (ids: string[], flags: Record<string, unknown>, cmd: Command) => {
      await earlyKey(cmd, flags);
      const { forgetCommand } = await import('./commands/forget.js');
      result.code = await forgetCommand(ids, { ...cmd.optsWithGlobals(), ...flags }, outputFor(cmd), controller.signal);
    });

  program
    .command('prune')
    .description('delete data no snapshot uses, repacking partly used packs beyond --max-unused; takes an exclusive lock')
    .option('--max-unused <share>', 'unused share of the repository left unrepacked (0% repacks every partly used pack)', '5%')
    .option('--dry-run', 'say what would be deleted and repacked; change nothing')
    .option('--mem-budget <size>', 'memory budget (e.g. 512M)')
    .action(async (flags: Record<string, unknown>, cmd: Command) => {
      await earlyKey(cmd, flags);
      const { pruneCommand } = await import('./commands/prune.js');
      result.code = await pruneCommand({ ...cmd.optsWithGlobals(), ...flags }, outputFor(cmd), controller.signal);
    });

  program
    .command('rewrite')
    .description('save snapshots again without the files that --exclude patterns match (a file that should never have been backed up)')
    .argument('[snapshot...]', 'snapshot ids or "latest" (default: every snapshot the filters keep)')
    .option('-e, --exclude <pattern>', 'leave out what matches, as `engine ls` prints paths (repeatable; restic\'s patterns: docs/SELECTION.md)', collect)
    .option('--iexclude <pattern>', 'as --exclude, ignoring case', collect)
    .option('--exclude-file <file>', 'read --exclude patterns from a file (repeatable)', collect)
    .option('--iexclude-file <file>', 'read --iexclude patterns from a file (repeatable)', collect)
    .option('--forget', 'remove each original once its replacement is saved (the data goes with `engine prune`)')
    .option('-n, --dry-run', 'say what would be left out; change nothing')
    .addOption(filterOpt('host', 'all'))
    .addOption(filterOpt('tag', 'all'))
    .addOption(filterOpt('path', 'all'))
    .option('--mem-budget <size>', 'hard ceiling on resident memory, e.g. 512M')
    .action(async (refs: string[], flags: Record<string, unknown>, cmd: Command) => {
      await earlyKey(cmd, flags);
      const { rewriteCommand } = await import('./commands/rewrite.js');
      result.code = await rewriteCommand(refs, { ...cmd.optsWithGlobals(), ...flags }, outputFor(cmd), controller.signal);
    });

  program
    .command('copy')
    .description('copy snapshots from another repository (--from-repo) into this one, with the data they need; snapshots copied before are skipped')
    .argument('[snapshot...]', 'snapshot ids of the --from-repo repository, or "latest" (default: every snapshot the filters keep)')
    .option('--from-repo <location>', 'the repository to copy from (or ENGINE_FROM_REPOSITORY)')
    .option('--from-repository-file <file>', 'read its location from the first line of a file (or ENGINE_FROM_REPOSITORY_FILE)')
    .option('--from-password-file <file>', 'file holding its password (or ENGINE_FROM_PASSWORD_FILE; else ENGINE_FROM_PASSWORD)')
    .option('--from-password-command <command>', 'command printing its password (or ENGINE_FROM_PASSWORD_COMMAND)')
    .option('-n, --dry-run', 'say which snapshots would be copied; change nothing')
    .addOption(filterOpt('host', 'all'))
    .addOption(filterOpt('tag', 'all'))
    .addOption(filterOpt('path', 'all'))
    .option('--mem-budget <size>', 'hard ceiling on resident memory, e.g. 512M')
    .action(async (refs: string[], flags: Record<string, unknown>, cmd: Command) => {
      await earlyKey(cmd, flags);
      const { copyCommand } = await import('./commands/copy.js');
      result.code = await copyCommand(refs, { ...cmd.optsWithGlobals(), ...flags }, outputFor(cmd), controller.signal);
    });

  program
    .command('serve')
    .description('serve the snapshots read-only: --webdav (a file manager or `mount -t davfs` opens it), in place of restic\'s FUSE mount')
    .option('--webdav', 'serve them over WebDAV')
    .option('--listen <host:port>', 'loopback address to listen on (port 0 picks a free one)', '127.0.0.1:8080')
    .option('--mem-budget <size>', 'hard ceiling on resident memory, e.g. 512M')
    .action(async (flags: Record<string, unknown>, cmd: Command) => {
      await earlyKey(cmd, flags);
      const { serveCommand } = await import('./commands/serve.js');
      result.code = await serveCommand({ ...cmd.optsWithGlobals(), ...flags }, outputFor(cmd), controller.signal);
    });

  const repair = program.command('repair').description('bring a damaged repository back to one that `engine check` passes');
  repair
    .command('index')
    .description('rebuild the index from the pack headers (after a lost pack or a damaged index object); exclusive lock')
    .option('--mem-budget <size>', 'memory budget (e.g. 512M)')
    .action(async (flags: Record<string, unknown>, cmd: Command) => {
      await earlyKey(cmd, flags);
      const { repairIndexCommand } = await import('./commands/repair.js');
      result.code = await repairIndexCommand({ ...cmd.optsWithGlobals(), ...flags }, outputFor(cmd), controller.signal);
    });
  repair
    .command('snapshots')
    .description('rewrite snapshots that reference lost data: files with lost blobs are left out and listed, the snapshot is tagged "repaired"; run `repair index` first')
    .option('--dry-run', 'list what would be left out; change nothing')
    .option('--mem-budget <size>', 'memory budget (e.g. 512M)')
    .action(async (flags: Record<string, unknown>, cmd: Command) => {
      await earlyKey(cmd, flags);
      const { repairSnapshotsCommand } = await import('./commands/repair.js');
      result.code = await repairSnapshotsCommand({ ...cmd.optsWithGlobals(), ...flags }, outputFor(cmd), controller.signal);
    });

  program
    .command('key')
    .description('manage the passwords that open the repository: list, add, remove ID, passwd (the new password from --new-password-file, ENGINE_NEW_PASSWORD or a prompt)')
    .argument('<action>', 'list | add | remove | passwd')
    .argument('[id]', 'for remove: the key id (prefix)')
    .option('--new-password-file <file>', 'read the new password from this file')
    .option('--kdf-memory <size>', 'for add and passwd: Argon2id memory of the new key (held by every command opened with it; less lowers the --mem-budget floor)', '64M')
    .option('--kdf-time <passes>', 'for add and passwd: Argon2id passes of the new key', '3')
    .action(async (action: string, id: string | undefined, flags: Record<string, unknown>, cmd: Command) => {
      const { keyCommand } = await import('./commands/key.js');
      result.code = await keyCommand(action, id, { ...cmd.optsWithGlobals(), ...flags }, outputFor(cmd), controller.signal);
    });

  program
    .command('diff')
    .description('what changed between two snapshots: + added, - removed, M modified, T type changed, U metadata only')
    .argument('<from>', 'snapshot id (prefix) or "latest"')
    .argument('<to>', 'snapshot id (prefix) or "latest"')
    .option('--mem-budget <size>', 'memory budget (e.g. 512M)')
    .addOption(filterOpt('host', 'latest')).addOption(filterOpt('tag', 'latest')).addOption(filterOpt('path', 'latest'))
    .action(async (from: string, to: string, flags: Record<string, unknown>, cmd: Command) => {
      await earlyKey(cmd);
      const { diffCommand } = await import('./commands/diff.js');
      result.code = await diffCommand(from, to, { ...cmd.optsWithGlobals(), ...flags }, outputFor(cmd));
    });

  program
    .command('tag')
    .description('change the tags of snapshots: the ones named, or every one the filters keep (each gets a new id; exclusive lock)')
    .argument('[snapshots...]', 'snapshot ids (prefixes) or "latest"')
    .option('--add <tag[,tag,...]>', 'add these tags (repeatable)', collect)
    .option('--remove <tag[,tag,...]>', 'remove these tags (repeatable)', collect)
    .option('--set <tag[,tag,...]>', 'replace the tags with these (repeatable; "" for none); not with --add or --remove', collect)
    .addOption(filterOpt('host', 'all')).addOption(filterOpt('tag', 'all')).addOption(filterOpt('path', 'all'))
    .action(async (refs: string[], flags: Record<string, unknown>, cmd: Command) => {
      await earlyKey(cmd);
      const { tagCommand } = await import('./commands/tag.js');
      result.code = await tagCommand(refs, { ...cmd.optsWithGlobals(), ...flags }, outputFor(cmd), controller.signal);
    });

  program
    .command('stats')
    .description('sizes of the repository or of some snapshots: restore size, deduplicated and stored bytes, ratios, blob count')
    .argument('[snapshots...]', 'snapshot ids (prefixes) or "latest"; default: every snapshot the filters keep')
    .addOption(filterOpt('host', 'all'))
    .addOption(filterOpt('tag', 'all'))
    .addOption(filterOpt('path', 'all'))
    .option('--mem-budget <size>', 'memory budget (e.g. 512M)')
    .action(async (refs: string[], flags: Record<string, unknown>, cmd: Command) => {
      await earlyKey(cmd);
      const { statsCommand } = await import('./commands/stats.js');
      result.code = await statsCommand(refs, { ...cmd.optsWithGlobals(), ...flags }, outputFor(cmd));
    });

  program
    .command('unlock')
    .description('remove stale locks (their process is gone, or they were not refreshed for 30 minutes)')
    .option('--remove-all', 'remove every lock, live ones too: only when no other engine command uses the repository')
    .action(async (flags: Record<string, unknown>, cmd: Command) => {
      const { unlockCommand } = await import('./commands/unlock.js');
      result.code = await unlockCommand({ ...cmd.optsWithGlobals(), ...flags }, outputFor(cmd));
    });

  const schedule = program.command('schedule').description('systemd timers (or cron lines) for the commands of a profile that have a schedule (docs/UNATTENDED.md)');
  for (const action of ['install', 'remove', 'status'] as const) {
    schedule
      .command(action)
      .description(action === 'install' ? 'write and enable a service and a timer per scheduled command' : action === 'remove' ? 'disable and delete them' : 'say whether they are installed and active')
      .argument('[profile]', 'the profile (default: -P)')
      .option('--config <file>', 'profiles file (default: $XDG_CONFIG_HOME/engine/profiles.toml)')
      .option('--unit-dir <dir>', 'write the unit files here (default: ~/.config/systemd/user, or /etc/systemd/system with schedule-permission = "system")')
      .option('--no-enable', 'write or delete the files only: no systemctl')
      .action(async (profileArg: string | undefined, flags: Record<string, unknown>, cmd: Command) => {
        const all = { ...cmd.optsWithGlobals(), ...flags } as { profile?: string; config?: string };
        const name = profileArg ?? all.profile;
        if (!name) throw new UsageError('which profile? give its name', { hint: `engine schedule ${action} home` });
        const { scheduleCommand } = await import('./commands/schedule.js');
        result.code = await scheduleCommand(action, name, all, outputFor(cmd));
      });
  }

  program
    .command('completion')
    .description('print the shell completion script: engine completion bash > /etc/bash_completion.d/engine (also zsh, fish)')
    .argument('<shell>', 'bash, zsh or fish')
    .action(async (shell: string) => {
      const { completionScript } = await import('./commands/completion.js');
      process.stdout.write(completionScript(program, shell));
    });

  program
    .command('man')
    .description('print the man page (roff): engine man > /usr/local/share/man/man1/engine.1, or engine man | man -l -')
    .action(async () => {
      const { manPage } = await import('./commands/completion.js');
      process.stdout.write(manPage(program));
    });

  program
    .command('version')
    .description('print the version of engine, of Node, and the implementation of each primitive in use')
    .action(async (_flags: unknown, cmd: Command) => {
      const { versionCommand } = await import('./commands/version.js');
      result.code = await versionCommand(outputFor(cmd));
    });

  program
    .command('doctor')
    .description('show which implementation of each primitive is in use, and why')
    .action(async (_flags: unknown, cmd: Command) => {
      const { doctorCommand } = await import('./commands/doctor.js');
      result.code = await doctorCommand(outputFor(cmd));
    });

  program
    .command('bench')
    .description('measure this machine (every primitive implementation, the whole backup and restore pipeline) and recommend a cipher and a compression level')
    .option('--quick', 'short measurements and fewer zstd levels (for CI)')
    .option('--only <sections>', 'comma-separated sections to run: primitives, pipeline (default: both)')
    .option('--work-dir <dir>', 'where the pipeline section writes its corpus, repositories and restores (default: the system temporary folder); put it on the disk you care about')
    .option('--compare <files...>', 'compare two reports written by `engine bench --json`: A (writes the repository) and B (restores it)')
    .action(async (flags: Record<string, unknown>, cmd: Command) => {
      const { benchCommand } = await import('./commands/bench.js');
      result.code = await benchCommand(flags, outputFor(cmd));
    });

  return { program, result };
}

async function main(given: string[]): Promise<number> {
  const { program, result } = build();
  let argv = given;
  let hooks: Hooks | null = null;
  let sends: Sends | null = null;
  let profileName: string | null = null;
  // A profile's flags (--config FILE, -P NAME: src/cli/profiles.ts) become command-line flags;
  // the module (and its TOML parser) is loaded only then.
  // -PNAME too (the attached form): without --config it read no profile and was refused.
  if (given.some((a) => a === '--config' || a.startsWith('--config=') || a.startsWith('-P') || a === '--profile' || a.startsWith('--profile='))) {
    try {
      const { expandProfile } = await import('./profiles.js');
      ({ argv, hooks, sends, profile: profileName } = expandProfile(given, program));
    } catch (err) {
      return report(err, given.includes('--json')).code;
    }
  }
  const json = argv.includes('--json');
  const say = (m: string): void => void process.stderr.write(json ? `${JSON.stringify({ message_type: 'hook', message: m })}\n` : `engine: ${m}\n`);
  let hookRun: HookRun | null = null;
  if (hooks) {
    const { HookRun: Run, NO_SENDS } = await import('./hooks.js');
    // A failure ping carries the end of what engine said on stderr.
    hookRun = new Run(hooks, sends ?? NO_SENDS, say, sends ? tapStderr(16 * 1024) : () => '');
  }
  // Once the command line is parsed and valid, just before the command runs: a profile given in a
  // form the expansion did not see is refused, and the profile's before-hooks run (never for
  // --help or a usage error).
  program.hook('preAction', async (_program, action) => {
    const given = (program.opts() as { profile?: string }).profile;
    // `engine schedule` takes -P as its profile and reads the profiles itself.
    if (given !== undefined && profileName === null && action.parent?.name() !== 'schedule') throw new UsageError(`-P ${given}: give the profile as its own word (-P NAME or --profile=NAME)`);
    await hookRun?.before();
  });
  const run = async (): Promise<{ code: number; error?: string }> => {
    try {
      await program.parseAsync(argv);
      return { code: result.code };
    } catch (err) {
      await releaseLocks();
      return report(err, json);
    } finally {
      // Whatever the command held, released before the process exits (a killed process leaves a
      // lock that the next run finds stale: its pid is gone).
      await releaseLocks();
    }
  };
  const startedMs = Date.now();
  const outcome = await run();
  const code = hookRun ? await hookRun.after(outcome) : outcome.code;
  const metricsFile = (program.opts() as GlobalOptions).metricsFile;
  if (metricsFile !== undefined) {
    const { writeMetricsFile } = await import('./metrics.js');
    const command = commandTyped(argv, program);
    try {
      await writeMetricsFile(metricsFile, { command, profile: profileName ?? '', exitCode: code, startedMs, endedMs: Date.now() });
    } catch (err) {
      // Said, not the run's failure: the backup is what it is (and its hooks have run).
      say(`cannot write the metrics file ${metricsFile}: ${(err as Error).message}`);
    }
  }
  return code;
}

/** Keeps the last `bytes` of what is written to stderr (for a monitor), and returns a reader of them. */
function tapStderr(bytes: number): () => string {
  let kept = '';
  const write = process.stderr.write.bind(process.stderr) as (chunk: unknown, ...rest: unknown[]) => boolean;
  process.stderr.write = ((chunk: unknown, ...rest: unknown[]) => {
    kept = (kept + (typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'))).slice(-bytes);
    return write(chunk, ...rest);
  }) as typeof process.stderr.write;
  return () => kept;
}

/** The command as typed, with its subcommand ("backup", "repair index"), for metrics. */
function commandTyped(argv: readonly string[], program: Command): string {
  const words = argv.slice(2);
  const at = commandIndex(words, program);
  if (at < 0) return '';
  const command = program.commands.find((c) => c.name() === words[at])!;
  const sub = command.commands.find((c) => c.name() === words[at + 1]);
  return sub ? `${words[at]} ${words[at + 1]}` : words[at]!;
}

/** Says what ended the command (on stderr) and gives its exit code. */
function report(err: unknown, json: boolean): { code: number; error?: string } {
  if (err instanceof CommanderError) {
    // --help and --version end here too, with exit code 0.
    return { code: err.exitCode === 0 ? 0 : ExitCode.USAGE };
  }
  const code = controller.signal.aborted ? ExitCode.INTERRUPTED : exitCodeFor(err);
  const message = err instanceof Error ? err.message : String(err);
  const hint = isEngineError(err) ? err.hint : undefined;
  if (json) {
    process.stderr.write(`${JSON.stringify({ message_type: 'exit_error', code, error_code: isEngineError(err) ? err.code : 'E_INTERNAL', message, ...(hint ? { hint } : {}) })}\n`);
  } else {
    process.stderr.write(`engine: ${message}\n`);
    if (hint) process.stderr.write(`  hint: ${hint}\n`);
    if (!isEngineError(err) && err instanceof Error && process.env.ENGINE_DEBUG) process.stderr.write(`${err.stack}\n`);
  }
  return { code, error: message };
}

/**
 * Resolves once everything written to the stream so far has left the process. Writes to a pipe
 * are asynchronous, and process.exit() drops what is still queued: `engine ls | slow-reader` lost
 * all but the first 64 KiB. A reader that went away (`| head`) ends the wait too.
 */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || !stream.writable) {
      resolve();
      return;
    }
    stream.write('', () => resolve());
  });
}

/**
 * ENGINE_PEAK_RSS_FILE=PATH: the process's peak resident set (VmHWM, bytes) is written there as it
 * exits, for every command (the scale benchmark measures each step so, in a fresh process).
 */
function reportPeakRss(): void {
  const file = process.env.ENGINE_PEAK_RSS_FILE;
  if (!file) return;
  try {
    writeFileSync(file, `${peakRssBytes()}\n`);
  } catch {
    // a measurement aid: never the reason a command fails
  }
}

// A reader that closed the pipe early is not an error of engine's.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

/** process.exit after a full collection of the main thread (see the flag at the top). */
function exit(code: number): never {
  try {
    v8.setFlagsFromString('--expose-gc');
    (runInNewContext('gc') as (() => void) | undefined)?.();
  } catch {
    // only a precaution
  }
  process.exit(code);
}

// The event loop ran dry while the command was still waiting: nothing is left that could end that
// wait (a bug, such as a budget no lease can fit). Node would exit 0 here as if all went well,
// having printed nothing; say so and fail instead.
let settled = false;
process.once('beforeExit', () => {
  if (settled) return;
  process.stderr.write('engine: internal error: the command stopped before it finished (it waited for something nothing will end); nothing after this point was done\n');
  exit(ExitCode.FAILURE);
});

main(process.argv).finally(() => (settled = true)).then(
  async (code) => {
    await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
    reportPeakRss();
    exit(code);
  },
  (err: unknown) => {
    process.stderr.write(`engine: internal error: ${String(err)}\n`);
    exit(ExitCode.FAILURE);
  },
);
