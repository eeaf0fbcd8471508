// Pattern files (--exclude-file, --iexclude-file, --include-file, --iinclude-file) read the way
// restic reads them (internal/filter/exclude.go readPatternsFromFiles, internal/textfile/read.go):
// - a UTF-8 byte order mark is dropped; a UTF-16 BOM (either byte order) makes the file UTF-16;
// - lines end at '\n', and a '\r' before it is dropped (bufio.ScanLines), so CRLF files work;
// - each line is trimmed of leading and trailing white space (strings.TrimSpace: Unicode
//   White_Space), then skipped when empty or when it starts with '#';
// - environment variables are expanded with os.Expand: $NAME and ${NAME} take the variable's
//   value (empty when unset), and $$ gives a literal '$' (restic's mapping returns "$" for "$").
// restic does NOT expand variables in patterns given on the command line (only the shell does),
// so expandPatternEnv is for lines of pattern files only.

import { readFile } from 'node:fs/promises';
import { EngineError, ErrorCode } from '../errors/engine-error.js';
import type { PatternSource } from './pattern.js';

/** Go's unicode.IsSpace set (the Unicode White_Space property), which String.prototype.trim differs from (U+0085, U+FEFF). */
const SPACE = '\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const LEADING_SPACE = new RegExp(`^[${SPACE}]+`);
const TRAILING_SPACE = new RegExp(`[${SPACE}]+$`);

function trimSpace(s: string): string {
  return s.replace(LEADING_SPACE, '').replace(TRAILING_SPACE, '');
}

/** Go os.Expand's shell special variables ($*, $#, $$, $@, $!, $?, $-, $0..$9): one character names. */
function isShellSpecial(c: string | undefined): boolean {
  return c !== undefined && '*#$@!?-0123456789'.includes(c);
}

function isAlphaNum(c: string | undefined): boolean {
  return c !== undefined && /^[A-Za-z0-9_]$/.test(c);
}

/**
 * Expands $NAME, ${NAME} and the one-character specials as Go's os.Expand does, with restic's
 * mapping: "$" maps to a literal '$' (so '$$' is '$'), any other name to its value in env or ''.
 * A '$' at the end or before a character that starts no name stays; '${}' and an unclosed '${'
 * are dropped, as Go drops them.
 */
export function expandPatternEnv(text: string, env: NodeJS.ProcessEnv = process.env): string {
  const lookup = (name: string): string => (name === '$' ? '$' : (env[name] ?? ''));
  let out = '';
  let i = 0; // start of text not yet copied
  for (let j = 0; j < text.length; j++) {
    if (text[j] !== '$' || j + 1 >= text.length) continue;
    out += text.slice(i, j);
    const rest = j + 1;
    let name = '';
    let width = 0;
    if (text[rest] === '{') {
      if (text.length - rest > 2 && isShellSpecial(text[rest + 1]) && text[rest + 2] === '}') {
        name = text[rest + 1]!;
        width = 3;
      } else {
        const close = text.indexOf('}', rest + 1);
        if (close < 0) width = 1; // bad syntax: drop '${'
        else if (close === rest + 1) width = 2; // bad syntax: drop '${}'
        else {
          name = text.slice(rest + 1, close);
          width = close - rest + 1;
        }
      }
    } else if (isShellSpecial(text[rest])) {
      name = text[rest]!;
      width = 1;
    } else {
      while (isAlphaNum(text[rest + width])) width++;
      name = text.slice(rest, rest + width);
    }
    if (name !== '') out += lookup(name);
    else if (width === 0) out += '$'; // '$' followed by no name stays
    j += width;
    i = j + 1;
  }
  return i === 0 ? text : out + text.slice(i);
}

/** restic textfile.Decode: drop a UTF-8 BOM, decode UTF-16 when a UTF-16 BOM says so, else UTF-8. */
function decodeText(data: Buffer): string {
  if (data.length >= 3 && data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf) return data.subarray(3).toString('utf8');
  if (data.length >= 2 && data[0] === 0xff && data[1] === 0xfe) return data.subarray(2).toString('utf16le');
  if (data.length >= 2 && data[0] === 0xfe && data[1] === 0xff) {
    const le = Buffer.from(data.subarray(2, 2 + ((data.length - 2) & ~1)));
    le.swap16();
    return le.toString('utf16le');
  }
  return data.toString('utf8');
}

/** Splits text into patterns with restic's rules (see the top of this file). */
export function parsePatternText(text: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const lines = text.split('\n');
  // bufio.ScanLines yields no empty token after a final newline; an empty last line is skipped anyway.
  const patterns: string[] = [];
  for (const raw of lines) {
    const line = trimSpace(raw.endsWith('\r') ? raw.slice(0, -1) : raw);
    if (line === '' || line.startsWith('#')) continue;
    patterns.push(expandPatternEnv(line, env));
  }
  return patterns;
}

/** Reads an --exclude-file / --iexclude-file (or --include-file): one pattern per line, restic's rules for comments, blank lines, whitespace and $VAR expansion. Throws EngineError(ErrorCode.USAGE) naming the file when it cannot be read. */
export async function readPatternFile(path: string, env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw new EngineError(ErrorCode.USAGE, `failed to read patterns from file ${path}: ${why}`, {
      cause: e,
      hint: 'check the path given to the pattern-file option; it must be a readable text file with one pattern per line',
      details: { path },
    });
  }
  return parsePatternText(decodeText(data), env);
}

/** One family of pattern flags as restic reads them (e.g. --exclude, --exclude-file, --iexclude, --iexclude-file). */
export interface PatternFlags {
  patterns?: readonly string[];
  files?: readonly string[];
  ipatterns?: readonly string[];
  ifiles?: readonly string[];
}

/**
 * The patterns of one family, in restic's order: those given, then those read from files, the
 * case-sensitive ones before the others (PatternList keeps the two kinds apart, so a `!` takes
 * back only what its own kind matched). An unreadable file is a usage error naming it.
 */
export async function patternSources(flags: PatternFlags, env: NodeJS.ProcessEnv = process.env): Promise<PatternSource[]> {
  const out: PatternSource[] = [];
  for (const text of flags.patterns ?? []) out.push({ text, caseInsensitive: false });
  for (const f of flags.files ?? []) for (const text of await readPatternFile(f, env)) out.push({ text, caseInsensitive: false });
  for (const text of flags.ipatterns ?? []) out.push({ text, caseInsensitive: true });
  for (const f of flags.ifiles ?? []) for (const text of await readPatternFile(f, env)) out.push({ text, caseInsensitive: true });
  return out;
}
