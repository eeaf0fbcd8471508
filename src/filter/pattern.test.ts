import { describe, expect, it } from 'vitest';
import { ErrorCode, isEngineError } from '../errors/engine-error.js';
import { PatternError, PatternList, cleanPattern, goToLower } from './pattern.js';

const list = (...texts: string[]): PatternList => new PatternList(texts.map((text) => ({ text, caseInsensitive: false })));
const ilist = (...texts: string[]): PatternList => new PatternList(texts.map((text) => ({ text, caseInsensitive: true })));

// [pattern, path, matches]: restic internal/filter/filter_test.go matchTests (those with a
// non-empty pattern), restated; the paths without a leading '/' pin how relative paths behave.
const singlePattern: [string, string, boolean][] = [
  ['*.go', '/foo/bar/test.go', true],
  ['*.c', '/foo/bar/test.go', false],
  ['*', '/foo/bar/test.go', true],
  ['**', '/foo/bar/test.go', true],
  ['foo*', '/foo/bar/test.go', true],
  ['bar*', '/foo/bar/test.go', true],
  ['/bar*', '/foo/bar/test.go', false],
  ['bar/*', '/foo/bar/test.go', true],
  ['baz/*', '/foo/bar/test.go', false],
  ['bar/test.go', '/foo/bar/test.go', true],
  ['bar/*.go', '/foo/bar/test.go', true],
  ['ba*/*.go', '/foo/bar/test.go', true],
  ['bb*/*.go', '/foo/bar/test.go', false],
  ['test.*', '/foo/bar/test.go', true],
  ['tesT.*', '/foo/bar/test.go', false],
  ['bar/*', '/foo/bar/baz', true],
  ['bar', '/foo/bar', true],
  ['/foo/bar', '/foo/bar', true],
  ['/foo/bar/', '/foo/bar', true],
  ['/foo/bar', '/foo/baz', false],
  ['/foo/bar', '/foo/baz/', false],
  ['/foo///bar', '/foo/bar', true],
  ['/foo/../bar', '/foo/bar', false],
  ['/foo/../bar', '/bar', true],
  ['/foo', '/foo/baz', true],
  ['/foo/', '/foo/baz', true],
  ['/foo/*', '/foo', false],
  ['/foo/*', '/foo/baz', true],
  ['bar', '/foo/bar/baz', true],
  ['bar', '/foo/bar/test.go', true],
  ['/foo/*test.*', '/foo/bar/test.go', false],
  ['/foo/*/test.*', '/foo/bar/test.go', true],
  ['/foo/*/bar/test.*', '/foo/bar/test.go', false],
  ['/*/*/bar/test.*', '/foo/bar/test.go', false],
  ['/*/*/bar/test.*', '/foo/bar/baz/test.go', false],
  ['/*/*/baz/test.*', '/foo/bar/baz/test.go', true],
  ['/*/foo/bar/test.*', '/foo/bar/baz/test.go', false],
  ['/foo/bar/test.*', 'bar/baz/test.go', false],
  ['/x/y/bar/baz/test.*', 'bar/baz/test.go', false],
  ['/x/y/bar/baz/test.c', 'bar/baz/test.go', false],
  ['baz/test.*', 'bar/baz/test.go', true],
  ['baz/tesT.*', 'bar/baz/test.go', false],
  ['test.go', 'bar/baz/test.go', true],
  ['*.go', 'bar/baz/test.go', true],
  ['*.c', 'bar/baz/test.go', false],
  ['sdk', '/foo/bar/sdk', true],
  ['sdk', '/foo/bar/sdk/test/sdk_foo.go', true],
  ['sdk/*/cpp/*/*vars*.html', '/usr/share/doc/libreoffice/sdk/docs/cpp/ref/a00517.html', false],
  ['foo/**/bar/*.go', '/home/user/foo/work/special/project/bar/test.go', true],
  ['foo/**/bar/*.go', '/home/user/foo/bar/test.go', true],
  ['foo/**/bar/*.go', 'x/foo/bar/test.go', true],
  ['foo/**/bar/*.go', 'foo/bar/test.go', true],
  ['foo/**/bar/*.go', 'foo/bar/baz/bar/test.go', true],
  ['foo/**/bar/*.go', '/home/user/foo/test.c', false],
  ['foo/**/bar/*.go', 'bar/foo/main.go', false],
  ['foo/**/bar/*.go', '/foo/bar/main.go', true],
  ['foo/**/bar/*.go', 'bar/main.go', false],
  ['foo/**/bar', '/home/user/foo/x/y/bar', true],
  ['foo/**/bar', '/home/user/foo/x/y/bar/main.go', true],
  ['foo/**/bar/**/x', '/home/user/foo/bar/x', true],
  ['foo/**/bar/**/x', '/home/user/foo/blaaa/blaz/bar/shared/work/x', true],
  ['user/**/important*', '/home/user/work/x/y/hidden/x', false],
  ['user/**/hidden*/**/c', '/home/user/work/x/y/hidden/z/a/b/c', true],
  ['c:/foo/*test.*', 'c:/foo/bar/test.go', false],
  ['c:/foo', 'c:/foo/bar', true],
  ['c:/foo/', 'c:/foo/bar', true],
  ['c:/foo/*/test.*', 'c:/foo/bar/test.go', true],
  ['c:/foo/*/bar/test.*', 'c:/foo/bar/test.go', false],
  // the examples of restic's doc/040_backup.rst
  ['foo', '/dir1/foo/dir2/file', true],
  ['foo', '/dir/foo', true],
  ['foo', '/dir/foobar', false],
  ['foo', '/barfoo', false],
  ['/bin', '/bin/bash', true],
  ['/bin', '/usr/bin/restic', false],
  ['b*ash', '/bin/bash', true],
  ['b*ash', '/bin/ash', false],
  ['foo/**/bar', '/dir1/foo/dir2/bar/file', true],
  ['foo/**/bar', '/foo/bar/file', true],
  ['foo/**/bar', '/tmp/foo/bar', true],
  ['/home/user/repos/**/target', '/home/user/repos/repo1/target', true],
  ['/home/user/repos/**/target', '/home/user/repos/repo2_workspace/project2/target/debug/x', true],
  ['/home/user/repos/**/target', '/home/user/repos/repo3/src', false],
  // '**' at the start, in the middle and at the end
  ['**/foo', '/foo', true],
  ['**/foo', '/a/b/foo', true],
  ['**/foo', '/a/b/foo/c', true],
  ['**/foo', '/a/b/foox', false],
  ['/**/foo', '/foo', true],
  ['/**/foo', '/a/b/foo/c', true],
  ['/**/foo', '/a/b/c', false],
  ['/a/**/b', '/a/b', true],
  ['/a/**/b', '/a/x/y/b', true],
  ['/a/**/b', '/a/x/y/b/z', true],
  ['/a/**/b', '/x/a/b', false],
  ['/a/**/b', '/a/x/y', false],
  ['/a/**', '/a/x/y', true],
  ['/a/**', '/a', true], // '**' may be zero components, so the folder itself matches
  ['/a/**', '/ab', false],
  ['a/**', '/x/a', true],
  ['/a**/c', '/a/b/c', false], // '**' inside a component is two '*': it never spans components
  ['/a**/c', '/abc/c', true],
  // a later '**' gets fewer expansions: restic bounds each '**' by path length - pattern length + 1
  ['a/**/x/**', '/a/b/c/x', true],
  ['a/**/x/**/**', '/a/b/c/x', false],
  // '/' alone cleans to the root and an empty component, which restic takes for '**'
  ['/', '/', true],
  ['/', '/a/b', true],
  ['/', 'a/b', false],
  // '*' never matches the root marker, and a relative pattern never starts at the root
  ['*', '/', true], // '/' splits into the root and one empty component, which '*' matches
  ['/*', '/a', true],
  ['[^a]/x', '/x', false], // a negated class would match the root marker '/', but relative patterns start after it
  ['[^a]/x', '/b/x', true],
  // character classes and escapes (Go filepath.Match)
  ['/home/[uU]ser/?.go', '/home/user/F.go', true],
  ['/home/[uU]ser/?.go', '/home/User/F.go', true],
  ['/home/[uU]ser/?.go', '/home/user/FF.go', false],
  ['file[0-9].txt', '/d/file7.txt', true],
  ['file[0-9].txt', '/d/filex.txt', false],
  ['file[^0-9].txt', '/d/filex.txt', true],
  ['file[^0-9].txt', '/d/file7.txt', false],
  ['file[a-cx-z].txt', '/d/filey.txt', true],
  ['file[a-cx-z].txt', '/d/filem.txt', false],
  ['file[z-a].txt', '/d/filem.txt', false], // an inverted range is legal and matches nothing
  ['file[^z-a].txt', '/d/filem.txt', true],
  ['[\\]]x', '/d/]x', true],
  ['[\\-]x', '/d/-x', true],
  ['\\[a]', '/d/[a]', true],
  ['\\[a]', '/d/a', false],
  ['\\*', '/d/*', true],
  ['\\*', '/d/x', false],
  ['a\\?', '/d/a?', true],
  ['a\\?', '/d/ab', false],
  ['x]', '/d/x]', true], // ']' outside a class is a literal
  ['?', '/d/é', true], // '?' is one character, not one byte
  ['[é]', '/d/é', true],
  ['?', '/d/😀', true], // one code point outside the BMP
  ['*.txt', '/d/.txt', true],
];

