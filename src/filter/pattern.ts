// Path patterns for --exclude/--iexclude (backup) and --include/--exclude (restore), with restic's
// semantics (restic internal/filter/filter.go, read at a80be14; this is our own code). In short:
//
// - A pattern is cleaned like Go's filepath.Clean (so '/foo/' == '/foo', '/foo///bar' ==
//   '/foo/bar', '/foo/../bar' == '/bar', '' == '.') and split at '/' into components; a leading
//   '/' becomes a root component that must match the path's root (anchored pattern). The path is
//   split the same way but NOT cleaned (callers pass clean absolute paths).
// - Each component is matched on its own with Go's filepath.Match rules: '*' is any run of
//   characters other than '/', '?' one character other than '/', '[...]' a class of characters
//   and ranges ('a-z'), negated by a leading '^', '\' escapes the next character. A malformed
//   component ('[' never closed, '[]', '[-a]', '[a-]', a trailing '\') is an error, found up front.
// - A component that is exactly '**' stands for zero or more components. restic expands the
//   first '**' into 0..(path length - pattern length + 1) single '*' components, then the next
//   '**' the same way on the result (filter.go match); we follow that search, bounds included.
// - Anchored patterns match a run of components at the start of the path, relative patterns a run
//   anywhere after the root. The run need not reach the end of the path, so a pattern that
//   matches a folder matches everything under it: 'foo' matches '/a/foo/b/c', '/a' matches '/a/b'.
// - '/' alone cleans to the root plus an empty component, which restic treats as '**': it matches
//   every absolute path.
// - List semantics (filter.go list): patterns are taken in order; a '!' prefix negates. The path
//   is selected when the last pattern that matches it is not negated (last match wins). Empty
//   patterns are dropped (ParsePatterns). '!' alone negates '.', which matches nothing.
// - ListWithChild also says whether a path below `path` could match (childMayMatch), so a
//   restorer knows whether to enter a folder: relative patterns always may; an anchored pattern
//   may when its components up to the first '**' (or its end) match the path's first components;
//   a negated pattern that matches `path` itself clears what earlier patterns said.
// - Case-insensitive patterns (--iexclude, --iinclude) are lower-cased, and so is the path, before
//   matching (filter.RejectByInsensitivePattern). restic keeps the case-sensitive and the
//   case-insensitive patterns in two separate lists, each with its own last-match-wins, and a path
//   is selected when either list selects it (exclude.go CollectPatterns, cmd_restore.go). This
//   class does the same: a '!' pattern only overrides patterns of its own case family. restic
//   puts the patterns read from files after those given on the command line, so callers should
//   pass them in that order.
// - An empty path matches nothing (restic: ErrBadString, which its callers treat as no match).

import { EngineError, ErrorCode } from '../errors/engine-error.js';

/** One pattern as given by the user, and whether it ignores case (--iexclude, --iinclude...). */
export interface PatternSource {
  text: string;
  caseInsensitive: boolean;
}

/** A pattern that filepath.Match would reject (ErrBadPattern); restic refuses these before starting. */
export class PatternError extends EngineError {
  /** Every rejected pattern with why, in the order given. */
  readonly invalid: readonly { pattern: string; reason: string }[];
  constructor(invalid: readonly { pattern: string; reason: string }[]) {
    const list = invalid.map((i) => `'${i.pattern}' (${i.reason})`).join(', ');
    super(ErrorCode.USAGE, `invalid pattern${invalid.length === 1 ? '' : 's'}: ${list}`, {
      hint: "escape a literal '[', '*', '?' or '\\' with a backslash ('\\[', '\\*', '\\?', '\\\\'); a class needs a closing ']' and at least one character, e.g. '[abc]' or '[a-z]'",
      details: { patterns: invalid.map((i) => i.pattern) },
    });
    this.invalid = invalid;
  }
}

// Kinds of component: compared as text, any run without a separator ("*"), '*' then plain text
// (compared with endsWith, the commonest exclude: '*.o'), a compiled glob, or "**".
const Kind = { LITERAL: 0, ANY: 1, SUFFIX: 2, GLOB: 3, DOUBLE_STAR: 4 } as const;
type PartKind = (typeof Kind)[keyof typeof Kind];

/** One component of a parsed pattern. */
interface Part {
  readonly kind: PartKind;
  /** The component text (LITERAL compares it; the root component is '/'); for SUFFIX, the text after the '*'. */
  readonly text: string;
  /** For GLOB: the component compiled to an anchored regular expression. */
  readonly re: RegExp | null;
}

