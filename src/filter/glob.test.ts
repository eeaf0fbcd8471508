// --files-from globs (Go's filepath.Glob): meta characters only in the pattern count, never in the
// folder the pattern is relative to; matches sorted per folder; nothing for a literal that is not there.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { workdirPerTest } from '../../test/support/workdir.js';
import { decodeName } from '../fs/names.js';
import { expandGlob } from './glob.js';

describe('expandGlob', () => {
  const work = workdirPerTest('engine-glob-');

  it('expands each component with a meta character against the folder listing, sorted', async () => {
    for (const f of ['a/x1.log', 'a/x2.log', 'a/y.txt', 'b/x3.log', 'c/x4.txt']) {
      await mkdir(join(work.path, f, '..'), { recursive: true });
      await writeFile(join(work.path, f), f);
    }
    expect(await expandGlob(`${work.path}/*/x*.log`)).toEqual(['a/x1.log', 'a/x2.log', 'b/x3.log'].map((f) => join(work.path, f)));
    expect(await expandGlob('[ab]/x?.log', work.path)).toEqual(['a/x1.log', 'a/x2.log', 'b/x3.log'].map((f) => join(work.path, f)));
    expect(await expandGlob(`${work.path}/a/y.txt`)).toEqual([join(work.path, 'a/y.txt')]);
    expect(await expandGlob(`${work.path}/a/none.txt`)).toEqual([]);
    expect(await expandGlob(`${work.path}/*/none*`)).toEqual([]);
  });

  it('names that are not UTF-8 are listed and matched byte for byte (in the escaped form of fs/names.ts)', async () => {
    const latin1 = Buffer.concat([Buffer.from(join(work.path, 'caf')), Buffer.from([0xe9]), Buffer.from('.log')]);
    await writeFile(latin1, 'latin-1');
    const name = decodeName(latin1);
    expect(await expandGlob(`${work.path}/caf*.log`)).toEqual([name]);
    // A literal name in that form is found too (lstat through its bytes).
    expect(await expandGlob(name)).toEqual([name]);
  });

  it('takes the folder it is relative to literally, even with [ or * in its name', async () => {
    const odd = join(work.path, 'we[ird*');
    await mkdir(odd);
    await writeFile(join(odd, 'f1'), '1');
    await writeFile(join(odd, 'f2'), '2');
    expect(await expandGlob('f*', odd)).toEqual([join(odd, 'f1'), join(odd, 'f2')]);
    expect(await expandGlob('f\\1', odd)).toEqual([join(odd, 'f1')]);
  });
});