describe('PatternList.matches, one pattern', () => {
  it.each(singlePattern)('%s against %s is %s', (pattern, path, want) => {
    expect(list(pattern).matches(path)).toBe(want);
  });
});

// [pattern, path, childMayMatch]: restic filter_test.go childMatchTests (non-empty patterns).
const childCases: [string, string, boolean][] = [
  ['foo/bar', '/foo', true],
  ['baz/bar', '/foo', true],
  ['foo', '/foo/bar', true],
  ['bar', '/foo', true],
  ['baz', '/foo/bar', true],
  ['*', '/foo', true],
  ['*', '/foo/bar', true],
  ['/foo/bar', '/foo', true],
  ['/foo/bar/baz', '/foo', true],
  ['/foo/bar/baz', '/foo/bar', true],
  ['/foo/bar/baz', '/foo/baz', false],
  ['/foo/**/baz', '/foo/bar/baz', true],
  ['/foo/**/baz', '/foo/bar/baz/blah', true],
  ['/foo/**/qux', '/foo/bar/baz/qux', true],
  ['/foo/**/qux', '/foo/bar/baz', true],
  ['/foo/**/qux', '/foo/bar/baz/boo', true],
  ['/foo/**', '/foo/bar/baz', true],
  ['/foo/**', '/foo/bar', true],
  ['foo/**/bar/**/x', '/home/user/foo', true],
  ['foo/**/bar/**/x', '/home/user/foo/bar', true],
  ['foo/**/bar/**/x', '/home/user/foo/blaaa/blaz/bar/shared/work/x', true],
  ['/foo/*/qux', '/foo/bar', true],
  ['/foo/*/qux', '/foo/bar/boo', false],
  ['/foo/*/qux', '/foo/bar/boo/xx', false],
  ['/baz/bar', '/foo', false],
  ['/foo', '/foo/bar', true],
  ['/*', '/foo', true],
  ['/*', '/foo/bar', true],
  ['/**', '/foo', true],
  ['/*/**', '/foo', true],
  ['/*/**', '/foo/bar', true],
  ['/*/bar', '/foo', true],
  ['/bar/*', '/foo', false],
  ['/foo/*/baz', '/foo/bar', true],
  ['/foo/*/baz', '/foo/baz', true],
  ['/foo/*/baz', '/bar/baz', false],
  ['/**/*', '/foo', true],
  ['/**/bar', '/foo/bar', true],
  // the brief's case: an include of /a/b/c queried on the way down and beside it
  ['/a/b/c', '/a', true],
  ['/a/b/c', '/a/b', true],
  ['/a/b/c', '/a/x', false],
  ['/a/b/c', '/b', false],
  ['/a/b/c', '/a/b/c/d', true],
];

