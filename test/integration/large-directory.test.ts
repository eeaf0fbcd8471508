// A directory too big for one tree blob, as a user meets it: backed up and restored within
// --mem-budget 256M, listed, backed up again from its parent without reading a file or storing a
// tree, checked; pruned and restored identical (chunks are used blobs); a damaged chunk is named
// by `check`.
import { mkdir, open, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { workdirPerFile } from '../support/workdir.js';
import { loadPrimitives } from '../../native-bindings/index.js';
import { LocalBackend } from '../../src/backend/local/local-backend.js';
import type { BlobId } from '../../src/format/ids.js';
import { packName } from '../../src/repository/layout.js';
import { REPO_VERSION } from '../../src/format/config.js';
import { Repository } from '../../src/repository/repository.js';
import { loadTreeBlob } from '../../src/repository/tree-stream.js';
import { blobsAdded, currentNative, runEngine, TEST_PASSWORD } from '../support/cli.js';
import { wayTreesAdded } from '../support/way-trees.js';

const native = currentNative();
const MiB = 1024 * 1024;
/** Enough for ~100 chunks; creating, backing up and restoring them takes ~20 s here. */
const N = 120_000;

/** Names, sizes, modes and mtimes (to the microsecond) of a directory's entries. */
async function listing(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const names = await readdir(dir);
  for (let i = 0; i < names.length; i += 256) {
    await Promise.all(
      names.slice(i, i + 256).map(async (n) => {
        const st = await lstat(join(dir, n), { bigint: true });
        out.set(n, `${st.size} ${st.mode} ${st.mtimeNs / 1000n}`);
      }),
    );
  }
  return out;
}

async function openRepo(repo: string): Promise<Repository> {
  const { primitives } = await loadPrimitives('auto');
  return Repository.open(new LocalBackend(repo), primitives, new TextEncoder().encode(TEST_PASSWORD));
}

/**
 * The chunk ids of the directory at the absolute path `path` in the latest snapshot (it must be
 * chunked), found from the root name by name: the snapshot holds it under its absolute path.
 */
async function chunksOf(repo: string, path: string): Promise<{ list: BlobId; chunks: BlobId[] }> {
  const r = await openRepo(repo);
  const index = await r.loadIndex();
  const { snapshot } = await r.resolveSnapshot('latest');
  let tree = snapshot.tree;
  for (const name of path.split('/').filter((n) => n !== '')) {
    const node = (await r.loadTree(index, tree)).nodes.find((n) => n.name === name);
    if (!node?.subtree) throw new Error(`${path}: no folder ${name} in the snapshot`);
    tree = node.subtree;
  }
  const blob = await loadTreeBlob(r, index, tree);
  if (blob.kind !== 'chunks') throw new Error(`${path} is not chunked`);
  return { list: tree, chunks: blob.chunks };
}

describe(`a directory of many files (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-large-dir-');

  it(`${N} empty files: backup and restore within --mem-budget 256M, identical; ls; a second backup reads and stores nothing; check --read-data passes`, async () => {
    const src = join(work, 'src');
    const big = join(src, 'big');
    await mkdir(big, { recursive: true });
    for (let i = 0; i < N; i += 512) {
      await Promise.all(Array.from({ length: Math.min(512, N - i) }, (_, k) => writeFile(join(big, `f${String(i + k).padStart(7, '0')}`), '')));
    }
    // A few with content and one with an older mtime, among the empty ones.
    await writeFile(join(big, 'f0050000-data'), 'some content\n');
    await utimes(join(big, 'f0000007'), 1_600_000_000, 1_600_000_000);
    const repo = join(work, 'repo');
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);

    const b1 = await runEngine(['backup', '--repo', repo, '--json', '--mem-budget', '256M', src], { native });
    expect(b1.code, b1.stderr).toBe(0);
    expect(b1.json?.files_new).toBe(N + 1);
    expect(b1.json?.peak_rss_bytes as number).toBeLessThan(256 * MiB);
    const { chunks } = await chunksOf(repo, big);
    expect(chunks.length).toBeGreaterThan(N / 4096);
    expect((await openRepo(repo)).config.version).toBe(REPO_VERSION);

    const target = join(work, 'restored');
    const r = await runEngine(['restore', 'latest', '--repo', repo, '--target', target, '--json', '--mem-budget', '256M'], { native });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json?.files_restored).toBe(N + 1);
    expect(r.json?.peak_rss_bytes as number).toBeLessThan(256 * MiB);
    const want = await listing(big);
    const got = await listing(join(target, big));
    expect(got.size).toBe(N + 1);
    expect(got).toEqual(want);
    const [a, b] = await Promise.all([lstat(big, { bigint: true }), lstat(join(target, big), { bigint: true })]);
    expect(b.mtimeNs / 1000n).toBe(a.mtimeNs / 1000n);

    const ls = await runEngine(['ls', 'latest', '--repo', repo], { native });
    expect(ls.code, ls.stderr).toBe(0);
    const lines = ls.stdout.trim().split('\n');
    expect(lines.filter((l) => l.startsWith(`${big}/f`)).length).toBe(N + 1);
    // In name order, across chunk boundaries.
    const inBig = lines.filter((l) => l.startsWith(`${big}/`));
    expect(inBig).toEqual([...inBig].sort());

    const b2 = await runEngine(['backup', '--repo', repo, '--json', '--mem-budget', '256M', src], { native });
    expect(b2.code, b2.stderr).toBe(0);
    expect(b2.json?.parent).toBe(b1.json?.snapshot_id);
    // Nothing below src is stored again: the only trees stored are those on the way to src whose
    // folders' times changed meanwhile (the temp folder's, which other processes use), in one pack.
    const way = await wayTreesAdded(repo, native, String(b1.json?.snapshot_id), String(b2.json?.snapshot_id), src);
    expect(b2.json).toMatchObject({ files_read: 0, files_unmodified: N + 1, packs_written: way.count > 0 ? 1 : 0 });
    expect(blobsAdded(b2.json)).toBe(way.count);

    const check = await runEngine(['check', '--repo', repo, '--read-data'], { native });
    expect(check.code, check.stdout + check.stderr).toBe(0);
  });

  it('prune keeps every chunk and chunk list a snapshot uses: the pruned repository restores identical', async () => {
    const src = join(work, 'prune-src');
    const dir = join(src, 'many');
    await mkdir(dir, { recursive: true });
    for (let i = 0; i < 12_000; i++) await writeFile(join(dir, `n${String(i).padStart(6, '0')}`), i % 1000 === 0 ? `content ${i}\n` : '');
    const repo = join(work, 'prune-repo');
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
    const first = await runEngine(['backup', '--repo', repo, '--json', src], { native });
    expect(first.code, first.stderr).toBe(0);
    const before = await chunksOf(repo, dir);
    // The second snapshot shares most chunks with the first, in the same pack; the first's own chunks become unused.
    for (let i = 0; i < 12_000; i += 1500) await rm(join(dir, `n${String(i + 3).padStart(6, '0')}`));
    await writeFile(join(dir, 'n005000-added'), 'new\n');
    const second = await runEngine(['backup', '--repo', repo, '--json', src], { native });
    expect(second.code, second.stderr).toBe(0);
    const after = await chunksOf(repo, dir);
    const shared = after.chunks.filter((c) => before.chunks.includes(c));
    expect(shared.length).toBeGreaterThan(0);
    expect(shared.length).toBeLessThan(after.chunks.length);

    const prune = await runEngine(['forget', '--repo', repo, String(first.json?.snapshot_id), '--prune', '--max-unused', '0%', '--json'], { native });
    expect(prune.code, prune.stdout + prune.stderr).toBe(0);
    // Something was rewritten: the first snapshot's own chunks are gone from the index.
    const r = await openRepo(repo);
    const index = await r.loadIndex();
    for (const c of after.chunks) expect(index.has(c), `chunk ${c}`).toBe(true);
    expect(index.has(after.list)).toBe(true);
    expect(before.chunks.filter((c) => !after.chunks.includes(c)).some((c) => !index.has(c))).toBe(true);

    const target = join(work, 'prune-restored');
    const restored = await runEngine(['restore', 'latest', '--repo', repo, '--target', target], { native });
    expect(restored.code, restored.stderr).toBe(0);
    expect(await listing(join(target, dir))).toEqual(await listing(dir));
    const check = await runEngine(['check', '--repo', repo, '--read-data'], { native });
    expect(check.code, check.stdout + check.stderr).toBe(0);
  });

  it('check names a damaged chunk of a chunked directory; repair snapshots keeps the entries of the other chunks', async () => {
    const src = join(work, 'check-src');
    const dir = join(src, 'many');
    await mkdir(dir, { recursive: true });
    for (let i = 0; i < 9_000; i++) await writeFile(join(dir, `c${String(i).padStart(6, '0')}`), '');
    const repo = join(work, 'check-repo');
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
    expect((await runEngine(['backup', '--repo', repo, src], { native })).code).toBe(0);
    const { chunks } = await chunksOf(repo, dir);
    const victim = chunks[1]!;
    const loc = (await (await openRepo(repo)).loadIndex()).lookup(victim)!;
    const fh = await open(join(repo, packName(loc.packId)), 'r+');
    try {
      const b = Buffer.alloc(1);
      await fh.read(b, 0, 1, loc.offset + 40);
      b[0] = b[0]! ^ 0x10;
      await fh.write(b, 0, 1, loc.offset + 40);
    } finally {
      await fh.close();
    }
    const check = await runEngine(['check', '--repo', repo, '--json'], { native });
    expect(check.code).toBe(4);
    // Each finding is an error line on stderr (restic's shape), naming the object at fault.
    const findings = check.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { message_type: string; object?: string; message?: string })
      .filter((m) => m.message_type === 'error');
    expect(findings.some((f) => f.object === `tree chunk ${victim}`), JSON.stringify(findings)).toBe(true);

    // repair snapshots keeps the other chunks' entries, rewritten through the chunking writer.
    const repair = await runEngine(['repair', 'snapshots', '--repo', repo, '--json'], { native });
    expect(repair.code, repair.stderr).toBe(0);
    const lost = repair.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { message_type: string; path?: string; why?: string });
    expect(lost.some((l) => l.message_type === 'lost' && l.path === `${dir}/` && l.why?.includes(`tree chunk ${victim}`)), repair.stdout).toBe(true);
    const rewritten = await chunksOf(repo, dir);
    expect(rewritten.chunks).not.toContain(victim);
    expect(rewritten.chunks).toContain(chunks[0]);
    const target = join(work, 'check-restored');
    const restored = await runEngine(['restore', 'latest', '--repo', repo, '--target', target], { native });
    expect(restored.code, restored.stderr).toBe(0);
    const got = await readdir(join(target, dir));
    expect(got.length).toBeLessThan(9_000);
    expect(got.length).toBeGreaterThan(9_000 - 4096);
    expect(got).toContain('c000000');
    expect(got).toContain('c008999');
    expect((await runEngine(['check', '--repo', repo], { native })).code).toBe(0);
  });
});
