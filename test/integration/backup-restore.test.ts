// The working core end to end, through the real CLI in a subprocess: a generated tree with every
// kind of entry restores identical, a second backup reads nothing and adds only a snapshot, and a
// repository written with one set of primitives restores with the other.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { workdirPerFile } from '../support/workdir.js';
import { blobsAdded, currentNative, runEngine } from '../support/cli.js';
import { listRepo, repoChanges } from '../support/repo-files.js';
import { compareTrees, isSparse, makeTree, type TreeStats } from '../support/tree.js';
import { wayTreesAdded } from '../support/way-trees.js';

const native = currentNative();
const other = native === 'off' ? 'auto' : 'off';

describe(`backup and restore (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-br-');
  let src: string;
  let repo: string;
  let stats: TreeStats;

  beforeAll(async () => {
    src = join(work, 'src');
    repo = join(work, 'repo');
    stats = await makeTree(src, { seed: 11, smallFiles: 10_000 });
    const init = await runEngine(['init', '--repo', repo], { native });
    expect(init.code, init.stderr).toBe(0);
  });

  it('restores a tree with text, random, duplicate, sparse and empty files, links and 10,000 small files identical', async () => {
    const backup = await runEngine(['backup', '--repo', repo, '--json', src], { native });
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.json?.files_read).toBe(stats.files);
    // Duplicates are stored once: less is added than was read.
    expect(Number(backup.json?.data_added)).toBeLessThan(Number(backup.json?.bytes_read));

    const target = join(work, 'restored');
    const restore = await runEngine(['restore', 'latest', '--repo', repo, '--target', target, '--json'], { native });
    expect(restore.code, restore.stderr).toBe(0);
    // The snapshot holds src under its absolute path, and the restore puts it there below the target.
    expect(await compareTrees(src, join(target, src), { sparse: true })).toEqual([]);
    for (const p of stats.paths.sparseFiles) expect(await isSparse(join(target, src, p)), p).toBe(true);
  });

  it('a second backup of the unchanged tree reads no file and adds only the snapshot object (and the trees on the way to src, when the temp folder changed)', async () => {
    const before = await listRepo(repo);
    const second = await runEngine(['backup', '--repo', repo, '--json', src], { native });
    expect(second.code, second.stderr).toBe(0);
    expect(second.json?.files_read).toBe(0);
    expect(second.json?.bytes_read).toBe(0);
    expect(second.json?.files_unmodified).toBe(stats.files);
    // Nothing below src is new; the folders on the way to it (the temp folder, which every process
    // uses) may have other times, and then their trees are new: wayTreesAdded counts them, and
    // checks src's own node is the same in both snapshots.
    const way = await wayTreesAdded(repo, native, String(second.json?.parent), String(second.json?.snapshot_id), src);
    expect(blobsAdded(second.json)).toBe(way.count);
    const { added, changed, removed } = repoChanges(before, await listRepo(repo));
    expect(changed).toEqual([]);
    expect(removed).toEqual([]);
    const snapshotsAdded = added.filter((f) => /^snapshots\/[0-9a-f]{64}$/.test(f));
    expect(snapshotsAdded).toHaveLength(1);
    // Trees on the way, when there are any, go in one pack and one index object.
    expect(added.filter((f) => !snapshotsAdded.includes(f)).map((f) => f.split('/')[0]).sort()).toEqual(way.count > 0 ? ['data', 'index'] : []);
  });

  it(`restores with the other primitives (ENGINE_NATIVE=${other}) what these wrote`, async () => {
    const target = join(work, 'restored-other');
    const restore = await runEngine(['restore', 'latest', '--repo', repo, '--target', target], { native: other });
    expect(restore.code, restore.stderr).toBe(0);
    expect(await compareTrees(src, join(target, src), { sparse: true })).toEqual([]);
  });

  it('restores only the included sub-paths', async () => {
    const target = join(work, 'restored-sub');
    const wanted = stats.paths.hardlinks[0].split('/')[0]!;
    const restore = await runEngine(['restore', 'latest', '--repo', repo, '--target', target, '--include', `src/${wanted}`], { native });
    expect(restore.code, restore.stderr).toBe(0);
    const diffs = await compareTrees(join(src, wanted), join(target, src, wanted));
    expect(diffs).toEqual([]);
    const all = await listRepo(join(target, src));
    for (const name of all.keys()) expect(name.startsWith(`${wanted}/`), name).toBe(true);
  });

  it('lists snapshots and files', async () => {
    const snaps = await runEngine(['snapshots', '--repo', repo, '--json'], { native });
    expect(snaps.code, snaps.stderr).toBe(0);
    const list = JSON.parse(snaps.stdout) as { id: string; paths: string[]; summary: { files_read: number } }[];
    expect(list.length).toBeGreaterThanOrEqual(2);
    expect(list[0]!.paths).toEqual([src]);
    const ls = await runEngine(['ls', list[0]!.id.slice(0, 8), '--repo', repo], { native });
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toContain(`${src}/${stats.paths.textFiles[0]}`);
    expect(ls.stdout.split('\n').filter((l) => l.startsWith(`${src}/`)).length).toBeGreaterThan(stats.files);
  });
});