describe('PatternList.matchWithChild, one pattern', () => {
  it.each(childCases)('%s below %s may match: %s', (pattern, path, want) => {
    expect(list(pattern).matchWithChild(path).childMayMatch).toBe(want);
  });

  it('reports the match of the path itself beside the child answer', () => {
    expect(list('/a/b/c').matchWithChild('/a')).toEqual({ matched: false, childMayMatch: true });
    expect(list('/a/b/c').matchWithChild('/a/x')).toEqual({ matched: false, childMayMatch: false });
    expect(list('/a/b/c').matchWithChild('/a/b/c')).toEqual({ matched: true, childMayMatch: true });
  });
});

// [patterns, path, matched, childMayMatch]: restic filter_test.go filterListTests, plus negation cases.
const listCases: [string[], string, boolean, boolean][] = [
  [[], '/foo/bar/test.go', false, false],
  [['*.go'], '/foo/bar/test.go', true, true],
  [['*.go'], '/foo/bar', false, true],
  [['*.c'], '/foo/bar/test.go', false, true],
  [['*.go', '*.c'], '/foo/bar/test.go', true, true],
  [['*'], '/foo/bar/test.go', true, true],
  [['x'], '/foo/bar/test.go', false, true],
  [['?'], '/foo/bar/test.go', false, true],
  [['?', 'x'], '/foo/bar/x', true, true],
  [['/*/*/bar/test.*'], '/foo/bar/test.go', false, false],
  [['/*/*/bar/test.*'], '/foo/bar/bar', false, true],
  [['/*/*/bar/test.*', '*.go'], '/foo/bar/test.go', true, true],
  [['', '*.c'], '/foo/bar/test.go', false, true],
  [['!**', '*.go'], '/foo/bar/test.go', true, true],
  [['!**', '*.c'], '/foo/bar/test.go', false, true],
  [['/foo/*/test.*', '!*.c'], '/foo/bar/test.c', false, false],
  [['/foo/*/test.*', '!*.c'], '/foo/bar/test.go', true, true],
  [['/foo/*/*', '!test.*', '*.c'], '/foo/bar/test.go', false, true],
  [['/foo/*/*', '!test.*', '*.c'], '/foo/bar/test.c', true, true],
  [['/foo/*/*', '!test.*', '*.c'], '/foo/bar/file.go', true, true],
  [['/**/*', '!/foo', '/foo/*', '!/foo/bar'], '/foo/other/test.go', true, true],
  [['/**/*', '!/foo', '/foo/*', '!/foo/bar'], '/foo/bar', false, false],
  [['/**/*', '!/foo', '/foo/*', '!/foo/bar'], '/foo/bar/test.go', false, false],
  [['/**/*', '!/foo', '/foo/*', '!/foo/bar'], '/foo/bar/test.go/child', false, false],
  [['/**/*', '!/foo', '/foo/*', '!/foo/bar', '/foo/bar/test*'], '/foo/bar/test.go/child', true, true],
  [['/foo/bar/*'], '/foo', false, true],
  [['/foo/bar/*', '!/foo/bar/[a-m]*'], '/foo', false, true],
  [['/foo/**/test.c'], '/foo/bar/foo/bar/test.c', true, true],
  [['/foo/*/test.c'], '/foo/bar/foo/bar/test.c', false, false],
  // last match wins, in both orders
  [['*.log', '!keep.log'], '/d/keep.log', false, false],
  [['!keep.log', '*.log'], '/d/keep.log', true, true],
  [['*.log', '!keep.log', '/d'], '/d/keep.log', true, true],
  // a lone '!' negates '.', which matches nothing: it changes no result
  [['*.log', '!'], '/d/x.log', true, true],
  // only '' patterns: the list is not empty but matches nothing (restic drops '' in ParsePatterns)
  [[''], '/d/x', false, false],
];

