// File names are bytes (issue 12 point 2, FORMAT.md "Names"), through the real CLI: names that
// are not UTF-8, two names a lossy decoder confuses (`x\xff` beside `x\xef\xbf\xbd`) in one folder,
// a folder whose name is not UTF-8, a symlink target that is not UTF-8 and a name with a newline
// are backed up with exit 0 (not "vanished", exit 3; not a collision, exit 4), restored byte for
// byte, and printed escaped by `ls`, `ls --json` and `diff`, one line per entry.
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keysOf } from '../../src/repository/storage.js';
import { loadPrimitives } from '../../native-bindings/index.js';
import { LocalBackend } from '../../src/backend/local/local-backend.js';
import { seal } from '../../src/crypto/envelope.js';
import { encodeConfig, REPO_VERSION } from '../../src/format/config.js';
import { Repository } from '../../src/repository/repository.js';
import { currentNative, runEngine, TEST_PASSWORD } from '../support/cli.js';
import { wayFolders } from '../support/way-trees.js';

const native = currentNative();
const b = (...parts: (string | number[])[]): Buffer => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p))));
const under = (dir: string, ...parts: (string | number[])[]): Buffer => b(dir, '/', ...parts);

/** Every entry under `root`, by the hex of its relative path's bytes: type, and contents or target as hex. */
async function byteTree(root: Buffer, rel: Buffer = Buffer.alloc(0), out = new Map<string, string>()): Promise<Map<string, string>> {
  const dir = rel.length > 0 ? b([...root], '/', [...rel]) : root;
  for (const name of await readdir(dir, { encoding: 'buffer' })) {
    const relName = rel.length > 0 ? b([...rel], '/', [...name]) : name;
    const full = b([...root], '/', [...relName]);
    const st = await lstat(full);
    if (st.isDirectory()) {
      out.set(relName.toString('hex'), 'dir');
      await byteTree(root, relName, out);
    } else if (st.isSymbolicLink()) out.set(relName.toString('hex'), `symlink ${(await readlink(full, { encoding: 'buffer' })).toString('hex')}`);
    else out.set(relName.toString('hex'), `file ${(await readFile(full)).toString('hex')}`);
  }
  return out;
}

