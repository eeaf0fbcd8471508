// From backup's flags to what it backs up: the paths (positional, --files-from and its raw and
// verbatim forms, restic's rules for each) and what it leaves out (--exclude and the rest, as a
// Selection for the walker). restic's names and semantics, so its users' scripts carry over
// (docs/SELECTION.md).
import { lstat, readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { CACHEDIR_TAG, Selection, type TagFile } from '../archiver/archiver.js';
import { EngineError, ErrorCode, UsageError } from '../errors/engine-error.js';
import { PatternList } from '../filter/pattern.js';
import { patternSources } from '../filter/pattern-file.js';
import { expandGlob } from '../filter/glob.js';
import { parseSize } from '../util/bytes.js';
import { decodeName, displayName, fsPath } from '../fs/names.js';

export interface SelectionFlags {
  exclude?: string[];
  iexclude?: string[];
  excludeFile?: string[];
  iexcludeFile?: string[];
  excludeCaches?: boolean;
  excludeIfPresent?: string[];
  excludeLargerThan?: string;
  oneFileSystem?: boolean;
}

export interface TargetFlags {
  filesFrom?: string[];
  filesFromRaw?: string[];
  filesFromVerbatim?: string[];
}

/** What the flags leave out. Bad patterns and unreadable pattern files are usage errors, before anything is read. */
export async function selectionFromFlags(flags: SelectionFlags, warn: (text: string) => void = () => undefined): Promise<Selection> {
  const sources = await patternSources({ patterns: flags.exclude, files: flags.excludeFile, ipatterns: flags.iexclude, ifiles: flags.iexcludeFile });
  const tagFiles: TagFile[] = [];
  if (flags.excludeCaches) tagFiles.push(CACHEDIR_TAG);
  for (const spec of flags.excludeIfPresent ?? []) tagFiles.push(parseTagSpec(spec));
  return new Selection({
    ...(sources.length > 0 ? { patterns: new PatternList(sources) } : {}),
    ...(tagFiles.length > 0 ? { tagFiles } : {}),
    ...(flags.excludeLargerThan !== undefined ? { largerThanBytes: parseSize(flags.excludeLargerThan, '--exclude-larger-than') } : {}),
    ...(flags.oneFileSystem ? { oneFileSystem: true } : {}),
    ...(tagFiles.length > 0 ? { onInvalidTag: (path: string, why: string) => warn(`${displayName(path)}: ${why}, so it is no tag and the folder is backed up`) } : {}),
  });
}

/** --exclude-if-present NAME[:HEADER], split at the first colon as restic does. */
export function parseTagSpec(spec: string): TagFile {
  const colon = spec.indexOf(':');
  const name = colon < 0 ? spec : spec.slice(0, colon);
  const header = colon < 0 ? '' : spec.slice(colon + 1);
  if (name === '' || name.includes('/')) throw new UsageError(`--exclude-if-present "${spec}": the tag file must be a file name`, { hint: 'give a name such as .nobackup, optionally with the header it starts with: .nobackup:HEADER' });
  return header === '' ? { name } : { name, header: new TextEncoder().encode(header) };
}

/**
 * The paths to back up, absolute, in the order given: positional arguments, then each list. As
 * restic: --files-from takes one glob per line (blank lines and lines starting with # skipped,
 * a glob matching nothing is a warning), --files-from-verbatim one path per line as it is (blank
 * lines skipped), --files-from-raw NUL-separated paths; `-` reads standard input. A path that
 * does not exist is a warning and left out (exit 3); when none exists, nothing is backed up (exit 1).
 */
export async function backupTargets(args: readonly string[], flags: TargetFlags, warn: (text: string) => void): Promise<{ paths: string[]; missing: string[] }> {
  const listed: string[] = [];
  for (const file of flags.filesFrom ?? []) {
    for (const raw of textLines(await readList(file, '--files-from'))) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const found = await expandGlob(line);
      if (found.length === 0) warn(`--files-from ${file}: "${line}" matches no file; skipped`);
      listed.push(...found);
    }
  }
  for (const file of flags.filesFromVerbatim ?? []) {
    for (const line of textLines(await readList(file, '--files-from-verbatim'))) if (line !== '') listed.push(line);
  }
  for (const file of flags.filesFromRaw ?? []) {
    listed.push(...rawNames(await readList(file, '--files-from-raw'), file));
  }
  const all = [...args, ...listed];
  if (all.length === 0) throw new UsageError('nothing to back up', { hint: 'give one or more paths (engine backup --repo R PATH...) or a list with --files-from' });
  const present: string[] = [];
  const missing: string[] = [];
  for (const p of all) {
    const abs = resolve(p);
    try {
      await lstat(fsPath(abs));
      present.push(abs);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      warn(code === 'ENOENT' ? `${abs} does not exist, skipping` : `${abs} cannot be read (${code ?? String(err)}), skipping`);
      missing.push(abs);
    }
  }
  if (present.length === 0) throw new EngineError(ErrorCode.SOURCE_READ, 'none of the paths to back up exists: nothing was backed up', { hint: 'check the paths given to `engine backup` and its --files-from lists' });
  return { paths: present, missing };
}

async function readList(file: string, flag: string): Promise<Buffer> {
  try {
    return file === '-' ? await readStdin() : await readFile(file);
  } catch (err) {
    throw new UsageError(`${flag} ${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { hint: 'give a readable file, or - for standard input' });
  }
}

/**
 * The lines of a text list as Go's bufio.Scanner gives them (split at \n, one \r before it
 * dropped; a byte order mark at the start dropped, as restic's textfile.Read). Each line is a
 * name: bytes that are not UTF-8 are kept as they are (fs/names.ts), as restic keeps them.
 */
function textLines(bytes: Buffer): string[] {
  const body = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? bytes.subarray(3) : bytes;
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i <= body.length; i++) {
    if (i < body.length && body[i] !== 0x0a) continue;
    const end = i > start && body[i - 1] === 0x0d ? i - 1 : i;
    out.push(decodeName(body.subarray(start, end)));
    start = i + 1;
  }
  if (out.length > 0 && out[out.length - 1] === '') out.pop();
  return out;
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/**
 * --files-from-raw: names ended by NUL bytes, kept byte for byte (a name that is not UTF-8 stays
 * as it is on disk). As restic: the last name must end with a NUL, and an empty name is an error.
 */
function rawNames(bytes: Buffer, file: string): string[] {
  if (bytes.length === 0) return [];
  if (bytes[bytes.length - 1] !== 0) throw new UsageError(`--files-from-raw ${file}: the last name does not end with a NUL byte`, { hint: 'write the list with find -print0 or another tool that ends every name with NUL' });
  const names: string[] = [];
  let start = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== 0) continue;
    if (i === start) throw new UsageError(`--files-from-raw ${file}: an empty name in the list`, { hint: 'remove the doubled NUL byte' });
    names.push(decodeName(bytes.subarray(start, i)));
    start = i + 1;
  }
  return names;
}