describe('PatternList, several patterns (restic filter.List / ListWithChild)', () => {
  it.each(listCases)('%j against %s', (patterns, path, matched, childMayMatch) => {
    const l = list(...patterns);
    expect(l.matches(path)).toBe(matched);
    expect(l.matchWithChild(path)).toEqual({ matched, childMayMatch });
  });

  it("re-includes a folder excluded by '$HOME/**/*' or '$HOME/*' (restic doc/040_backup.rst)", () => {
    for (const all of ['/home/u/**/*', '/home/u/*']) {
      const l = list(all, '!/home/u/Documents', '!/home/u/code', 'node_modules', '*~', '*.o');
      expect(l.matches('/home/u/Downloads')).toBe(true);
      expect(l.matches('/home/u/Downloads/big.iso')).toBe(true);
      expect(l.matches('/home/u/.cache')).toBe(true);
      expect(l.matches('/home/u/Documents')).toBe(false);
      expect(l.matches('/home/u/Documents/letters/a.txt')).toBe(false);
      expect(l.matches('/home/u/code/app/node_modules/x/index.js')).toBe(true);
      expect(l.matches('/home/u/code/app/main.o')).toBe(true);
      expect(l.matches('/home/u/code/app/main.c~')).toBe(true);
      expect(l.matches('/home/u/code/app/main.c')).toBe(false);
      expect(l.matches('/home/u')).toBe(false);
      expect(l.matches('/home')).toBe(false);
    }
  });

  it('is empty only when no pattern was given', () => {
    expect(list().empty).toBe(true);
    expect(list('').empty).toBe(false);
    expect(list('*.o').empty).toBe(false);
  });

  it('matches nothing for an empty path (restic ErrBadString)', () => {
    expect(list('**').matches('')).toBe(false);
    expect(list('**').matchWithChild('')).toEqual({ matched: false, childMayMatch: false });
  });

  it('gives the same answers when asked many times (no state kept between calls)', () => {
    const l = list('foo/**/bar/**/x', '!/keep/**', '*.tmp');
    const paths = ['/home/foo/a/bar/b/x', '/keep/foo/bar/x', '/a/b.tmp', '/a/b', '/home/foo/bar/x/y'];
    const first = paths.map((p) => l.matches(p));
    expect(first).toEqual([true, false, true, false, true]);
    for (let i = 0; i < 3; i++) expect(paths.map((p) => l.matches(p))).toEqual(first);
  });
});