interface ParsedPattern {
  readonly original: string;
  readonly negated: boolean;
  readonly parts: readonly Part[];
  readonly anchored: boolean;
  /** Index of the first '**' part, -1 if none. */
  readonly firstDoubleStar: number;
  /** parts for matching, with '**' that cannot change the result of match() left out (see matchingParts). */
  readonly matchParts: readonly Part[];
  readonly matchHasDoubleStar: boolean;
}

/** The '*' component restic substitutes when it expands '**'. */
const STAR: Part = { kind: Kind.ANY, text: '*', re: null };

class BadGlob extends Error {}

/**
 * Compiles one component with Go's filepath.Match syntax to a regular expression, or throws
 * BadGlob naming what is wrong. Go's rules (path/filepath match.go scanChunk/matchChunk/getEsc):
 * a class item may not start with '-' or ']' (so '[]' and '[-a]' are bad, and ']' is not a
 * literal first member), an item must be followed by more pattern (an unclosed class is bad),
 * '\' escapes inside and outside classes and may not end the pattern. A range lo-hi with lo > hi
 * is legal and matches nothing.
 */
function compileGlob(glob: string): RegExp {
  const cps = Array.from(glob);
  let out = '^';
  let i = 0;
  const lit = (c: string): string => `\\u{${c.codePointAt(0)!.toString(16)}}`;
  while (i < cps.length) {
    const c = cps[i]!;
    if (c === '*') {
      out += '[^/]*';
      i++;
    } else if (c === '?') {
      out += '[^/]';
      i++;
    } else if (c === '\\') {
      if (i + 1 >= cps.length) throw new BadGlob("trailing '\\' escapes nothing");
      out += lit(cps[i + 1]!);
      i += 2;
    } else if (c === '[') {
      i++;
      let negated = false;
      if (cps[i] === '^') {
        negated = true;
        i++;
      }
      const ranges: string[] = [];
      let nrange = 0;
      // Reads one class member (Go getEsc) and returns its code point.
      const member = (afterDash: boolean): number => {
        const m = cps[i];
        if (m === undefined) throw new BadGlob("'[' is never closed with ']'");
        if (m === '-') throw new BadGlob("'-' without a character before it in a [...] class");
        if (m === ']') throw new BadGlob(afterDash ? "']' right after '-': a range needs an end character" : "empty class '[]' (write '\\]' for a literal ']')");
        let ch = m;
        if (m === '\\') {
          i++;
          const e = cps[i];
          if (e === undefined) throw new BadGlob("'\\' ends the pattern inside a [...] class");
          ch = e;
        }
        i++;
        if (i >= cps.length) throw new BadGlob("'[' is never closed with ']'");
        return ch.codePointAt(0)!;
      };
      for (;;) {
        if (cps[i] === ']' && nrange > 0) {
          i++;
          break;
        }
        const lo = member(false);
        let hi = lo;
        if (cps[i] === '-') {
          i++;
          hi = member(true);
        }
        if (lo <= hi) ranges.push(`\\u{${lo.toString(16)}}-\\u{${hi.toString(16)}}`);
        nrange++;
      }
      if (ranges.length === 0) out += negated ? '[\\s\\S]' : '(?!)';
      else out += `[${negated ? '^' : ''}${ranges.join('')}]`;
    } else {
      out += lit(c);
      i++;
    }
  }
  return new RegExp(out + '$', 'u');
}

/** Go's filepath.Clean for '/'-separated paths. */
export function cleanPattern(p: string): string {
  if (p === '') return '.';
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const c of p.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(c);
  }
  const joined = out.join('/');
  if (rooted) return '/' + joined;
  return joined === '' ? '.' : joined;
}

/** Splits at '/'; an absolute path's first component is the root marker '/' (restic splitPath). */
function splitPath(p: string): string[] {
  const parts = p.split('/');
  if (parts[0] === '') parts[0] = '/';
  return parts;
}

/** Contains a character that makes filepath.Match do more than compare (restic isSimple). */
const GLOB_CHARS = /[\\[\]*?]/;

function parsePattern(text: string): ParsedPattern {
  let body = text;
  let negated = false;
  if (body.startsWith('!')) {
    negated = true;
    body = body.slice(1);
  }
  const parts: Part[] = [];
  let firstDoubleStar = -1;
  for (const comp of splitPath(cleanPattern(body))) {
    // restic turns '**' into '' and tests for ''; the '' left by cleaning '/' alone is taken
    // for a '**' the same way.
    if (comp === '**' || comp === '') {
      if (firstDoubleStar < 0) firstDoubleStar = parts.length;
      parts.push({ kind: Kind.DOUBLE_STAR, text: comp, re: null });
    } else if (!GLOB_CHARS.test(comp)) {
      parts.push({ kind: Kind.LITERAL, text: comp, re: null });
    } else if (comp === '*') {
      parts.push(STAR);
    } else if (comp.startsWith('*') && !GLOB_CHARS.test(comp.slice(1))) {
      compileGlob(comp); // cannot fail, but keeps validation in one place
      parts.push({ kind: Kind.SUFFIX, text: comp.slice(1), re: null });
    } else {
      parts.push({ kind: Kind.GLOB, text: comp, re: compileGlob(comp) });
    }
  }
  const anchored = parts[0]!.kind === Kind.LITERAL && parts[0]!.text === '/';
  const matchParts = matchingParts(parts, anchored);
  return { original: text, negated, parts, anchored, firstDoubleStar, matchParts, matchHasDoubleStar: matchParts.some((q) => q.kind === Kind.DOUBLE_STAR) };
}

