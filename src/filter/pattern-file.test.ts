import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, isEngineError } from '../errors/engine-error.js';
import { expandPatternEnv, readPatternFile } from './pattern-file.js';
import { PatternList } from './pattern.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'engine-pattern-file-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function fileWith(name: string, content: string | Buffer): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, content);
  return path;
}

describe('readPatternFile', () => {
  it('skips blank lines and lines starting with # (after trimming), keeps inner spaces and inline #', async () => {
    const path = await fileWith(
      'basic',
      ['# a comment', '', '*.o', '   ', '  node_modules  ', '\t# indented comment', 'foo bar star.txt', 'a#b', '!keep.o', ''].join('\n'),
    );
    expect(await readPatternFile(path, {})).toEqual(['*.o', 'node_modules', 'foo bar star.txt', 'a#b', '!keep.o']);
  });

  it('reads CRLF line endings and a last line without a newline', async () => {
    const path = await fileWith('crlf', '*.tmp\r\n# c\r\n\r\n/cache \r\nlast');
    expect(await readPatternFile(path, {})).toEqual(['*.tmp', '/cache', 'last']);
  });

  it("trims Go's white space set: U+0085 and U+00A0 too, but not U+FEFF", async () => {
    const path = await fileWith('space', '\u0085\u00a0x\u3000\n\ufeffy\n');
    expect(await readPatternFile(path, {})).toEqual(['x', '\ufeffy']);
  });

  it('drops a UTF-8 byte order mark so the first pattern is intact', async () => {
    const path = await fileWith('bom8', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('/first\n#x\n')]));
    expect(await readPatternFile(path, {})).toEqual(['/first']);
  });

  it('reads UTF-16 files with a byte order mark, little and big endian', async () => {
    const text = '# comment\r\n/a/ü\r\n*.bak\r\n';
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
    const be = Buffer.from(le);
    be.swap16();
    expect(await readPatternFile(await fileWith('utf16le', le), {})).toEqual(['/a/ü', '*.bak']);
    expect(await readPatternFile(await fileWith('utf16be', be), {})).toEqual(['/a/ü', '*.bak']);
  });

  it('expands $VAR and ${VAR}, unknown ones to nothing, $$ to $', async () => {
    const path = await fileWith('env', '$HOME/**/*\n!${HOME}/Documents\n/x/$NOPE/y\n/price$$\n#$HOME\n');
    expect(await readPatternFile(path, { HOME: '/home/u' })).toEqual(['/home/u/**/*', '!/home/u/Documents', '/x//y', '/price$']);
  });

  it('uses process.env when no environment is given', async () => {
    const name = 'ENGINE_PATTERN_FILE_TEST_VAR';
    process.env[name] = '/from/process';
    try {
      const path = await fileWith('procenv', `$${name}/x\n`);
      expect(await readPatternFile(path)).toEqual(['/from/process/x']);
    } finally {
      delete process.env[name];
    }
  });

  it("works end to end with restic's documented $HOME example", async () => {
    const path = await fileWith('home', ['$HOME/**/*', '!$HOME/Documents', '!$HOME/code', '# [...]', 'node_modules', '*~', '*.o', ''].join('\n'));
    const patterns = await readPatternFile(path, { HOME: '/home/user' });
    const l = new PatternList(patterns.map((text) => ({ text, caseInsensitive: false })));
    expect(l.matches('/home/user/Downloads/x.iso')).toBe(true);
    expect(l.matches('/home/user/Documents/cv.pdf')).toBe(false);
    expect(l.matches('/home/user/code/app/node_modules/left-pad/index.js')).toBe(true);
    expect(l.matches('/home/user/code/app/main.c')).toBe(false);
  });

  it('fails with a usage error naming the file when it does not exist', async () => {
    const missing = join(dir, 'no-such-file');
    const err = await readPatternFile(missing, {}).catch((e: unknown) => e);
    expect(isEngineError(err, ErrorCode.USAGE)).toBe(true);
    expect((err as Error).message).toContain(missing);
    expect((err as Error).message).toContain('ENOENT');
  });

  it('fails with a usage error naming the path when it is a directory', async () => {
    const err = await readPatternFile(dir, {}).catch((e: unknown) => e);
    expect(isEngineError(err, ErrorCode.USAGE)).toBe(true);
    expect((err as Error).message).toContain(dir);
  });

  it('returns no patterns for an empty file', async () => {
    expect(await readPatternFile(await fileWith('empty', ''), {})).toEqual([]);
  });
});

describe('expandPatternEnv (Go os.Expand with restic mapping)', () => {
  const env = { A: 'x', AB: 'yy', A_1: 'z', '1': 'one', 'a b': 'sp' };
  const cases: [string, string][] = [
    ['$A', 'x'],
    ['$AB', 'yy'],
    ['$A_1/q', 'z/q'],
    ['${A}B', 'xB'],
    ['$A.txt', 'x.txt'],
    ['$UNSET/x', '/x'],
    ['${UNSET}', ''],
    ['$$', '$'],
    ['${$}', '$'],
    ['a$', 'a$'], // a final '$' stays
    ['$/x', '$/x'], // '$' before a non-name stays
    ['$1', 'one'], // one-character specials: '$12' is $1 then '2'
    ['$12', 'one2'],
    ['${}x', 'x'], // bad syntax is dropped
    ['${A', 'A'], // an unclosed '${' is dropped
    ['${a b}', 'sp'],
    ['no dollars', 'no dollars'],
  ];
  it.each(cases)('%s expands to %s', (text, want) => {
    expect(expandPatternEnv(text, env)).toBe(want);
  });
});
