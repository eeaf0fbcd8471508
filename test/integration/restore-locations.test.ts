// Restore reads a blob from its other indexed locations when the first fails (issue 12 point 5,
// restore side), through the real CLI on real files: every data pack of a snapshot is copied under
// a new pack id and listed in an extra index object, so each data blob is indexed in two packs.
// - the pack `lookup` names first is deleted, or one of its blobs corrupted: the restore is
//   byte-identical and exits 0, with one warning naming the pack;
// - both copies gone: the file is named damaged (exit 4).
import { randomBytes } from 'node:crypto';
import { copyFile, mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { workdirPerFile } from '../support/workdir.js';
import { loadPrimitives } from '../../native-bindings/index.js';
import { LocalBackend } from '../../src/backend/local/local-backend.js';
import type { BlobId, PackId } from '../../src/format/ids.js';
import { decodeIndex, type IndexPack } from '../../src/format/index-file.js';
import { indexName, packName } from '../../src/repository/layout.js';
import { Repository } from '../../src/repository/repository.js';
import { treeEntries } from '../../src/repository/tree-stream.js';
import { TEST_PASSWORD, currentNative, runEngine } from '../support/cli.js';

const native = currentNative();

async function openRepo(path: string): Promise<Repository> {
  const { primitives } = await loadPrimitives(native === 'off' ? 'fallback' : 'auto');
  return Repository.open(new LocalBackend(path), primitives, new TextEncoder().encode(TEST_PASSWORD));
}

/**
 * The data blobs of file `name` in the backed-up folder `src`, which the snapshot holds under its
 * absolute path (each component of `src` a folder on the way).
 */
async function fileBlobs(r: Repository, src: string, name: string): Promise<BlobId[]> {
  const index = await r.loadIndex();
  const { snapshot } = await r.resolveSnapshot('latest');
  let tree = snapshot.tree;
  for (const component of src.split('/').filter((c) => c !== '')) {
    let next: typeof tree | undefined;
    for await (const n of treeEntries(r, index, tree)) if (n.name === component && n.type === 'dir') next = n.subtree!;
    if (next === undefined) throw new Error(`${src} not in the snapshot (no ${component})`);
    tree = next;
  }
  for await (const n of treeEntries(r, index, tree)) if (n.name === name) return [...(n.content ?? [])];
  throw new Error(`${name} not in the snapshot`);
}

/**
 * Copies every pack holding one of `blobs` under a new id and stores an index object listing the
 * copies: each blob is then indexed in two packs. Returns the copies' ids.
 */
async function duplicatePacks(repoPath: string, blobs: BlobId[]): Promise<PackId[]> {
  const r = await openRepo(repoPath);
  const wanted = new Set(blobs);
  const copies: IndexPack[] = [];
  for (const id of await r.listIndexIds()) {
    for (const p of decodeIndex(await r.loadUnpacked(indexName(id)), id).packs) {
      if (!p.blobs.some((b) => wanted.has(b.id))) continue;
      const copy = randomBytes(32).toString('hex') as PackId;
      await mkdir(join(repoPath, packName(copy), '..'), { recursive: true });
      await copyFile(join(repoPath, packName(p.packId)), join(repoPath, packName(copy)));
      copies.push({ packId: copy, blobs: p.blobs });
    }
  }
  await r.saveIndexObject({ supersedes: [], packs: copies });
  return copies.map((c) => c.packId);
}

/** The pack each blob is read from first (what the restore plans before any failure). */
async function firstPacks(repoPath: string, blobs: BlobId[]): Promise<Map<PackId, BlobId[]>> {
  const index = await (await openRepo(repoPath)).loadIndex();
  const out = new Map<PackId, BlobId[]>();
  for (const id of blobs) {
    const loc = index.lookup(id)!;
    expect(index.lookupAll(id)).toHaveLength(2);
    out.set(loc.packId, [...(out.get(loc.packId) ?? []), id]);
  }
  return out;
}

describe(`restore from a blob's other locations (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-locations-');
  let n = 0;

  /** A repository with one backup of `src` (a 3 MiB file of several blobs, and a small one), every data blob in two packs. */
  async function setup(): Promise<{ repo: string; src: string; big: Buffer; blobs: BlobId[]; copies: PackId[] }> {
    const dir = join(work, `case-${n++}`);
    const repo = join(dir, 'repo');
    const src = join(dir, 'src');
    await mkdir(src, { recursive: true });
    const big = randomBytes(3 << 20);
    await writeFile(join(src, 'big'), big);
    await writeFile(join(src, 'small'), 'small\n');
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
    const backup = await runEngine(['backup', '--repo', repo, src], { native });
    expect(backup.code, backup.stderr).toBe(0);
    const r = await openRepo(repo);
    const blobs = [...(await fileBlobs(r, src, 'big')), ...(await fileBlobs(r, src, 'small'))];
    expect(blobs.length).toBeGreaterThan(1);
    const copies = await duplicatePacks(repo, blobs);
    return { repo, src, big, blobs, copies };
  }

  const restore = (repo: string, target: string) => runEngine(['restore', 'latest', '--repo', repo, '--target', target], { native });

  it('the first pack missing: read from the second, byte-identical, exit 0, one warning naming the pack', async () => {
    const { repo, src, big, blobs } = await setup();
    const first = await firstPacks(repo, blobs);
    for (const packId of first.keys()) await rm(join(repo, packName(packId)));
    const target = join(repo, '..', 'target');
    const r = await restore(repo, target);
    expect(r.code, r.stderr).toBe(0);
    expect((await readFile(join(target, src, 'big'))).equals(big)).toBe(true);
    expect(await readFile(join(target, src, 'small'), 'utf8')).toBe('small\n');
    for (const packId of first.keys()) expect(r.stderr.split('\n').filter((l) => l.includes(`cannot read pack ${packId}`))).toHaveLength(1);
    expect(r.stderr).not.toMatch(/damaged|not restored/);
  });

  it('a blob corrupted in its first pack: read from the other copy, byte-identical, exit 0', async () => {
    const { repo, src, big, blobs } = await setup();
    const index = await (await openRepo(repo)).loadIndex();
    // One byte flipped in the middle of each blob where it is read first.
    for (const id of blobs) {
      const loc = index.lookup(id)!;
      const fh = await open(join(repo, packName(loc.packId)), 'r+');
      try {
        const at = loc.offset + Math.floor(loc.length / 2);
        const b = Buffer.alloc(1);
        await fh.read(b, 0, 1, at);
        b[0] = b[0]! ^ 0xff;
        await fh.write(b, 0, 1, at);
      } finally {
        await fh.close();
      }
    }
    const target = join(repo, '..', 'target');
    const r = await restore(repo, target);
    expect(r.code, r.stderr).toBe(0);
    expect((await readFile(join(target, src, 'big'))).equals(big)).toBe(true);
    expect(await readFile(join(target, src, 'small'), 'utf8')).toBe('small\n');
    expect(r.stderr).toMatch(/is damaged \(authentication failed\); it is read from another pack that holds it/);
  });

  it('both copies gone: the file is named damaged, exit 4', async () => {
    const { repo, src, blobs, copies } = await setup();
    const bigBlobs = new Set(await fileBlobs(await openRepo(repo), src, 'big'));
    const first = await firstPacks(repo, blobs);
    // Every pack holding a blob of `big`, in both copies (`small` may share one: then it is damaged too).
    const index = await (await openRepo(repo)).loadIndex();
    const gone = new Set<PackId>();
    for (const id of bigBlobs) for (const loc of index.lookupAll(id)) gone.add(loc.packId);
    expect([...first.keys()].every((p) => gone.has(p) || !first.get(p)!.some((b) => bigBlobs.has(b)))).toBe(true);
    expect(copies.some((c) => gone.has(c))).toBe(true);
    for (const packId of gone) await rm(join(repo, packName(packId)));
    const target = join(repo, '..', 'target');
    const r = await restore(repo, target);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain(join(target, src, 'big'));
    expect(r.stderr).toMatch(/other copy of blob [0-9a-f]{64} failed too/);
  });
});
