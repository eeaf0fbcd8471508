// find, dump, cat and ls -l as a user runs them (restic's names and shapes), on a real tree backed
// up twice into a real repository.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstat, mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BlobId } from '../../src/format/ids.js';
import type { TreeNode } from '../../src/format/tree.js';
import { currentNative, ENGINE_BIN, runEngine, TEST_PASSWORD } from '../support/cli.js';
import { saveForgedSnapshot } from '../support/forged-snapshot.js';
import { diffTrees, makeTree } from '../support/tree.js';
import { workdirPerFile } from '../support/workdir.js';

const native = currentNative();
// Times print in local time, as restic's do: fixed here so the expected lines are known.
const env = { TZ: 'UTC' };

interface Snap {
  id: string;
  time: string;
  tree: string;
}

/** The CLI with stdout as bytes (dump writes binary), optionally piped into another command. */
function runBinary(args: string[], pipeTo?: { cmd: string; args: string[] }, extraEnv: Record<string, string> = {}, bin = ENGINE_BIN): Promise<{ code: number; stdout: Buffer; stderr: string; pipeCode: number | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env: { ...process.env, ENGINE_PASSWORD: TEST_PASSWORD, ENGINE_NATIVE: native, ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    let consumer: Promise<number | null> = Promise.resolve(null);
    if (pipeTo) {
      const p = spawn(pipeTo.cmd, pipeTo.args, { stdio: ['pipe', 'ignore', 'pipe'] });
      p.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += `[${pipeTo.cmd}] ${d}`));
      p.stdin.on('error', () => undefined);
      child.stdout.pipe(p.stdin);
      consumer = new Promise((r) => p.on('close', (c) => r(c)));
    } else {
      child.stdout.on('data', (d: Buffer) => chunks.push(d));
    }
    child.on('error', reject);
    child.on('close', (code) => {
      void consumer.then((pipeCode) => resolve({ code: code ?? -1, stdout: Buffer.concat(chunks), stderr, pipeCode }));
    });
  });
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const pad2 = (n: number): string => String(n).padStart(2, '0');
const utcLine = (ms: number): string => {
  const d = new Date(ms);
  return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}`;
};

describe(`find, dump, cat, ls -l (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-retrieval-');
  /** The backed-up folder: the snapshot holds it under its absolute path, as `ls` and `find` print it. */
  const src = join(work, 'src');
  /** The folders on the way to src in the snapshot ('/tmp', '/tmp/engine-retrieval-...'), src not among them. */
  const way = src
    .split('/')
    .slice(1, -1)
    .map((_, i, parts) => `/${parts.slice(0, i + 1).join('/')}`);
  let repo: string;
  let older: Snap;
  let newer: Snap;
  const engine = (args: string[]) => runEngine([...args, '--repo', repo], { native, env });

  beforeAll(async () => {
    // random/large.bin is ~5 MiB of incompressible bytes: several chunks of ~1 MiB.
    await makeTree(src, { seed: 17, smallFiles: 20, scale: 0.3, randomBytes: 8 * 1024 * 1024 });
    await mkdir(join(src, 'Case'));
    await writeFile(join(src, 'Case', 'Mixed.TXT'), 'mixed case\n');
    // A hostile name: printed escaped, so it cannot forge a line of output.
    await writeFile(join(src, 'Case', 'evil\nname'), 'x');
    repo = join(work, 'repo');
    expect((await runEngine(['init', '--repo', repo, '--kdf-memory', '8M', '--kdf-time', '1'], { native })).code).toBe(0);
    const a = await engine(['backup', src]);
    expect(a.code, a.stderr).toBe(0);
    await writeFile(join(src, 'later.txt'), 'only in the second snapshot\n');
    const b = await engine(['backup', src]);
    expect(b.code, b.stderr).toBe(0);
    const list = JSON.parse((await engine(['snapshots', '--json'])).stdout) as Snap[];
    expect(list).toHaveLength(2);
    [older, newer] = list as [Snap, Snap];
  }, 240_000);

  describe('find', () => {
    it('matches the whole path, newest snapshot first, one header per snapshot and a blank line between', async () => {
      const r = await engine(['find', '*.TXT', 'later.txt']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(
        [
          `Found matching entries in snapshot ${newer.id.slice(0, 8)} from ${utcLine(Date.parse(newer.time))}`,
          `${src}/Case/Mixed.TXT`,
          `${src}/later.txt`,
          '',
          `Found matching entries in snapshot ${older.id.slice(0, 8)} from ${utcLine(Date.parse(older.time))}`,
          `${src}/Case/Mixed.TXT`,
          '',
        ].join('\n'),
      );
      // -R: oldest first; -s: only the snapshots named.
      const reversed = await engine(['find', '-R', 'later.txt', '*.TXT']);
      expect(reversed.stdout.split('\n')[0]).toContain(older.id.slice(0, 8));
      const one = await engine(['find', '-s', older.id.slice(0, 8), '*.TXT']);
      expect(one.stdout).not.toContain(newer.id.slice(0, 8));
      expect(one.stdout).toContain(`${src}/Case/Mixed.TXT`);
    });

    it('patterns are restic\'s: a run of components anywhere, anchored with /, a matched folder lists its contents, -i ignores case', async () => {
      const paths = async (...args: string[]) => (await engine(['find', '-s', 'latest', ...args])).stdout.split('\n').filter((l) => l.startsWith('/'));
      // Not matched against the base name alone: 'random/large.bin' is two components of the path.
      expect(await paths('random/large.bin')).toEqual([`${src}/random/large.bin`]);
      expect(await paths('/large.bin')).toEqual([]);
      expect(await paths(`${src}/random/large.bin`)).toEqual([`${src}/random/large.bin`]);
      // A folder that matches brings everything below it (restic filter.Match matches a prefix run).
      const dup = await paths('dup');
      expect(dup).toContain(`${src}/dup`);
      expect(dup).toContain(`${src}/dup/deeper/second-copy-of-medium.bin`);
      expect(await paths('mixed.txt')).toEqual([]);
      expect(await paths('-i', 'mixed.txt')).toEqual([`${src}/Case/Mixed.TXT`]);
      expect(await paths(`${src}/*/large.bin`)).toEqual([`${src}/random/large.bin`]);
      expect(await paths('evil*')).toEqual([`${src}/Case/evil\\nname`]);
    });

    it('-l prints restic\'s long line; nothing found is exit 0 with no output; a bad pattern or time is a usage error', async () => {
      const st = await stat(join(src, 'random', 'large.bin'));
      const long = await engine(['find', '-l', '-s', 'latest', 'large.bin']);
      expect(long.stdout.split('\n')[1]).toBe(`-rw-r--r-- ${String(st.uid).padStart(5)} ${String(st.gid).padStart(5)} ${String(st.size).padStart(6)} ${utcLine(st.mtimeMs)} ${src}/random/large.bin`);
      const human = await engine(['find', '-l', '--human-readable', '-s', 'latest', 'large.bin']);
      expect(human.stdout.split('\n')[1]).toContain(` ${(st.size / 2 ** 20).toFixed(3)} MiB ${utcLine(st.mtimeMs)} ${src}/random/large.bin`);
      const none = await engine(['find', 'no-such-name']);
      expect(none.code).toBe(0);
      expect(none.stdout).toBe('');
      const future = await engine(['find', '--oldest', '2999-01-01', 'large.bin']);
      expect(future.code).toBe(0);
      expect(future.stdout).toBe('');
      const past = await engine(['find', '--newest', '02.01.2000 10:00', 'large.bin']);
      expect(past.stdout).toBe('');
      const inRange = await engine(['find', '-s', 'latest', '--oldest', '2000-01-01 00:00:00 +0000', 'large.bin']);
      expect(inRange.stdout).toContain(`${src}/random/large.bin`);
      const bad = await engine(['find', 'a[']);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain("invalid pattern: 'a['");
      const badTime = await engine(['find', '--oldest', 'yesterday', 'x']);
      expect(badTime.code).toBe(2);
      expect(badTime.stderr).toContain('--oldest "yesterday": unable to parse time');
    });

    it('--json is restic\'s one array: matches, hits and the full snapshot id per snapshot', async () => {
      const r = await engine(['find', '--json', 'later.txt', 'large.bin']);
      expect(r.code, r.stderr).toBe(0);
      const doc = JSON.parse(r.stdout) as { matches: Record<string, unknown>[]; hits: number; snapshot: string }[];
      expect(doc.map((d) => d.snapshot)).toEqual([newer.id, older.id]);
      expect(doc.map((d) => d.hits)).toEqual([2, 1]);
      const st = await stat(join(src, 'random', 'large.bin'));
      expect(doc[1]!.matches[0]).toMatchObject({ path: `${src}/random/large.bin`, permissions: '-rw-r--r--', type: 'file', mode: 0o644, size: st.size, uid: st.uid, gid: st.gid, links: 1 });
      expect(JSON.parse((await engine(['find', '--json', 'nothing-here'])).stdout)).toEqual([]);
      // A folder's mode is Go's FileMode: the ModeDir bit above the permissions.
      const dir = JSON.parse((await engine(['find', '--json', '-s', 'latest', `${src}/dup/deeper`])).stdout) as { matches: { path: string; mode: number; permissions: string }[] }[];
      const deeper = dir[0]!.matches.find((m) => m.path === `${src}/dup/deeper`)!;
      expect(deeper.permissions).toMatch(/^drwx/);
      expect(deeper.mode).toBe(2 ** 31 + ((await stat(join(src, 'dup', 'deeper'))).mode & 0o777));
    });

    it('--blob and --tree name the files and folders holding an id, in every snapshot', async () => {
      const tree = JSON.parse((await engine(['cat', 'tree', `latest:${src}/random`])).stdout) as { nodes: { name: string; content?: string[]; subtree?: string }[] };
      const large = tree.nodes.find((n) => n.name === 'large.bin')!;
      expect(large.content!.length).toBeGreaterThanOrEqual(3);
      const r = await engine(['find', '--blob', large.content![1]!.slice(0, 12)]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`Found blob ${large.content![1]}\n ... in file ${src}/random/large.bin\n`);
      expect(r.stdout).toContain(`in snapshot ${older.id.slice(0, 8)}`);
      const src0 = JSON.parse((await engine(['cat', 'tree', `latest:${src}`])).stdout) as { nodes: { name: string; subtree?: string }[] };
      const randomTree = src0.nodes.find((n) => n.name === 'random')!.subtree!;
      const t = await engine(['find', '--tree', '--json', randomTree]);
      const objs = JSON.parse(t.stdout) as { object_type: string; path: string; snapshot: string }[];
      expect(objs.map((o) => [o.object_type, o.path, o.snapshot])).toEqual([
        ['tree', `${src}/random`, newer.id],
        ['tree', `${src}/random`, older.id],
      ]);
      expect((await engine(['find', '--blob', 'xyz'])).code).toBe(2);
    });
  });

  describe('dump', () => {
    it('a file of several chunks is written byte for byte, to stdout and to --target', async () => {
      const original = await readFile(join(src, 'random', 'large.bin'));
      expect(original.length).toBeGreaterThan(4 * 1024 * 1024);
      const rssFile = join(work, 'dump-rss');
      const out = await runBinary(['dump', '--repo', repo, '--mem-budget', '128M', 'latest', `${src}/random/large.bin`], undefined, { ENGINE_PEAK_RSS_FILE: rssFile });
      expect(out.code, out.stderr).toBe(0);
      expect(sha(out.stdout)).toBe(sha(original));
      // Within the budget, a blob at a time (the whole file is never in memory).
      expect(Number(await readFile(rssFile, 'utf8'))).toBeLessThanOrEqual(128 * 1024 * 1024);
      const target = join(work, 'large.copy');
      const r = await engine(['dump', '--target', target, 'latest', `${src.slice(1)}/random/large.bin`]);
      expect(r.code, r.stderr).toBe(0);
      expect(sha(await readFile(target))).toBe(sha(original));
      // A reader that goes away early ends the dump quietly (exit 0), as for every command.
      // (bash joins them by a real pipe, and exits with engine's code.)
      const early = await runBinary(['-c', '"$@" | head -c 1000 >/dev/null; exit "${PIPESTATUS[0]}"', 'bash', ENGINE_BIN, 'dump', '--repo', repo, 'latest', `${src}/random/large.bin`], undefined, {}, 'bash');
      expect(early.code, early.stderr).toBe(0);
      const empty = await runBinary(['dump', '--repo', repo, 'latest', `${src}/${(await emptyFile())}`]);
      expect(empty.code, empty.stderr).toBe(0);
      expect(empty.stdout.length).toBe(0);
    });

    it('the whole snapshot and a folder, as tar piped into tar -x, give back the source tree', async () => {
      const all = join(work, 'untar-all');
      await mkdir(all);
      const r = await runBinary(['dump', '--repo', repo, 'latest', '/'], { cmd: 'tar', args: ['-x', '-p', '-f', '-', '-C', all] });
      expect(r.code, r.stderr).toBe(0);
      expect(r.pipeCode, r.stderr).toBe(0);
      // Hard links are written as separate files (as restic's dump does): everything else must match,
      // names, contents, modes, symlinks and mtimes to the microsecond included.
      const diffs = (await diffTrees(src, join(all, src))).filter((d) => d.kind !== 'hardlink');
      expect(diffs).toEqual([]);

      // A folder: its entries under their full path in the snapshot, the folder itself not an entry.
      const part = join(work, 'untar-part');
      await mkdir(part);
      const p = await runBinary(['dump', '--repo', repo, 'latest', `${src}/dup`], { cmd: 'tar', args: ['-x', '-p', '-f', '-', '-C', part] });
      expect(p.code, p.stderr).toBe(0);
      // Under src's absolute path: each folder on the way to it holds only the next one.
      const parts = join(src, 'dup').split('/').filter((c) => c !== '');
      for (let i = 0; i < parts.length - 1; i++) expect(await readdir(join(part, ...parts.slice(0, i)))).toEqual([parts[i]]);
      expect((await diffTrees(join(src, 'dup'), join(part, src, 'dup'))).filter((d) => d.kind !== 'hardlink')).toEqual([]);
      const listing = await runBinary(['dump', '--repo', repo, 'latest', `${src}/dup`]);
      expect(listing.stdout.length % 512).toBe(0);

      // SNAPSHOT:SUBFOLDER (restic): the folder's contents at the archive's root.
      const sub = join(work, 'untar-sub');
      await mkdir(sub);
      const q = await runBinary(['dump', '--repo', repo, `latest:${src}/dup`, '/'], { cmd: 'tar', args: ['-x', '-p', '-f', '-', '-C', sub] });
      expect(q.code, q.stderr).toBe(0);
      expect((await readdir(sub)).sort()).toEqual((await readdir(join(src, 'dup'))).sort());
      expect((await diffTrees(join(src, 'dup'), sub)).filter((d) => d.kind !== 'hardlink')).toEqual([]);
    });

    it('a missing path, a symlink, a file used as a folder and --archive zip are refused, naming what is wrong', async () => {
      const missing = await engine(['dump', 'latest', `${src}/nope`]);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain(`path "${src}/nope" not found in snapshot`);
      const notDir = await engine(['dump', 'latest', `${src}/later.txt/x`]);
      expect(notDir.code).toBe(2);
      expect(notDir.stderr).toContain(`"${src}/later.txt" should be a dir, but is a file`);
      const zip = await engine(['dump', '--archive', 'zip', 'latest', src]);
      expect(zip.code).toBe(2);
      expect(zip.stderr).toContain('--archive zip is not available');
      const link = (await engine(['find', '-l', '-s', 'latest', `${src}/**`])).stdout.split('\n').find((l) => l.startsWith('L'));
      expect(link).toBeDefined();
      const linkPath = link!.split(' ').find((w) => w.startsWith(`${src}/`))!;
      const sym = await engine(['dump', 'latest', linkPath]);
      expect(sym.code).toBe(2);
      expect(sym.stderr).toContain('should be a file, but is a symlink');
    });
  });

  describe('cat', () => {
    it('config, snapshot, key, index, pack, tree and blob print decrypted objects; no key material in clear', async () => {
      const config = await engine(['cat', 'config']);
      expect(config.code, config.stderr).toBe(0);
      expect(JSON.parse(config.stdout)).toMatchObject({ version: 4, chunker: { algorithm: 'fastcdc-v1' }, cipher: 'xchacha20-poly1305' });
      const snap = JSON.parse((await engine(['cat', 'snapshot', older.id.slice(0, 8)])).stdout) as Snap;
      expect(snap.tree).toBe(older.tree);

      const keyId = (await readdir(join(repo, 'keys')))[0]!;
      const key = await engine(['cat', 'key', keyId.slice(0, 8)]);
      expect(key.code, key.stderr).toBe(0);
      // The key file as stored: its master key is the encrypted envelope, nothing else is secret.
      expect(JSON.parse(key.stdout)).toEqual(JSON.parse(await readFile(join(repo, 'keys', keyId), 'utf8')));
      expect(key.stdout).not.toContain(TEST_PASSWORD);
      const master = await engine(['cat', 'masterkey']);
      expect(master.code).toBe(2);
      expect(master.stderr).toContain('masterkey is not offered');
      expect(master.stdout).toBe('');

      const indexId = (await readdir(join(repo, 'index')))[0]!;
      const index = JSON.parse((await engine(['cat', 'index', indexId])).stdout) as { packs: { id: string; blobs: { id: string; type: string; offset: number; length: number }[] }[] };
      expect(index.packs.length).toBeGreaterThan(0);
      const pack = index.packs[0]!;
      const header = JSON.parse((await engine(['cat', 'pack', pack.id])).stdout) as { id: string; type: string; offset: number; length: number }[];
      expect(header.map((b) => b.id).sort()).toEqual(pack.blobs.map((b) => b.id).sort());

      // A data blob's plaintext is the file's bytes; a tree's is its JSON.
      const small = (await lstat(join(src, 'later.txt'))).size;
      const laterTree = JSON.parse((await engine(['cat', 'tree', `latest:${src}`])).stdout) as { nodes: { name: string; content?: string[] }[] };
      const later = laterTree.nodes.find((n) => n.name === 'later.txt')!;
      const blob = await runBinary(['cat', '--repo', repo, 'blob', later.content![0]!]);
      expect(blob.code, blob.stderr).toBe(0);
      expect(blob.stdout.length).toBe(small);
      expect(blob.stdout.toString()).toBe('only in the second snapshot\n');
      const root = await engine(['cat', 'tree', newer.tree]);
      // The root holds only the first folder on the way to src.
      expect(JSON.parse(root.stdout)).toMatchObject({ nodes: [{ name: src.split('/')[1], type: 'dir' }] });
    });

    it('bad types and ids are refused before anything is read', async () => {
      for (const [args, text] of [
        [['cat', 'index', '../config'], '"../config" is not a valid index id'],
        [['cat', 'blob', 'abc'], 'is not a valid blob id'],
        [['cat', 'pack', 'f'.repeat(64)], 'is not in the repository'],
        [['cat', 'secret'], 'invalid type "secret"'],
        [['cat', 'key'], 'cat key needs an id'],
      ] as const) {
        const r = await engine([...args]);
        expect(r.code, args.join(' ')).toBe(2);
        expect(r.stderr).toContain(text);
      }
    });
  });

  describe('ls', () => {
    it('-l prints restic\'s long lines; folders given list themselves and their entries, --recursive all below', async () => {
      const st = await stat(join(src, 'later.txt'));
      const long = await engine(['ls', '-l', 'latest']);
      expect(long.code, long.stderr).toBe(0);
      expect(long.stdout.split('\n')).toContain(`-rw-r--r-- ${String(st.uid).padStart(5)} ${String(st.gid).padStart(5)} ${String(st.size).padStart(6)} ${utcLine(st.mtimeMs)} ${src}/later.txt`);
      const dirLine = long.stdout.split('\n').find((l) => l.endsWith(` ${src}/dup`));
      expect(dirLine).toMatch(/^drwx/);

      const dup = (await engine(['ls', 'latest', `${src}/dup`])).stdout.split('\n').filter((l) => l !== '');
      expect(dup).toContain(`${src}/dup/`);
      expect(dup).toContain(`${src}/dup/deeper/`);
      expect(dup).not.toContain(`${src}/dup/deeper/second-copy-of-medium.bin`);
      expect(dup.every((l) => l.startsWith(`${src}/dup`))).toBe(true);
      const sub = (await engine(['ls', `latest:${src}/dup`])).stdout.split('\n');
      expect(sub).toContain('/deeper/second-copy-of-medium.bin');
      expect(sub.some((l) => l.startsWith(src))).toBe(false);
      const rec = (await engine(['ls', '--recursive', 'latest', `${src}/dup/`])).stdout.split('\n');
      expect(rec).toContain(`${src}/dup/deeper/second-copy-of-medium.bin`);
      const rel = await engine(['ls', 'latest', `${src.slice(1)}/dup`]);
      expect(rel.code).toBe(2);
      expect(rel.stderr).toContain("must be absolute paths in the snapshot, starting with '/'");
    });

    it('ls waits for its reader, and one that goes away (| head) ends the listing with exit 0', async () => {
      const early = await runBinary(['-c', '"$@" | head -n 2 >/dev/null; exit "${PIPESTATUS[0]}"', 'bash', ENGINE_BIN, 'ls', '--repo', repo, 'latest'], undefined, {}, 'bash');
      expect(early.code, early.stderr).toBe(0);
      const json = await engine(['ls', '--json', 'latest']);
      const lines = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { message_type: string; path?: string });
      expect(lines[0]!.message_type).toBe('snapshot');
      // Every node is src, below it, or a folder on the way to it.
      expect(lines.slice(1).every((l) => l.message_type === 'node' && (l.path!.startsWith(src) || way.includes(l.path!)))).toBe(true);
    });
  });

  describe('a hostile repository', () => {
    it('a forged tree whose file size disagrees with its blobs: dump stops with exit 4 before that entry, find prints the hostile name escaped', async () => {
      const srcTree = JSON.parse((await engine(['cat', 'tree', `latest:${src}`])).stdout) as { nodes: { name: string; content?: string[] }[] };
      const blob = srcTree.nodes.find((n) => n.name === 'later.txt')!.content![0]! as BlobId;
      const base = { mode: 0o644, mtimeNs: '1700000000000000000', ctimeNs: '1700000000000000000', uid: 0, gid: 0, deviceId: '1', inode: '1', links: 1 };
      const nodes: TreeNode[] = [
        { ...base, name: 'a-fine.txt', type: 'file', size: 28, content: [blob] },
        { ...base, name: 'b-lies\u001b[2J.txt', type: 'file', size: 999_999, content: [blob] },
      ];
      const forged = await saveForgedSnapshot(repo, native, older.id, nodes, () => ({ time: new Date(Date.parse(newer.time) + 60_000).toISOString() }));
      try {
        const dump = await runBinary(['dump', '--repo', repo, forged, '/']);
        expect(dump.code).toBe(4);
        expect(dump.stderr).toContain('b-lies\\x1b[2J.txt: its blobs hold 28 bytes, its entry says 999999');
        // The entry before it is complete; nothing of the lying entry was written.
        expect(dump.stdout.length).toBe(512 + 512);
        expect(dump.stdout.subarray(0, 10).toString()).toBe('a-fine.txt');
        const found = await engine(['find', '-s', forged, 'b-lies*']);
        expect(found.stdout.split('\n')[1]).toBe('/b-lies\\x1b[2J.txt');
      } finally {
        expect((await engine(['forget', forged])).code).toBe(0);
      }
    });
  });

  /** The name of an empty file directly under src, made for the test if the tree has none there. */
  async function emptyFile(): Promise<string> {
    const tree = JSON.parse((await engine(['cat', 'tree', `latest:${src}`])).stdout) as { nodes: { name: string; type: string; size?: number }[] };
    const e = tree.nodes.find((n) => n.type === 'file' && n.size === 0);
    if (e) return e.name;
    const deep = (await engine(['find', '--json', '-s', 'latest', `${src}/**`])).stdout;
    const m = (JSON.parse(deep) as { matches: { path: string; type: string; size?: number }[] }[])[0]!.matches.find((x) => x.type === 'file' && x.size === 0);
    return m!.path.slice(`${src}/`.length);
  }
});
