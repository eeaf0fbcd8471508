// `engine check` as a user runs it: a sound repository passes; a flipped bit in each kind of object
// (pack data, pack header, index, tree, snapshot, config, key), a deleted pack and a junk object
// are each reported naming the object, with exit 4 for damage and 0 for mere warnings.
import { cp, readdir, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { workdirPerFile } from '../support/workdir.js';
import { loadPrimitives } from '../../native-bindings/index.js';
import { LocalBackend } from '../../src/backend/local/local-backend.js';
import type { BlobId, PackId } from '../../src/format/ids.js';
import { packName } from '../../src/repository/layout.js';
import { Repository } from '../../src/repository/repository.js';
import { currentNative, runEngine, TEST_PASSWORD } from '../support/cli.js';
import { dataPacks, flipByte } from '../support/repo-files.js';
import { makeTree } from '../support/tree.js';

const native = currentNative();

async function firstFile(dir: string): Promise<string> {
  const names = (await readdir(dir)).sort();
  expect(names.length).toBeGreaterThan(0);
  return join(dir, names[0]!);
}

interface Layout {
  /** A data blob: its pack and where it sits. */
  data: { packId: PackId; offset: number; length: number; id: string };
  /** The root tree blob. */
  tree: { packId: PackId; offset: number; id: string };
  snapshotId: string;
}

/** Where things are, found with the real classes (what a user could not see without the key). */
async function layoutOf(repo: string): Promise<Layout> {
  const { primitives } = await loadPrimitives('auto');
  const r = await Repository.open(new LocalBackend(repo), primitives, new TextEncoder().encode(TEST_PASSWORD));
  const index = await r.loadIndex();
  const { id, snapshot } = await r.resolveSnapshot('latest');
  const treeLoc = index.lookup(snapshot.tree)!;
  // The first file with content, depth first.
  const firstBlob = async (treeId: BlobId): Promise<BlobId | undefined> => {
    for (const n of (await r.loadTree(index, treeId)).nodes) {
      if (n.type === 'file' && n.content?.[0]) return n.content[0];
      if (n.type === 'dir' && n.subtree) {
        const found = await firstBlob(n.subtree);
        if (found) return found;
      }
    }
    return undefined;
  };
  const blob = (await firstBlob(snapshot.tree))!;
  const dataLoc = index.lookup(blob)!;
  return { data: { packId: dataLoc.packId, offset: dataLoc.offset, length: dataLoc.length, id: blob }, tree: { packId: treeLoc.packId, offset: treeLoc.offset, id: snapshot.tree }, snapshotId: id };
}

describe(`engine check (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-check-');
  let repo: string;
  let layout: Layout;
  let copies = 0;

  beforeAll(async () => {
    repo = join(work, 'repo');
    const src = join(work, 'src');
    await makeTree(src, { seed: 11, smallFiles: 40 });
    expect((await runEngine(['init', '--repo', repo, '--pack-size', '1M'], { native })).code).toBe(0);
    const b = await runEngine(['backup', '--repo', repo, src], { native });
    expect(b.code, b.stderr).toBe(0);
    layout = await layoutOf(repo);
  });

  /** A copy of the sound repository for one test to damage. */
  async function damaged(): Promise<string> {
    const copy = join(work, `copy-${++copies}`);
    await cp(repo, copy, { recursive: true });
    return copy;
  }

  const check = (r: string, ...extra: string[]) => runEngine(['check', '--repo', r, ...extra], { native });

  it('passes a sound repository, with and without reading the data, and says what it checked', async () => {
    const s = await check(repo);
    expect(s.code, s.stderr + s.stdout).toBe(0);
    expect(s.stdout).toContain('no errors were found');
    const d = await check(repo, '--read-data', '--json');
    expect(d.code, d.stderr + d.stdout).toBe(0);
    const packs = (await dataPacks(repo)).length;
    expect(packs).toBeGreaterThan(2);
    expect(d.json).toMatchObject({ message_type: 'summary', num_errors: 0, num_warnings: 0, broken_packs: [], snapshots: 1, packs, packs_read: packs });
    expect(Number(d.json?.blobs_read)).toBeGreaterThan(packs);
  });

  it('a flipped bit in pack data passes the structure check and is found by --read-data, naming the pack and the blob', async () => {
    const r = await damaged();
    await flipByte(join(r, packName(layout.data.packId)), layout.data.offset + Math.floor(layout.data.length / 2));
    expect((await check(r)).code).toBe(0);
    const d = await check(r, '--read-data');
    expect(d.code, d.stdout).toBe(4);
    expect(d.stdout).toContain(`error: ${packName(layout.data.packId)}: contents do not match the name`);
    expect(d.stdout).toContain(`data blob ${layout.data.id} fails authentication`);
  });

  it('--read-data-subset 1/2 and 2/2 read every pack between them, and exactly one finds the damage', async () => {
    const r = await damaged();
    await flipByte(join(r, packName(layout.data.packId)), layout.data.offset + 1);
    const halves = [await check(r, '--read-data-subset', '1/2', '--json'), await check(r, '--read-data-subset', '2/2', '--json')];
    const read = halves.map((h) => Number(h.json?.packs_read));
    expect(read[0]! + read[1]!).toBe((await dataPacks(r)).length);
    expect(halves.map((h) => h.code).sort()).toEqual([0, 4]);
    const some = await check(r, '--read-data-subset', '50%', '--json');
    expect(Number(some.json?.packs_read)).toBe(Math.round((await dataPacks(r)).length / 2));
    for (const bad of ['0/2', '3/2', '1/0', '0%', '101%', 'half']) {
      const u = await check(r, '--read-data-subset', bad);
      expect(u.code, bad).toBe(2);
      expect(u.stderr).toContain('--read-data-subset');
    }
  });

  it('a flipped bit in a pack header is found by the structure check, naming the pack', async () => {
    const r = await damaged();
    const file = join(r, packName(layout.data.packId));
    await flipByte(file, (await stat(file)).size - 10);
    const s = await check(r);
    expect(s.code, s.stdout).toBe(4);
    expect(s.stdout).toContain(`error: ${packName(layout.data.packId)}:`);
    expect(s.stdout).toMatch(/authentication failed/);
  });

  it('a flipped bit in a tree names the tree and its pack', async () => {
    const r = await damaged();
    await flipByte(join(r, packName(layout.tree.packId)), layout.tree.offset + 5);
    const s = await check(r);
    expect(s.code, s.stdout).toBe(4);
    expect(s.stdout).toContain(`error: tree ${layout.tree.id}:`);
    expect(s.stdout).toContain(layout.tree.packId);
  });

  it('a flipped bit in an index object, a snapshot or a key file names that object', async () => {
    for (const dir of ['index', 'snapshots']) {
      const r = await damaged();
      const file = await firstFile(join(r, dir));
      await flipByte(file, 40);
      const s = await check(r);
      expect(s.code, `${dir}: ${s.stdout}`).toBe(4);
      expect(s.stdout).toContain(`error: ${dir}/${file.slice(file.lastIndexOf('/') + 1)}: contents do not match the object's name`);
    }
    // The only key file damaged: the repository cannot be opened, and the error says why.
    const r = await damaged();
    const key = await firstFile(join(r, 'keys'));
    await flipByte(key, 30);
    const s = await check(r);
    expect(s.code, s.stderr).toBe(4);
    expect(s.stderr).toContain(`keys/${key.slice(key.lastIndexOf('/') + 1)}`);
    expect(s.stderr).toContain('damaged');
  });

  it('a flipped bit in the config: exit 4 naming the config', async () => {
    const r = await damaged();
    await flipByte(join(r, 'config'), 30);
    const s = await check(r);
    expect(s.code, s.stderr).toBe(4);
    expect(s.stderr).toMatch(/config: authentication failed/);
  });

  it('a deleted pack is reported missing with what it held; a junk object under data/ is a warning until its data is read', async () => {
    const r = await damaged();
    await unlink(join(r, packName(layout.data.packId)));
    const s = await check(r);
    expect(s.code, s.stdout).toBe(4);
    expect(s.stdout).toContain(`error: ${packName(layout.data.packId)}: is missing`);
    expect(s.stdout).toContain(`error: data blob ${layout.data.id}:`);

    const j = await damaged();
    const junkId = 'ab'.repeat(32);
    await writeFile(join(j, 'data', 'ab', junkId), Buffer.alloc(1000, 7)).catch(async () => {
      const { mkdir } = await import('node:fs/promises');
      await mkdir(join(j, 'data', 'ab'), { recursive: true });
      await writeFile(join(j, 'data', 'ab', junkId), Buffer.alloc(1000, 7));
    });
    const w = await check(j);
    expect(w.code, w.stdout + w.stderr).toBe(0);
    expect(w.stderr).toContain(`data/ab/${junkId}: is in no index`);
    const d = await check(j, '--read-data');
    expect(d.code).toBe(4);
    expect(d.stdout).toContain(`error: data/ab/${junkId}: contents do not match the name`);
  });
});
