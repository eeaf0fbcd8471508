// A directory's names in byte order, in memory or through spilled runs: the same order either
// way, odd names intact (names that are not UTF-8 too, byte for byte), and no temporary file left
// behind.
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { workdirPerFile } from '../../test/support/workdir.js';
import { compareNames } from '../format/tree.js';
import { decodeName, encodeName } from './names.js';
import { sortedNames } from './sorted-names.js';

async function all(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const n of it) out.push(n);
  return out;
}

describe('sortedNames', () => {
  const work = workdirPerFile('engine-sorted-names-');
  let dir: string;
  let spill: string;
  const names: string[] = [];

  beforeAll(async () => {
    dir = join(work, 'dir');
    spill = join(work, 'spill');
    await mkdir(dir);
    await mkdir(spill);
    // Names whose UTF-16 order differs from their UTF-8 byte order, with newlines, and ASCII.
    names.push('line\nbreak', '\u{1F600}smile', '\uFB01ligature', 'Zed', 'zed', '\u00e9t\u00e9', ' space', '-dash');
    for (let i = 0; i < 3000; i++) names.push(`n${(i * 7919) % 3001}-${i % 3 === 0 ? '\u{10400}' : '\uE000'}`);
    await Promise.all(names.map((n) => writeFile(join(dir, n), '')));
    names.sort(compareNames);
  });

  it('in memory: every name, in UTF-8 byte order', async () => {
    const got = await all(sortedNames(dir));
    expect(got).toEqual(names);
    for (let i = 1; i < got.length; i++) expect(Buffer.compare(Buffer.from(got[i - 1]!), Buffer.from(got[i]!))).toBe(-1);
  });

  it('through spilled runs (by count and by length): the same names in the same order, runs removed afterwards', async () => {
    expect(await all(sortedNames(dir, { runNames: 97, tmpDir: spill }))).toEqual(names);
    expect(await all(sortedNames(dir, { runChars: 500, tmpDir: spill }))).toEqual(names);
    expect(await readdir(spill)).toEqual([]);
  });

  it('a consumer that stops early leaves no runs behind', async () => {
    const it = sortedNames(dir, { runNames: 50, tmpDir: spill });
    const first = await it.next();
    expect(first.value).toBe(names[0]);
    expect((await readdir(spill)).length).toBe(1);
    await it.return(undefined);
    expect(await readdir(spill)).toEqual([]);
  });

  it('names that are not UTF-8: kept byte for byte and in byte order, in memory and through spilled runs, inside a folder whose own name is not UTF-8', async () => {
    const parent = Buffer.concat([Buffer.from(join(work, 'd')), Buffer.of(0xfe)]);
    await mkdir(parent);
    const raw: Buffer[] = [Buffer.of(0x78, 0xff), Buffer.of(0x78, 0xef, 0xbf, 0xbd), Buffer.of(0x78, 0xfe), Buffer.from('caf\u00e9', 'latin1'), Buffer.from('caf\u00e9'), Buffer.of(0x78, 0xee, 0x80, 0x80), Buffer.of(0x61, 0x0a, 0x62)];
    for (let i = 0; i < 300; i++) raw.push(Buffer.of(0x6e, 0x80 + (i % 128), 0x30 + (i % 10), 0xc0 + (i % 64), 0x30 + Math.floor(i / 10)));
    await Promise.all(raw.map((b) => writeFile(Buffer.concat([parent, Buffer.from('/'), b]), '')));
    const want = [...raw].sort(Buffer.compare).map((b) => b.toString('hex'));
    const hex = (names: string[]): string[] => names.map((n) => encodeName(n).toString('hex'));
    const dir = decodeName(parent);
    expect(hex(await all(sortedNames(dir)))).toEqual(want);
    expect(hex(await all(sortedNames(dir, { runNames: 7, tmpDir: spill })))).toEqual(want);
    expect(hex(await all(sortedNames(dir, { runChars: 40, tmpDir: spill })))).toEqual(want);
    expect(await readdir(spill)).toEqual([]);
  });

  it('a directory that cannot be listed fails on the first name', async () => {
    await expect(sortedNames(join(work, 'missing')).next()).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await all(sortedNames(spill))).toEqual([]);
  });
});