/**
 * The parts restic's match() gives the same answer for with less search. Both cuts keep the
 * answer exact, bounds included:
 * - a leading '**' of a relative pattern followed by more parts: restic tries 0 expansions first,
 *   which is the rest matched on its own; a match with i > 0 '*'s is also a match of the rest i
 *   components later (relative patterns may start anywhere after the root), and the rest's own
 *   '**' get smaller bounds in the longer pattern, never larger.
 * - a trailing '**' when it is the only one: 0 expansions leaves the run before it, and any match
 *   with more '*'s also matches that run at the same offset.
 * childMatch keeps using the full parts (it cuts at the first '**').
 */
function matchingParts(parts: readonly Part[], anchored: boolean): readonly Part[] {
  let start = 0;
  if (!anchored) while (parts.length - start > 1 && parts[start]!.kind === Kind.DOUBLE_STAR) start++;
  let out = parts.slice(start);
  const stars = out.filter((q) => q.kind === Kind.DOUBLE_STAR).length;
  if (stars === 1 && out.length > 1 && out[out.length - 1]!.kind === Kind.DOUBLE_STAR) out = out.slice(0, -1);
  return out;
}

function partMatches(part: Part, s: string): boolean {
  switch (part.kind) {
    case Kind.LITERAL:
      return part.text === s;
    case Kind.ANY:
      // filepath.Match("*", s): any run without a separator.
      return !s.includes('/');
    case Kind.SUFFIX:
      // filepath.Match("*"+text, s): s ends with text, and nothing in it is a separator.
      return s.endsWith(part.text) && !s.includes('/');
    case Kind.GLOB:
      return part.re!.test(s);
    default:
      return false; // '**' is always expanded before comparing
  }
}

/**
 * restic match() for a pattern without '**': the pattern's components must equal a run of the
 * path's components, at the start for an anchored pattern, anywhere after the root otherwise.
 */
function matchRun(v: readonly Part[], vlen: number, strs: readonly string[]): boolean {
  if (vlen === 0) return strs.length === 0;
  if (vlen > strs.length) return false;
  let minOffset = 0;
  let maxOffset = strs.length - vlen;
  const first = v[0]!;
  if (first.kind === Kind.LITERAL && first.text === '/') maxOffset = 0;
  else if (strs[0] === '/') minOffset = 1;
  outer: for (let off = maxOffset; off >= minOffset; off--) {
    for (let i = vlen - 1; i >= 0; i--) {
      if (!partMatches(v[i]!, strs[off + i]!)) continue outer;
    }
    return true;
  }
  return false;
}

/**
 * restic match() with '**': the virtual pattern is buf[0..blen) followed by parts[src..]. The
 * next '**' is replaced by i = 0, 1, ... '*' components, i at most (path length - virtual
 * pattern length + 1) as in restic, and the rest is matched recursively. buf is reused across
 * calls (no allocation per path once it has grown).
 */
function expand(parts: readonly Part[], src: number, buf: Part[], blen: number, strs: readonly string[]): boolean {
  let d = src;
  while (d < parts.length && parts[d]!.kind !== Kind.DOUBLE_STAR) d++;
  for (let k = src; k < d; k++) buf[blen + k - src] = parts[k]!;
  if (d === parts.length) return matchRun(buf, blen + d - src, strs);
  const pos = blen + d - src;
  const virtualLength = pos + parts.length - d;
  for (let i = 0; i <= strs.length - virtualLength + 1; i++) {
    if (i > 0) buf[pos + i - 1] = STAR;
    if (expand(parts, d + 1, buf, pos + i, strs)) return true;
  }
  return false;
}

const scratch: Part[] = [];

function matchPattern(p: ParsedPattern, strs: readonly string[]): boolean {
  if (!p.matchHasDoubleStar) return matchRun(p.matchParts, p.matchParts.length, strs);
  return expand(p.matchParts, 0, scratch, 0, strs);
}

/**
 * restic childMatch(): could a path below `strs` match? Relative patterns always may. An
 * anchored pattern may when its components before the first '**' (or all of them) match the
 * path's leading components, as far as both go.
 */
