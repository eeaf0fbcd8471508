// A lost pack, as a user meets it: check names it; `repair index` and `repair snapshots` make the
// repository pass `check --read-data`; every file not in the lost pack restores identical, the
// lost ones are listed by repair; the next backup stores the lost data again. A damaged index
// object is rebuilt by `repair index`.
import { open, readFile, readdir, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { workdirPerFile } from '../support/workdir.js';
import { loadPrimitives } from '../../native-bindings/index.js';
import { LocalBackend } from '../../src/backend/local/local-backend.js';
import { BlobType, type BlobId, type PackId } from '../../src/format/ids.js';
import { packName } from '../../src/repository/layout.js';
import { Repository } from '../../src/repository/repository.js';
import { currentNative, runEngine, TEST_PASSWORD } from '../support/cli.js';
import { compareTrees, diffTrees, makeTree } from '../support/tree.js';

const native = currentNative();

/** A data pack, and the files (relative to the backed-up folder `src`) that have a blob in it. */
async function victim(repoDir: string, src: string): Promise<{ packId: PackId; lost: string[] }> {
  const { primitives } = await loadPrimitives('auto');
  const repo = await Repository.open(new LocalBackend(repoDir), primitives, new TextEncoder().encode(TEST_PASSWORD));
  const index = await repo.loadIndex();
  const { snapshot } = await repo.resolveSnapshot('latest');
  const files: { path: string; blobs: BlobId[] }[] = [];
  const walk = async (tree: BlobId, prefix: string): Promise<void> => {
    for (const n of (await repo.loadTree(index, tree)).nodes) {
      if (n.type === 'dir' && n.subtree) await walk(n.subtree, `${prefix}${n.name}/`);
      else if (n.type === 'file' && n.content?.length) files.push({ path: `${prefix}${n.name}`, blobs: n.content });
    }
  };
  // The snapshot stores `src` under its absolute path: follow it down from the root tree.
  let tree = snapshot.tree;
  for (const name of src.split('/').filter((c) => c !== '')) {
    const node = (await repo.loadTree(index, tree)).nodes.find((n) => n.name === name);
    expect(node?.type, `${name} on the way to ${src}`).toBe('dir');
    tree = node!.subtree!;
  }
  await walk(tree, '');
  // The data pack that the most files use: a real loss.
  const uses = new Map<PackId, Set<string>>();
  for (const f of files) {
    for (const b of f.blobs) {
      const loc = index.lookup(b)!;
      expect(loc.type).toBe(BlobType.DATA);
      const set = uses.get(loc.packId) ?? new Set<string>();
      set.add(f.path);
      uses.set(loc.packId, set);
    }
  }
  const [packId, lost] = [...uses.entries()].sort((a, b) => b[1].size - a[1].size)[0]!;
  return { packId, lost: [...lost].sort() };
}

describe(`repair (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-repair-');
  let src: string;

  beforeAll(async () => {
    src = join(work, 'src');
    await makeTree(src, { seed: 51, smallFiles: 120, scale: 0.4 });
  });

  it('a deleted pack: repair index and repair snapshots make check pass; every other file restores identical; the next backup stores the lost data again', async () => {
    const repo = join(work, 'repo-lost');
    expect((await runEngine(['init', '--repo', repo, '--pack-size', '1M'], { native })).code).toBe(0);
    // Two snapshots of the same tree: they share every tree, and each must have its losses reported.
    for (let i = 0; i < 2; i++) {
      const b = await runEngine(['backup', '--repo', repo, src], { native });
      expect(b.code, b.stderr).toBe(0);
    }
    const { packId, lost } = await victim(repo, src);
    expect(lost.length).toBeGreaterThan(0);
    await unlink(join(repo, packName(packId)));

    const c1 = await runEngine(['check', '--repo', repo], { native });
    expect(c1.code).toBe(4);
    expect(c1.stdout).toContain(`${packName(packId)}: is missing`);
    // Snapshots cannot be repaired against an index that still names the lost pack.
    const early = await runEngine(['repair', 'snapshots', '--repo', repo], { native });
    expect(early.code, early.stderr).toBe(4);
    expect(early.stderr).toContain('repair index');

    const ri = await runEngine(['repair', 'index', '--repo', repo], { native });
    expect(ri.code, ri.stderr).toBe(0);
    const c2 = await runEngine(['check', '--repo', repo], { native });
    expect(c2.code, 'the snapshot still references the lost blobs').toBe(4);

    const dry = await runEngine(['repair', 'snapshots', '--repo', repo, '--dry-run'], { native });
    expect(dry.code, dry.stderr).toBe(0);
    const damagedSnapshots = await readdir(join(repo, 'snapshots'));
    const originals = new Map<string, Buffer>();
    for (const name of damagedSnapshots) originals.set(name, await readFile(join(repo, 'snapshots', name)));
    const rs = await runEngine(['repair', 'snapshots', '--repo', repo, '--json'], { native });
    expect(rs.code, rs.stderr).toBe(0);
    const messages = rs.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { message_type: string; path?: string; snapshot?: string });
    for (const snap of damagedSnapshots) {
      const reported = messages
        .filter((m) => m.message_type === 'lost' && m.snapshot === snap)
        .map((m) => (m.path!.startsWith(`${src}/`) ? m.path!.slice(src.length + 1) : m.path!))
        .sort();
      expect(reported, `losses reported for ${snap}`).toEqual(lost);
    }
    expect(rs.json).toMatchObject({ message_type: 'summary', lostPaths: 2 * lost.length });
    expect(await readdir(join(repo, 'snapshots'))).toHaveLength(2);

    // As if a repair had been killed after saving the repaired snapshots but before removing the
    // originals: a second run removes them and saves no second repaired copy.
    for (const [name, bytes] of originals) await writeFile(join(repo, 'snapshots', name), bytes);
    const rerun = await runEngine(['repair', 'snapshots', '--repo', repo], { native });
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(await readdir(join(repo, 'snapshots'))).toHaveLength(2);

    const c3 = await runEngine(['check', '--repo', repo, '--read-data'], { native });
    expect(c3.code, c3.stdout + c3.stderr).toBe(0);
    const snaps = JSON.parse((await runEngine(['snapshots', '--repo', repo, '--json'], { native })).stdout) as { tags: string[]; original?: string }[];
    expect(snaps).toHaveLength(2);
    for (const x of snaps) expect(x.tags).toContain('repaired');
    // Each names the snapshot it replaced, as restic's repair does.
    expect(snaps.map((x) => x.original).sort()).toEqual([...originals.keys()].sort());

    const target = join(work, 'restore-lost');
    const r = await runEngine(['restore', 'latest', '--repo', repo, '--target', target], { native });
    expect(r.code, r.stderr).toBe(0);
    const diffs = await diffTrees(src, join(target, src));
    expect(diffs.filter((d) => d.kind !== 'missing')).toEqual([]);
    expect(diffs.map((d) => d.path).sort()).toEqual(lost);

    // The lost data is no longer in the index: the next backup stores it again, whole.
    const again = await runEngine(['backup', '--repo', repo, src], { native });
    expect(again.code, again.stderr).toBe(0);
    expect((await runEngine(['check', '--repo', repo, '--read-data'], { native })).code).toBe(0);
    const full = join(work, 'restore-full');
    expect((await runEngine(['restore', 'latest', '--repo', repo, '--target', full], { native })).code).toBe(0);
    expect(await compareTrees(src, join(full, src))).toEqual([]);
  }, 180_000);

  it('a pack whose header is damaged keeps its entries from the old index through repair index: nothing restorable is lost', async () => {
    const repo = join(work, 'repo-header');
    expect((await runEngine(['init', '--repo', repo, '--pack-size', '1M'], { native })).code).toBe(0);
    expect((await runEngine(['backup', '--repo', repo, src], { native })).code).toBe(0);
    const { packId } = await victim(repo, src);
    const file = join(repo, packName(packId));
    const fh = await open(file, 'r+');
    const size = (await fh.stat()).size;
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, size - 10);
    b[0] = b[0]! ^ 0x55;
    await fh.write(b, 0, 1, size - 10);
    await fh.close();
    const ri = await runEngine(['repair', 'index', '--repo', repo, '--json'], { native });
    expect(ri.code, ri.stderr).toBe(0);
    expect(ri.json).toMatchObject({ unreadable: [{ packId, keptFromOldIndex: true }] });
    const target = join(work, 'restore-header');
    const r = await runEngine(['restore', 'latest', '--repo', repo, '--target', target], { native });
    expect(r.code, r.stderr).toBe(0);
    expect(await compareTrees(src, join(target, src))).toEqual([]);
  }, 120_000);

  it('a damaged index object: repair index rebuilds it from the packs and check passes', async () => {
    const repo = join(work, 'repo-index');
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
    expect((await runEngine(['backup', '--repo', repo, src], { native })).code).toBe(0);
    const indexDir = join(repo, 'index');
    const name = (await readdir(indexDir)).sort()[0]!;
    // Flip bits of one byte (a write of a fixed value would change nothing 1 time in 256).
    const fh = await open(join(indexDir, name), 'r+');
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, 20);
    b[0] = b[0]! ^ 0x55;
    await fh.write(b, 0, 1, 20);
    await fh.close();
    expect((await runEngine(['check', '--repo', repo], { native })).code).toBe(4);
    const ri = await runEngine(['repair', 'index', '--repo', repo, '--json'], { native });
    expect(ri.code, ri.stderr).toBe(0);
    expect(ri.json).toMatchObject({ unreadable: [] });
    expect(await readdir(indexDir)).not.toContain(name);
    const c = await runEngine(['check', '--repo', repo, '--read-data'], { native });
    expect(c.code, c.stdout + c.stderr).toBe(0);
    const target = join(work, 'restore-index');
    expect((await runEngine(['restore', 'latest', '--repo', repo, '--target', target], { native })).code).toBe(0);
    expect(await compareTrees(src, join(target, src))).toEqual([]);
  }, 120_000);
});