describe('case-insensitive patterns', () => {
  // restic exclude_test.go TestRejectByInsensitivePattern
  const cases: [string, boolean][] = [
    ['/home/user/foo.GO', true],
    ['/home/user/foo.c', false],
    ['/home/user/foobar', false],
    ['/home/user/FOObar/x', true],
    ['/home/user/README', false],
    ['/home/user/readme.md', true],
  ];
  it.each(cases)('%s excluded: %s', (path, want) => {
    expect(ilist('*.go', 'README.md', '/home/user/foobar/*').matches(path)).toBe(want);
  });

  it('the case-sensitive variant does not fold case (restic TestRejectByPattern)', () => {
    const l = list('*.go', 'README.md', '/home/user/foobar/*');
    expect(l.matches('/home/user/foo.go')).toBe(true);
    expect(l.matches('/home/user/foo.GO')).toBe(false);
    expect(l.matches('/home/user/foobar/x')).toBe(true);
    expect(l.matches('/home/user/FOObar/x')).toBe(false);
    expect(l.matches('/home/user/README.md')).toBe(true);
    expect(l.matches('/home/user/readme.md')).toBe(false);
  });

  it("folds case as Go's strings.ToLower does, not as toLowerCase (İ, final Σ)", () => {
    expect(goToLower('İSTANBUL')).toBe('istanbul');
    expect(goToLower('ΟΔΟΣ')).toBe('οδοσ');
    expect(goToLower('ÄBC')).toBe('äbc');
    expect(ilist('/ΟΔΟΣ*').matches('/οδοσα')).toBe(true);
    expect(ilist('/İ').matches('/i')).toBe(true);
  });

  it('folds classes and negations too', () => {
    expect(ilist('/D/[A-C]*').matches('/d/bx')).toBe(true);
    expect(ilist('*.JPG', '!/Keep/**').matches('/keep/x.jpg')).toBe(false);
    expect(ilist('/Keep/x').matchWithChild('/KEEP')).toEqual({ matched: false, childMayMatch: true });
  });

  it("keeps the two case families apart: a '!' overrides only patterns of its own family (restic builds one list per flag)", () => {
    const mixed = new PatternList([
      { text: '*.jpg', caseInsensitive: true },
      { text: '!keep.jpg', caseInsensitive: false },
    ]);
    expect(mixed.matches('/d/keep.jpg')).toBe(true);
    expect(mixed.matches('/d/KEEP.JPG')).toBe(true);
    const sameFamily = new PatternList([
      { text: '*.jpg', caseInsensitive: true },
      { text: '!keep.jpg', caseInsensitive: true },
    ]);
    expect(sameFamily.matches('/d/keep.jpg')).toBe(false);
    expect(sameFamily.matches('/d/KEEP.JPG')).toBe(false);
    expect(sameFamily.matches('/d/other.JPG')).toBe(true);
  });

  it('ORs the families in matchWithChild', () => {
    const mixed = new PatternList([
      { text: '/a/b', caseInsensitive: false },
      { text: '/X/Y', caseInsensitive: true },
    ]);
    expect(mixed.matchWithChild('/x')).toEqual({ matched: false, childMayMatch: true });
    expect(mixed.matchWithChild('/a')).toEqual({ matched: false, childMayMatch: true });
    expect(mixed.matchWithChild('/x/y/z')).toEqual({ matched: true, childMayMatch: true });
    expect(mixed.matchWithChild('/q')).toEqual({ matched: false, childMayMatch: false });
  });
});

