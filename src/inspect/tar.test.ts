// The tar headers engine dump writes, read back by the system's tar: names and link targets longer
// than ustar's fields, ids too large for its octal fields, nanosecond mtimes, names that are not UTF-8.
import { execFile } from 'node:child_process';
import { lstat, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { workdirPerTest } from '../../test/support/workdir.js';
import { padding, TAR_END, tarHeader, type TarEntry } from './tar.js';

const run = promisify(execFile);

function archive(entries: { entry: TarEntry; content?: Buffer }[]): Buffer {
  const parts: Buffer[] = [];
  for (const { entry, content } of entries) {
    parts.push(tarHeader(entry));
    if (content) parts.push(content, Buffer.alloc(padding(content.length)));
  }
  parts.push(TAR_END);
  return Buffer.concat(parts);
}

describe('tar headers', () => {
  const dir = workdirPerTest('engine-tar-');

  it('GNU tar extracts long names and targets, nanosecond mtimes and raw name bytes as written', async () => {
    const longDir = `${'d'.repeat(120)}/`;
    const longFile = `${longDir}${'f'.repeat(140)}`;
    const rawName = Buffer.concat([Buffer.from('x'), Buffer.from([0xff]), Buffer.from('y')]);
    const content = Buffer.from('hello tar\n');
    const mtimeNs = 1_700_000_000_123_456_789n;
    const tar = archive([
      { entry: { name: Buffer.from(longDir), type: 'dir', mode: 0o750, uid: 0, gid: 0, size: 0, mtimeNs: 1_600_000_000_000_000_000n } },
      { entry: { name: Buffer.from(longFile), type: 'file', mode: 0o640, uid: 0, gid: 0, size: content.length, mtimeNs }, content },
      { entry: { name: Buffer.from('link'), type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, mtimeNs, linkname: Buffer.from('t'.repeat(150)) } },
      { entry: { name: rawName, type: 'file', mode: 0o600, uid: 3_000_000, gid: 3_000_001, size: 0, mtimeNs: 1_000_000_000n } },
    ]);
    expect(tar.length % 512).toBe(0);
    const file = join(dir.path, 'a.tar');
    await writeFile(file, tar);
    await run('tar', ['-x', '-f', file, '-C', dir.path]);

    expect(await readFile(join(dir.path, longFile), 'utf8')).toBe('hello tar\n');
    const st = await lstat(join(dir.path, longFile), { bigint: true });
    expect(st.mtimeNs).toBe(mtimeNs);
    expect(Number(st.mode & 0o777n)).toBe(0o640);
    expect(await readlink(join(dir.path, 'link'))).toBe('t'.repeat(150));
    const raw = await lstat(Buffer.concat([Buffer.from(`${dir.path}/`), rawName]));
    expect(raw.isFile()).toBe(true);
    // Owners too large for ustar's octal fields go in PAX records (seen in a verbose listing).
    const { stdout } = await run('tar', ['-t', '-v', '--numeric-owner', '-f', file]);
    expect(stdout).toMatch(/3000000\/3000001/);
  });
});
