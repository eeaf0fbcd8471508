// Where a snapshot puts what it backs up: each path under its absolute path, as restic does
// (FORMAT.md "Layout of the root tree"). Two folders with the same last name back up together and
// restore side by side; the folders on the way keep their own metadata and nothing else; a path
// inside another is stored once; and a parent snapshot in the old last-name layout still spares
// the next backup from reading unchanged files.
import { execFileSync } from 'node:child_process';
import { chmod, lstat, mkdir, readdir, symlink, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { TreeNode } from '../../src/format/tree.js';
import { currentNative, runEngine, type RunResult } from '../support/cli.js';
import { saveForgedSnapshot } from '../support/forged-snapshot.js';
import { diffTrees } from '../support/tree.js';
import { workdirPerFile } from '../support/workdir.js';

const native = currentNative();

describe(`snapshot layout: absolute paths (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-layout-');
  let repo: string;
  let srvData: string;
  let homeData: string;
  const engine = (args: string[]): Promise<RunResult> => runEngine([...args, '--repo', repo], { native });

  beforeAll(async () => {
    repo = join(work, 'repo');
    srvData = join(work, 'srv', 'data');
    homeData = join(work, 'home', 'data');
    for (const [dir, text] of [
      [srvData, 'served\n'],
      [homeData, 'at home\n'],
    ] as const) {
      await mkdir(join(dir, 'sub'), { recursive: true });
      await writeFile(join(dir, 'file.txt'), text);
      await writeFile(join(dir, 'sub', 'inner.txt'), `${text}inner\n`);
    }
    // The folder on the way to /srv/data has metadata of its own, which the snapshot keeps.
    await writeFile(join(work, 'srv', 'not-asked-for.txt'), 'left out\n');
    await chmod(join(work, 'srv'), 0o750);
    await utimes(join(work, 'srv'), 1_600_000_000, 1_600_000_000);
    expect((await engine(['init'])).code).toBe(0);
  });

  it('two paths with one last name back up together and restore under their absolute paths, with the folders on the way', async () => {
    const b = await engine(['backup', srvData, homeData]);
    expect(b.code, b.stderr).toBe(0);
    const ls = await engine(['ls', 'latest']);
    const listed = ls.stdout.split('\n').filter((l) => l.startsWith('/'));
    expect(listed).toContain(`${srvData}/file.txt`);
    expect(listed).toContain(`${homeData}/sub/inner.txt`);
    // The folders on the way hold only the way: nothing else of /srv is stored.
    expect(listed).toContain(`${join(work, 'srv')}/`);
    expect(listed).not.toContain(`${join(work, 'srv')}/not-asked-for.txt`);

    const target = join(work, 'restore-all');
    const r = await engine(['restore', 'latest', '--target', target]);
    expect(r.code, r.stderr).toBe(0);
    expect(await diffTrees(srvData, join(target, srvData))).toEqual([]);
    expect(await diffTrees(homeData, join(target, homeData))).toEqual([]);
    expect(await readdir(join(target, work, 'srv'))).toEqual(['data']);
    const way = await lstat(join(target, work, 'srv'));
    expect(way.mode & 0o7777).toBe(0o750);
    expect(Math.floor(way.mtimeMs / 1000)).toBe(1_600_000_000);

    // ID:/folder restores one of them on its own, its content straight into the target.
    const one = join(work, 'restore-one');
    const o = await engine(['restore', `latest:${homeData}`, '--target', one]);
    expect(o.code, o.stderr).toBe(0);
    expect(await diffTrees(homeData, one)).toEqual([]);
  });

  it('a path inside another is taken whatever would leave it out of the outer one: another filesystem under -x, a tag file on the way, the outer path a link', async () => {
    const outer = join(work, 'outer');
    const mnt = join(outer, 'mnt');
    await mkdir(join(outer, 'skipped', 'keep'), { recursive: true });
    await mkdir(mnt, { recursive: true });
    await writeFile(join(outer, 'top.txt'), 'top\n');
    await writeFile(join(outer, 'skipped', 'gone.txt'), 'left out\n');
    await writeFile(join(outer, 'skipped', 'keep', 'kept.txt'), 'kept\n');
    await writeFile(join(outer, 'skipped', '.nobackup'), '');
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt]);
    try {
      await writeFile(join(mnt, 'on-tmpfs.txt'), 'another filesystem\n');
      // restic's idiom: -x for the root filesystem, and each other filesystem named.
      const b = await engine(['backup', '-x', '--exclude-if-present', '.nobackup', outer, mnt, join(outer, 'skipped', 'keep')]);
      expect(b.code, b.stderr).toBe(0);
      const listed = (await engine(['ls', 'latest'])).stdout.split('\n');
      expect(listed).toContain(`${outer}/top.txt`);
      expect(listed).toContain(`${mnt}/on-tmpfs.txt`);
      expect(listed).toContain(`${outer}/skipped/keep/kept.txt`);
      expect(listed).not.toContain(`${outer}/skipped/gone.txt`);
      // Without the inner path, -x stores the mount point empty: the inner path is what took it.
      const alone = await engine(['backup', '-x', outer]);
      expect(alone.code, alone.stderr).toBe(0);
      const aloneListed = (await engine(['ls', 'latest'])).stdout.split('\n');
      expect(aloneListed).toContain(`${mnt}/`);
      expect(aloneListed).not.toContain(`${mnt}/on-tmpfs.txt`);
    } finally {
      execFileSync('umount', [mnt]);
    }
    // The outer path a link to a folder: the link leads to the inner path, stored as a folder.
    const real = join(work, 'real');
    await mkdir(join(real, 'b'), { recursive: true });
    await writeFile(join(real, 'b', 'f.txt'), 'through a link\n');
    await symlink(real, join(work, 'link'));
    const viaLink = await engine(['backup', join(work, 'link'), join(work, 'link', 'b')]);
    expect(viaLink.code, viaLink.stderr).toBe(0);
    expect((await engine(['ls', 'latest'])).stdout.split('\n')).toContain(`${join(work, 'link')}/b/f.txt`);
  });

  it('--skip-if-unchanged with a --parent that holds other paths saves a snapshot', async () => {
    const both = await engine(['backup', '--json', srvData, homeData]);
    expect(both.code, both.stderr).toBe(0);
    const one = await engine(['backup', '--json', '--skip-if-unchanged', '--parent', String(both.json?.snapshot_id).slice(0, 8), srvData]);
    expect(one.code, one.stderr).toBe(0);
    expect(one.json?.skipped).toBe(false);
  });

  it('a path inside another backed-up path is stored once, inside the outer one', async () => {
    const b = await engine(['backup', join(work, 'srv'), srvData, join(srvData, 'sub')]);
    expect(b.code, b.stderr).toBe(0);
    const ls = await engine(['ls', 'latest']);
    const listed = ls.stdout.split('\n').filter((l) => l.startsWith('/'));
    expect(listed.filter((l) => l === `${srvData}/sub/inner.txt`)).toHaveLength(1);
    expect(listed).toContain(`${join(work, 'srv')}/not-asked-for.txt`);
  });

  it("a parent snapshot in the old layout (each path under its last name at the top) still spares the next backup from reading unchanged files", async () => {
    const first = await engine(['backup', '--json', srvData]);
    expect(first.code, first.stderr).toBe(0);
    const snapshotId = (JSON.parse(first.stdout.trim().split('\n').pop()!) as { snapshot_id: string }).snapshot_id;
    // What an engine before the absolute-path layout wrote: the same snapshot with the node of
    // the backed-up folder at the top of the root tree.
    const way = JSON.parse((await engine(['cat', 'tree', `${snapshotId}:${dirname(srvData)}`])).stdout) as { nodes: TreeNode[] };
    const dataNode = way.nodes.find((n) => n.name === 'data')!;
    expect(dataNode.type).toBe('dir');
    const legacy = await saveForgedSnapshot(repo, native, snapshotId, [dataNode], (o) => ({ time: new Date(Date.parse(o.time) + 60_000).toISOString() }));

    // An old snapshot restores as it was written: under the last name.
    const target = join(work, 'restore-legacy');
    const restored = await engine(['restore', legacy, '--target', target]);
    expect(restored.code, restored.stderr).toBe(0);
    expect(await diffTrees(srvData, join(target, 'data'))).toEqual([]);

    const next = await engine(['backup', '--json', '--parent', legacy, srvData]);
    expect(next.code, next.stderr).toBe(0);
    const summary = JSON.parse(next.stdout.trim().split('\n').pop()!) as { snapshot_id: string; files_new: number; files_changed: number; files_unmodified: number };
    expect(summary).toMatchObject({ files_new: 0, files_changed: 0, files_unmodified: 2 });
    // And the new snapshot is in the new layout.
    const ls = await engine(['ls', summary.snapshot_id]);
    expect(ls.stdout.split('\n')).toContain(`${srvData}/sub/inner.txt`);
  });
});