function childMatch(p: ParsedPattern, strs: readonly string[]): boolean {
  if (!p.anchored) return true;
  const limit = Math.min(strs.length, p.firstDoubleStar >= 0 ? p.firstDoubleStar : p.parts.length);
  for (let i = 0; i < limit; i++) {
    if (!partMatches(p.parts[i]!, strs[i]!)) return false;
  }
  return true;
}

/**
 * Go's strings.ToLower: each code point's simple lower-case mapping. JavaScript's toLowerCase
 * differs in two places: 'İ' (U+0130) becomes 'i' plus a combining dot instead of 'i', and a
 * word-final 'Σ' becomes 'ς' instead of 'σ'. Both are mapped first so pattern and path fold alike.
 */
export function goToLower(s: string): string {
  if (!GO_LOWER_DIFFERS.test(s)) return s.toLowerCase();
  return s.replace(/\u0130/g, 'i').replace(/\u03a3/g, '\u03c3').toLowerCase();
}
const GO_LOWER_DIFFERS = /[\u0130\u03a3]/;

/** One case family's patterns, evaluated as restic's filter.List / ListWithChild. */
class Family {
  readonly patterns: ParsedPattern[] = [];
  hasNegated = false;

  add(p: ParsedPattern): void {
    this.patterns.push(p);
    if (p.negated) this.hasNegated = true;
  }

  /** Last match wins: scan from the end and stop at the first pattern that matches. */
  matches(strs: readonly string[]): boolean {
    for (let k = this.patterns.length - 1; k >= 0; k--) {
      const p = this.patterns[k]!;
      if (matchPattern(p, strs)) return !p.negated;
    }
    return false;
  }

  matchWithChild(strs: readonly string[]): { matched: boolean; childMayMatch: boolean } {
    let matched = false;
    let childMayMatch = false;
    for (const p of this.patterns) {
      const m = matchPattern(p, strs);
      if (p.negated) {
        matched = matched && !m;
        childMayMatch = childMayMatch && !m;
      } else {
        matched = matched || m;
        childMayMatch = childMayMatch || childMatch(p, strs);
        if (matched && childMayMatch && !this.hasNegated) break;
      }
    }
    return { matched, childMayMatch };
  }
}

/** A list of patterns as one --exclude/--include family of flags builds it in restic. */
export class PatternList {
  /** True only when no pattern was given at all. Patterns that are all '' still make a list that matches nothing (restic: the flag was given, ParsePatterns drops ''). */
  readonly empty: boolean;
  private readonly sensitive: Family | null;
  private readonly insensitive: Family | null;

  constructor(patterns: readonly PatternSource[]) {
    this.empty = patterns.length === 0;
    const invalid: { pattern: string; reason: string }[] = [];
    let sensitive: Family | null = null;
    let insensitive: Family | null = null;
    for (const src of patterns) {
      // Each family exists once a pattern of it is given, like restic's per-flag functions.
      if (src.caseInsensitive) insensitive ??= new Family();
      else sensitive ??= new Family();
      if (src.text === '') continue;
      try {
        const parsed = parsePattern(src.caseInsensitive ? goToLower(src.text) : src.text);
        (src.caseInsensitive ? insensitive : sensitive)!.add(parsed);
      } catch (e) {
        if (!(e instanceof BadGlob)) throw e;
        invalid.push({ pattern: src.text, reason: e.message });
      }
    }
    if (invalid.length > 0) throw new PatternError(invalid);
    this.sensitive = sensitive;
    this.insensitive = insensitive;
  }

  /** restic filter.List: whether the last pattern that matches `path` is not negated. path is absolute, '/'-separated. */
  matches(path: string): boolean {
    if (path === '') return false;
    if (this.sensitive !== null && this.sensitive.matches(splitPath(path))) return true;
    if (this.insensitive !== null && this.insensitive.matches(splitPath(goToLower(path)))) return true;
    return false;
  }

  /** restic filter.ListWithChild: also whether some pattern could match a path below `path` (for include lists and for deciding to enter a folder). */
  matchWithChild(path: string): { matched: boolean; childMayMatch: boolean } {
    let matched = false;
    let childMayMatch = false;
    if (path === '') return { matched, childMayMatch };
    if (this.sensitive !== null) {
      const r = this.sensitive.matchWithChild(splitPath(path));
      matched = r.matched;
      childMayMatch = r.childMayMatch;
    }
    if (this.insensitive !== null && !(matched && childMayMatch)) {
      const r = this.insensitive.matchWithChild(splitPath(goToLower(path)));
      matched ||= r.matched;
      childMayMatch ||= r.childMayMatch;
    }
    return { matched, childMayMatch };
  }
}