describe('bad patterns', () => {
  const bad: [string, RegExp][] = [
    ['[', /never closed/],
    ['test/[', /never closed/], // restic TestInvalidPattern
    ['test/**/[', /never closed/],
    ['/a/[abc', /never closed/],
    ['[a-', /never closed/],
    ['[]', /empty class/],
    ['[]a]', /empty class/],
    ['[^]', /empty class/],
    ['[-a]', /'-' without/],
    ['[a-]', /range needs an end/],
    ['x\\', /trailing '\\'/],
    ['[\\', /inside a \[...\] class/],
    ['!*.[ch', /never closed/],
  ];
  it.each(bad)('%s is rejected (%s)', (pattern, reason) => {
    let err: unknown;
    try {
      list('*.ok', pattern);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PatternError);
    const pe = err as PatternError;
    expect(pe.code).toBe(ErrorCode.USAGE);
    expect(isEngineError(pe, ErrorCode.USAGE)).toBe(true);
    expect(pe.message).toContain(`'${pattern}'`);
    expect(pe.message).toMatch(reason);
    expect(pe.hint).toContain("'\\['");
    expect(pe.invalid).toEqual([{ pattern, reason: expect.stringMatching(reason) }]);
  });

  it('names every bad pattern at once, case-insensitive ones included', () => {
    expect(() =>
      new PatternList([
        { text: 'a[', caseInsensitive: false },
        { text: 'fine', caseInsensitive: false },
        { text: 'B\\', caseInsensitive: true },
      ]),
    ).toThrow(/invalid patterns: 'a\[' .*, 'B\\'/);
  });

  it('accepts what Go accepts at the edges', () => {
    for (const ok of ['[\\]]', '[\\-]', 'x]', ']', '[a-a]', '[z-a]', '\\\\', '[!]', '**', '***', '!', '/', '.', '..']) {
      expect(() => list(ok), ok).not.toThrow();
    }
  });
});

describe('cleanPattern (Go filepath.Clean)', () => {
  const cases: [string, string][] = [
    ['', '.'],
    ['/', '/'],
    ['//', '/'],
    ['/foo/', '/foo'],
    ['/foo///bar', '/foo/bar'],
    ['/foo/../bar', '/bar'],
    ['/../x', '/x'],
    ['../x', '../x'],
    ['a/../../x', '../x'],
    ['./a/./b/', 'a/b'],
    ['a/..', '.'],
  ];
  it.each(cases)('%s cleans to %s', (p, want) => {
    expect(cleanPattern(p)).toBe(want);
  });
});