describe(`names as bytes (ENGINE_NATIVE=${native})`, () => {
  let work: string;
  let src: string;
  let repo: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'engine-names-'));
    src = join(work, 'src');
    repo = join(work, 'repo');
    await mkdir(src);
    await writeFile(under(src, 'x', [0xff]), 'not UTF-8\n');
    await writeFile(under(src, 'x', [0xef, 0xbf, 0xbd]), 'U+FFFD\n');
    await writeFile(under(src, 'caf', [0xe9]), 'Latin-1\n');
    await writeFile(under(src, 'new\nline'), 'a newline in the name\n');
    await mkdir(under(src, 'd', [0xfe]));
    await writeFile(under(src, 'd', [0xfe], '/inner', [0xe9]), 'inside a folder whose name is not UTF-8\n');
    await writeFile(under(src, 'd', [0xfe], '/plain.txt'), 'plain\n');
    await symlink(b('d', [0xfe], '/inner', [0xe9]), under(src, 'link'));
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
  });

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('backup keeps every name (exit 0, nothing vanished, no collision) and the repository is of the current version', async () => {
    const backup = await runEngine(['backup', '--repo', repo, '--json', src], { native });
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stderr).not.toMatch(/vanished|warning/);
    expect(backup.json?.files_new).toBe(6);
    const { primitives } = await loadPrimitives(native === 'off' ? 'fallback' : 'auto');
    expect((await Repository.open(new LocalBackend(repo), primitives, new TextEncoder().encode(TEST_PASSWORD))).config.version).toBe(REPO_VERSION);
  });

  it('ls prints every name escaped, one line each, in byte order; --json too', async () => {
    const ls = await runEngine(['ls', 'latest', '--repo', repo], { native });
    expect(ls.code, ls.stderr).toBe(0);
    // The whole listing: the folders on the way to src (the snapshot holds it under its absolute
    // path), then src's entries.
    const lines = ls.stdout.split('\n').filter((l) => l.startsWith('/'));
    expect(lines).toEqual([...wayFolders(src), ...['/', '/caf\\xe9', '/d\\xfe/', '/d\\xfe/inner\\xe9', '/d\\xfe/plain.txt', '/link -> d\\xfe/inner\\xe9', '/new\\nline', '/x\ufffd', '/x\\xff'].map((p) => `${src}${p}`)]);
    // The newline did not make a line of its own.
    expect(ls.stdout.split('\n')).not.toContain('line');

    const json = await runEngine(['ls', 'latest', '--repo', repo, '--json'], { native });
    expect(json.code, json.stderr).toBe(0);
    const nodes = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { message_type: string; path?: string; linktarget?: string }).filter((n) => n.message_type === 'node');
    expect(nodes.map((n) => n.path)).toEqual([...wayFolders(src).map((f) => f.slice(0, -1)), ...['', '/caf\\xe9', '/d\\xfe', '/d\\xfe/inner\\xe9', '/d\\xfe/plain.txt', '/link', '/new\\nline', '/x\ufffd', '/x\\xff'].map((p) => `${src}${p}`)]);
    expect(nodes.find((n) => n.path === `${src}/link`)?.linktarget).toBe('d\\xfe/inner\\xe9');
  });

  it('diff prints added names escaped', async () => {
    await writeFile(under(src, 'y', [0xfd], '\nz'), 'new\n');
    const second = await runEngine(['backup', '--repo', repo, '--json', src], { native });
    expect(second.code, second.stderr).toBe(0);
    const snaps = JSON.parse((await runEngine(['snapshots', '--repo', repo, '--json'], { native })).stdout) as { id: string }[];
    expect(snaps).toHaveLength(2);
    const diff = await runEngine(['diff', snaps[0]!.id, snaps[1]!.id, '--repo', repo], { native });
    expect(diff.code, diff.stderr).toBe(0);
    const lines = diff.stdout.split('\n');
    expect(lines.filter((l) => l.startsWith('+ ') || l.startsWith('- '))).toEqual([`+ ${src}/y\\xfd\\nz`]);
    expect(lines).not.toContain('z');
    const json = await runEngine(['diff', snaps[0]!.id, snaps[1]!.id, '--repo', repo, '--json'], { native });
    const changes = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { message_type: string; path?: string; modifier?: string }).filter((c) => c.message_type === 'change');
    expect(changes.filter((c) => c.modifier === '+').map((c) => c.path)).toEqual([`${src}/y\\xfd\\nz`]);
  });

  it('a warning names the file escaped, on one line (a name that is not UTF-8 and holds a newline)', async () => {
    const other = join(work, 'warn-src');
    await mkdir(other);
    await writeFile(under(other, 'gone', [0xff], '\nx'), 'removed just before the backup opens it\n');
    await writeFile(join(other, 'stays.txt'), 'kept\n');
    const own = join(work, 'warn-repo');
    expect((await runEngine(['init', '--repo', own], { native })).code).toBe(0);
    const r = await runEngine(['backup', '--repo', own, other], { native, env: { ENGINE_TEST_HOOKS: 'vanish=gone\\xff\\nx' } });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain('warn-src/gone\\xff\\nx: vanished during backup');
    expect(r.stderr).not.toContain('\ufffd');
    expect(r.stderr.split('\n').some((l) => l.startsWith('x:'))).toBe(false);
  });

  it('restore recreates every name, target and content byte for byte', async () => {
    const target = join(work, 'restored');
    const restore = await runEngine(['restore', 'latest', '--repo', repo, '--target', target], { native });
    expect(restore.code, restore.stderr).toBe(0);
    const want = await byteTree(Buffer.from(src));
    expect(want.size).toBe(9);
    expect(Object.fromEntries(await byteTree(Buffer.from(join(target, src))))).toEqual(Object.fromEntries(want));
  });

  it('a version 3 repository keeps its version while every name is UTF-8, is raised to 4 by the first backup of a name that is not, and its older snapshot still restores', async () => {
    const old = join(work, 'repo-v3');
    const plain = join(work, 'plain');
    await mkdir(plain);
    await writeFile(join(plain, 'a.txt'), 'text\n');
    expect((await runEngine(['init', '--repo', old], { native })).code).toBe(0);
    const { primitives } = await loadPrimitives(native === 'off' ? 'fallback' : 'auto');
    const open = (): Promise<Repository> => Repository.open(new LocalBackend(old), primitives, new TextEncoder().encode(TEST_PASSWORD));
    const lib = await open();
    // What an engine of format version 3 wrote.
    await new LocalBackend(old).save('config', seal(primitives, keysOf(lib), encodeConfig({ ...lib.config, version: 3 }), { suite: lib.suite, zstdLevel: null }));
    const first = await runEngine(['backup', '--repo', old, '--json', plain], { native });
    expect(first.code, first.stderr).toBe(0);
    expect((await open()).config.version).toBe(3);
    await writeFile(under(plain, 'b', [0xff]), 'bytes\n');
    const second = await runEngine(['backup', '--repo', old, '--json', plain], { native });
    expect(second.code, second.stderr).toBe(0);
    expect((await open()).config.version).toBe(4);
    const target = join(work, 'restored-v3');
    const restore = await runEngine(['restore', String(first.json?.snapshot_id), '--repo', old, '--target', target], { native });
    expect(restore.code, restore.stderr).toBe(0);
    expect(await readFile(join(target, plain, 'a.txt'), 'utf8')).toBe('text\n');
    expect(await readdir(join(target, plain))).toEqual(['a.txt']);
  });
});
