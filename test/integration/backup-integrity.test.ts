// A backup never makes a snapshot that cannot be restored, and says only true things about it:
// - after a lost pack and `repair index`, the next backup (same paths, so the parent is used) reads
//   again the unchanged files whose blobs are gone and stores them again (issue 12, point 4);
// - a small file that grows while it is read is read again and stored whole, not cut and reported
//   as left out (point 10);
// - a repository (and its cache) inside a backed-up folder is skipped with a notice (point 10);
// - the summary of a backup that takes files from the parent counts them as unmodified, and counts
//   those read again as read (point 10).
import { mkdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { workdirPerFile } from '../support/workdir.js';
import { blobsAdded, currentNative, runEngine } from '../support/cli.js';
import { dataPacks, listRepo } from '../support/repo-files.js';
import { compareTrees, makeTree, type TreeStats } from '../support/tree.js';
import { wayFolders, wayTreesAdded } from '../support/way-trees.js';

const native = currentNative();

describe(`backup integrity (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-integrity-');

  it('after a lost data pack and repair index, the next backup stores the lost data again: check --read-data passes and the restore is identical', async () => {
    const src = join(work, 'src-lost');
    const repo = join(work, 'repo-lost');
    const stats: TreeStats = await makeTree(src, { seed: 61, smallFiles: 200, scale: 0.4 });
    expect((await runEngine(['init', '--repo', repo, '--pack-size', '1M'], { native })).code).toBe(0);
    const first = await runEngine(['backup', '--repo', repo, '--json', src], { native });
    expect(first.code, first.stderr).toBe(0);
    const firstId = String(first.json?.snapshot_id);

    // The largest pack holds file data (tree packs are small).
    const victim = (await dataPacks(repo))[0]!;
    await unlink(join(repo, victim.name));
    const ri = await runEngine(['repair', 'index', '--repo', repo], { native });
    expect(ri.code, ri.stderr).toBe(0);

    const second = await runEngine(['backup', '--repo', repo, '--json', src], { native });
    expect(second.code, second.stderr).toBe(0);
    expect(second.json?.parent).toBe(firstId);
    // The first snapshot still names the lost blobs: once it is forgotten, the repository is whole.
    const f = await runEngine(['forget', '--repo', repo, firstId], { native });
    expect(f.code, f.stderr).toBe(0);
    const c = await runEngine(['check', '--repo', repo, '--read-data'], { native });
    expect(c.code, c.stdout + c.stderr).toBe(0);

    const target = join(work, 'restore-lost');
    const r = await runEngine(['restore', String(second.json?.snapshot_id), '--repo', repo, '--target', target], { native });
    expect(r.code, r.stderr).toBe(0);
    expect(await compareTrees(src, join(target, src))).toEqual([]);
    // The summary says only true things: nothing changed in the source, so every file is
    // unmodified; those whose data was lost were read again, and stored again.
    expect(Number(second.json?.files_read)).toBeGreaterThan(0);
    expect(Number(second.json?.files_read)).toBeLessThan(stats.files);
    expect(second.json?.files_read_again).toBe(second.json?.files_read);
    expect(second.json?.files_unmodified).toBe(stats.files);
    expect(second.json?.files_new).toBe(0);
    expect(second.json?.files_changed).toBe(0);
    expect(Number(blobsAdded(second.json))).toBeGreaterThan(0);
  }, 240_000);

  it('after a lost tree pack (the chunks of a large folder) and repair index, the next backup reads the folder again instead of failing', async () => {
    const src = join(work, 'src-tree');
    const repo = join(work, 'repo-tree');
    const big = join(src, 'big');
    await mkdir(big, { recursive: true });
    // Over 4096 entries: the folder's tree is a chunk list and several chunks (FORMAT.md "Trees").
    const names = Array.from({ length: 10_000 }, (_, i) => `entry-${String(i).padStart(6, '0')}`);
    for (let i = 0; i < names.length; i += 500) await Promise.all(names.slice(i, i + 500).map((n, k) => writeFile(join(big, n), (i + k) % 50 === 0 ? `data of ${n}\n`.repeat(50) : '')));
    expect((await runEngine(['init', '--repo', repo, '--kdf-memory', '8M'], { native })).code).toBe(0);
    const first = await runEngine(['backup', '--repo', repo, '--json', src], { native });
    expect(first.code, first.stderr).toBe(0);
    const packsOfFirst = (await dataPacks(repo)).map((p) => p.name);
    // One entry near the end changes: the second snapshot's chunk list and that chunk go into a new
    // pack, its other chunks are those of the first snapshot's packs.
    await writeFile(join(big, names[names.length - 3]!), 'changed\n');
    const second = await runEngine(['backup', '--repo', repo, '--json', src], { native });
    expect(second.code, second.stderr).toBe(0);
    for (const name of packsOfFirst) await unlink(join(repo, name));
    expect((await runEngine(['repair', 'index', '--repo', repo], { native })).code).toBe(0);

    const third = await runEngine(['backup', '--repo', repo, '--json', src], { native });
    expect(third.code, third.stderr).toBe(0);
    expect(third.json?.parent).toBe(second.json?.snapshot_id);
    expect(third.stderr).not.toMatch(/warning|"error"/);
    const f = await runEngine(['forget', '--repo', repo, String(first.json?.snapshot_id), String(second.json?.snapshot_id)], { native });
    expect(f.code, f.stderr).toBe(0);
    const c = await runEngine(['check', '--repo', repo, '--read-data'], { native });
    expect(c.code, c.stdout + c.stderr).toBe(0);
    const target = join(work, 'restore-tree');
    const r = await runEngine(['restore', 'latest', '--repo', repo, '--target', target], { native });
    expect(r.code, r.stderr).toBe(0);
    expect(await compareTrees(src, join(target, src))).toEqual([]);
  }, 240_000);

  it('a backup that takes every file from the parent counts them unmodified and reads nothing', async () => {
    const src = join(work, 'src-parent');
    const repo = join(work, 'repo-parent');
    await mkdir(join(src, 'd'), { recursive: true });
    for (let i = 0; i < 20; i++) await writeFile(join(src, 'd', `f${i}`), `content ${i}\n`.repeat(i + 1));
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
    expect((await runEngine(['backup', '--repo', repo, src], { native })).code).toBe(0);
    const again = await runEngine(['backup', '--repo', repo, src], { native });
    expect(again.code, again.stderr).toBe(0);
    // src and src/d, and the folders on the way to src (stored under its absolute path).
    expect(again.stdout).toContain(`files: 0 new, 0 changed, 20 unmodified; ${2 + wayFolders(src).length} folders`);
    expect(again.stdout).toContain('read 0 B from 0 files');
    expect(again.stdout).not.toContain('read again');
    expect(again.stderr).not.toContain('warning');
  }, 120_000);

  it('a small file that grows while it is read is stored whole as read again, not cut, and not reported as left out', async () => {
    const src = join(work, 'src-grow');
    const repo = join(work, 'repo-grow');
    await mkdir(src, { recursive: true });
    const grower = join(src, 'grows.log');
    const head = 'first line\n'.repeat(100);
    await writeFile(grower, head);
    await writeFile(join(src, 'steady.txt'), 'steady\n');
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
    // The hook appends to the file after its lstat, just before it is opened: it grew while backed up.
    const b = await runEngine(['backup', '--repo', repo, src], { native, env: { ENGINE_TEST_HOOKS: 'grow=grows.log' } });
    const grown = await readFile(grower);
    expect(grown.length).toBeGreaterThan(head.length);
    expect(b.stderr).not.toContain('left out');
    expect(b.stderr).toContain(`${grower}: grew from ${head.length} to ${grown.length} bytes`);
    expect(b.stderr).not.toContain('warning');
    // Stored whole and read in one consistent pass: a notice, not a failure.
    expect(b.code, b.stderr).toBe(0);
    const target = join(work, 'restore-grow');
    const r = await runEngine(['restore', 'latest', '--repo', repo, '--target', target], { native });
    expect(r.code, r.stderr).toBe(0);
    expect((await readFile(join(target, grower))).equals(grown)).toBe(true);
  }, 120_000);

  it('a repository and its cache inside a backed-up folder are skipped with a notice, so the repository does not grow into itself', async () => {
    const home = join(work, 'home');
    const repo = join(home, 'backups', 'repo');
    const cache = join(home, '.cache');
    await mkdir(join(home, 'docs'), { recursive: true });
    await writeFile(join(home, 'docs', 'a.txt'), 'a\n'.repeat(1000));
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
    const env = { XDG_CACHE_HOME: cache };
    const b1 = await runEngine(['backup', '--repo', repo, home], { native, env });
    expect(b1.code, b1.stderr).toBe(0);
    expect(b1.stderr).toContain(`${repo}: skipped`);
    expect(b1.stderr).not.toContain('warning');
    const before = await listRepo(repo);
    const b2 = await runEngine(['backup', '--repo', repo, '--json', home], { native, env });
    expect(b2.code, b2.stderr).toBe(0);
    // Nothing changed outside the repository: the second run adds only its snapshot object, and
    // the trees on the way to `home` whose folders' times changed meanwhile (the temp folder's,
    // which other processes use), in one pack with its index.
    const after = await listRepo(repo);
    const added = [...after.keys()].filter((k) => !before.has(k));
    // Its parent is the first run's snapshot.
    expect(b2.json?.parent).toMatch(/^[0-9a-f]{64}$/);
    const way = await wayTreesAdded(repo, native, String(b2.json?.parent), String(b2.json?.snapshot_id), home);
    expect(blobsAdded(b2.json)).toBe(way.count);
    expect(added.filter((k) => /^snapshots\//.test(k))).toHaveLength(1);
    expect(added.filter((k) => !/^snapshots\//.test(k)).map((k) => k.split('/')[0]).sort()).toEqual(way.count === 0 ? [] : ['data', 'index']);
    const ls = await runEngine(['ls', 'latest', '--repo', repo], { native, env });
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toContain('docs/a.txt');
    expect(ls.stdout).toContain('backups');
    expect(ls.stdout).not.toContain('backups/repo');
    expect(ls.stdout).not.toMatch(/\.cache\/engine\/[0-9a-f]{16}/);
  }, 120_000);
});