// A direct transcription of restic's filter.go match/childMatch/list (allocating, unoptimised),
// over a small alphabet where a component glob is only literals and '*'. PatternList must give
// the same answers, which pins the '**' search with its bounds and the shortcuts taken over it.
describe("agreement with a literal transcription of restic's algorithm", () => {
  type RPart = string; // '' is '**', '/' the root
  const compMatch = (glob: string, s: string): boolean => new RegExp(`^${glob.replace(/\*/g, '[^/]*')}$`).test(s);
  const split = (p: string): string[] => {
    const parts = p.split('/');
    if (parts[0] === '') parts[0] = '/';
    return parts;
  };
  const prepare = (p: string): { neg: boolean; parts: RPart[] } => {
    const neg = p.startsWith('!');
    const parts = split(cleanPattern(neg ? p.slice(1) : p)).map((c) => (c === '**' ? '' : c));
    return { neg, parts };
  };
  const dw = (parts: RPart[]): number => parts.indexOf('');
  const rmatch = (parts: RPart[], strs: string[]): boolean => {
    const pos = dw(parts);
    if (pos >= 0) {
      for (let i = 0; i <= strs.length - parts.length + 1; i++) {
        const np = [...parts.slice(0, pos), ...Array<string>(i).fill('*'), ...parts.slice(pos + 1)];
        if (rmatch(np, strs)) return true;
      }
      return false;
    }
    if (parts.length === 0) return strs.length === 0;
    if (parts.length > strs.length) return false;
    let min = 0;
    let max = strs.length - parts.length;
    if (parts[0] === '/') max = 0;
    else if (strs[0] === '/') min = 1;
    for (let off = max; off >= min; off--) {
      if (parts.every((q, i) => (q === '/' ? q === strs[off + i] : compMatch(q, strs[off + i]!)))) return true;
    }
    return false;
  };
  const rchild = (parts: RPart[], strs: string[]): boolean => {
    if (parts[0] !== '/') return true;
    const pos = dw(parts);
    if (pos >= 0 && strs.length >= pos) strs = strs.slice(0, pos);
    const l = Math.min(strs.length, parts.length);
    return rmatch(parts.slice(0, l), strs);
  };
  const rlist = (pats: string[], path: string): [boolean, boolean] => {
    const ps = pats.filter((p) => p !== '').map(prepare);
    if (ps.length === 0) return [false, false];
    const strs = split(path);
    let m = false;
    let c = false;
    for (const p of ps) {
      const pm = rmatch(p.parts, strs);
      if (p.neg) {
        m = m && !pm;
        c = c && !pm;
      } else {
        m = m || pm;
        c = c || rchild(p.parts, strs);
      }
    }
    return [m, c];
  };

  let seed = 12345;
  const rnd = (n: number): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  const comps = ['a', 'b', 'ab', '*', '**', 'a*', '*b'];
  const names = ['a', 'b', 'ab', 'ba'];
  const randomPattern = (): string => {
    const n = 1 + rnd(5);
    const parts = Array.from({ length: n }, () => comps[rnd(comps.length)]!);
    return (rnd(4) === 0 ? '!' : '') + (rnd(2) === 0 ? '/' : '') + parts.join('/') + (rnd(5) === 0 ? '/' : '');
  };
  const randomPath = (): string => '/' + Array.from({ length: 1 + rnd(7) }, () => names[rnd(names.length)]!).join('/');

  it('on 3000 random single patterns and 1000 random lists', () => {
    let disagreements: string[] = [];
    for (let k = 0; k < 4000; k++) {
      const pats = k < 3000 ? [randomPattern().replace(/^!/, '')] : Array.from({ length: 1 + rnd(4) }, randomPattern);
      const l = list(...pats);
      for (let j = 0; j < 8; j++) {
        const path = randomPath();
        const [m, c] = rlist(pats, path);
        const got = l.matchWithChild(path);
        if (l.matches(path) !== m || got.matched !== m || got.childMayMatch !== c) disagreements.push(`${JSON.stringify(pats)} ${path}: want ${m},${c}`);
      }
    }
    disagreements = disagreements.slice(0, 10);
    expect(disagreements).toEqual([]);
  });
});
