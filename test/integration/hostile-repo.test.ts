// The repository's contents must not lock the owner out or break restores (issue 12, points 5
// and 6), tried as a user would (CLI subprocesses, real files):
// - index objects of before a prune, copied back (an rsync without --delete, or anyone who can
//   write to the storage): restore (cold and warm index cache) is byte-identical, check passes
//   with a warning, and the next prune deletes them;
// - a planted key file with 4 GiB of Argon2id memory, or a malformed one, is skipped with a
//   warning naming it; a planted key with the most memory init accepts and many passes is tried
//   after the real one (the order shows in --verbose).
import { randomBytes } from 'node:crypto';
import { cp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { workdirPerFile } from '../support/workdir.js';
import { loadPrimitives } from '../../native-bindings/index.js';
import { LocalBackend } from '../../src/backend/local/local-backend.js';
import type { PackId } from '../../src/format/ids.js';
import { decodeIndex } from '../../src/format/index-file.js';
import { indexName } from '../../src/repository/layout.js';
import { MasterIndex } from '../../src/repository/master-index.js';
import { Repository } from '../../src/repository/repository.js';
import { TEST_PASSWORD, currentNative, runEngine } from '../support/cli.js';
import { compareTrees } from '../support/tree.js';

const native = currentNative();

describe(`a hostile or stale repository (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-hostile-');

  it('index objects of before a prune, copied back: restore is byte-identical, check passes, prune deletes them', async () => {
    const repo = join(work, 'repo-supersedes');
    const src = join(work, 'src-supersedes');
    const cacheHome = join(work, 'cache-supersedes');
    const env = { native, env: { XDG_CACHE_HOME: cacheHome } };
    await mkdir(src, { recursive: true });
    expect((await runEngine(['init', '--repo', repo, '--pack-size', '1M'], env)).code).toBe(0);
    // Each backup stores a file kept to the end beside one that only its snapshot holds, in the
    // same pack (each below the smallest chunk: one blob each). Forgetting all but the last
    // snapshot leaves every older pack partly used: prune repacks them, and the index objects
    // written by those backups name packs that no longer exist.
    const generations = 5;
    for (let i = 0; i < generations; i++) {
      await writeFile(join(src, `keep-${i}.bin`), randomBytes(100_000));
      await writeFile(join(src, `drop-${i}.bin`), randomBytes(300_000));
      const b = await runEngine(['backup', '--repo', repo, src], env);
      expect(b.code, b.stderr).toBe(0);
      if (i < generations - 1) await rm(join(src, `drop-${i}.bin`));
    }
    const oldIndex = join(work, 'index-before-prune');
    await cp(join(repo, 'index'), oldIndex, { recursive: true });
    const oldNames = await readdir(oldIndex);

    const f = await runEngine(['forget', '--repo', repo, '--keep-last', '1', '--prune', '--max-unused', '0%', '--json'], env);
    expect(f.code, f.stderr).toBe(0);
    const newNames = (await readdir(join(repo, 'index'))).filter((n) => !oldNames.includes(n));
    expect(newNames.length).toBeGreaterThan(0);
    expect((await readdir(join(repo, 'index'))).some((n) => oldNames.includes(n))).toBe(false);

    // An rsync without --delete brings the old index objects back.
    await cp(oldIndex, join(repo, 'index'), { recursive: true });

    // Cold index (no cache), then the cache of the previous commands (incremental open), then warm.
    for (const extra of [['--no-cache'], [], []]) {
      const target = join(work, `restore-${Math.random().toString(36).slice(2, 8)}`);
      const r = await runEngine(['restore', 'latest', '--repo', repo, '--target', target, ...extra], env);
      expect(r.code, r.stderr).toBe(0);
      expect(await compareTrees(src, join(target, src))).toEqual([]);
    }

    const c = await runEngine(['check', '--repo', repo, '--read-data'], env);
    expect(c.code, c.stdout + c.stderr).toBe(0);
    expect(c.stdout + c.stderr).toContain('superseded');

    // prune deletes the superseded objects, and nothing else goes.
    const p = await runEngine(['prune', '--repo', repo, '--json'], env);
    expect(p.code, p.stderr).toBe(0);
    const left = await readdir(join(repo, 'index'));
    expect(left.some((n) => oldNames.includes(n))).toBe(false);
    const c2 = await runEngine(['check', '--repo', repo], env);
    expect(c2.code, c2.stdout + c2.stderr).toBe(0);
    expect(c2.stdout + c2.stderr).not.toContain('superseded');
  }, 240_000);

  it('a blob indexed in two packs is read from the second when the first is missing', async () => {
    const repo = join(work, 'repo-two-locations');
    const src = join(work, 'src-two-locations');
    await mkdir(src, { recursive: true });
    await writeFile(join(src, 'a.txt'), 'alpha\n');
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
    expect((await runEngine(['backup', '--repo', repo, src], { native })).code).toBe(0);
    const { primitives } = await loadPrimitives(native === 'off' ? 'fallback' : 'auto');
    const r = await Repository.open(new LocalBackend(repo), primitives, new TextEncoder().encode(TEST_PASSWORD));
    const stored = await r.loadIndex();
    const { snapshot } = await r.resolveSnapshot('latest');
    const real = stored.lookup(snapshot.tree)!;
    // An index that lists the tree first in a pack that is not there, then where it is.
    const index = new MasterIndex();
    const gone = randomBytes(32).toString('hex') as PackId;
    index.add(null, { supersedes: [], packs: [{ packId: gone, blobs: [{ id: snapshot.tree, type: real.type, offset: real.offset, length: real.length, rawLength: real.rawLength }] }] });
    for (const id of await r.listIndexIds()) index.add(id, decodeIndex(await r.loadUnpacked(indexName(id)), id));
    expect(index.lookup(snapshot.tree)?.packId).toBe(gone);
    const tree = await r.loadTree(index, snapshot.tree);
    expect(tree.nodes.length).toBeGreaterThan(0);
  });

  describe('planted key files', () => {
    let repo: string;
    let realKey: string;

    beforeAll(async () => {
      repo = join(work, 'repo-keys');
      expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
      realKey = (await readdir(join(repo, 'keys')))[0]!;
    });

    afterEach(async () => {
      // Each test plants its own: the real key stays alone between tests.
      for (const name of await readdir(join(repo, 'keys'))) if (name !== realKey) await rm(join(repo, 'keys', name));
    });

    it('a key with 4 GiB of Argon2id memory, or a malformed one, is skipped with a warning naming it; the real password opens', async () => {
      const huge = await plantKey(repo, 3, 4 * 1024 * 1024);
      const junk = await plantBytes(repo, Buffer.from('{"version": 1, "kdf": "argon2id", "t": "many"}'));
      for (const cmd of [['snapshots'], ['check'], ['key', 'list']]) {
        const r = await runEngine([...cmd, '--repo', repo], { native });
        expect(r.code, `${cmd.join(' ')}: ${r.stderr}`).toBe(0);
        expect(r.stderr).toContain(`keys/${huge}`);
        expect(r.stderr).toContain(`keys/${junk}`);
      }
    });

    it('a planted key with the most memory and passes init accepts is tried after the real key, even when its name lists first', async () => {
      // Its name sorts before the real key's, so a reader that goes by listing order runs it first.
      let planted = '';
      for (;;) {
        planted = await plantKey(repo, 100, 1024 * 1024);
        if (planted < realKey) break;
        await rm(join(repo, 'keys', planted));
      }
      const r = await runEngine(['snapshots', '--repo', repo, '--verbose'], { native });
      expect(r.code, r.stderr).toBe(0);
      const tried = r.stderr.split('\n').filter((l) => l.startsWith('trying keys/'));
      expect(tried).toEqual([expect.stringContaining(`keys/${realKey}`)]);
    });

    it('a key whose Argon2id memory does not fit --mem-budget is skipped with a warning, even when it is cheaper', async () => {
      // 190 MiB × 1 pass costs less than the real key's 64 MiB × 3, so it would be tried first;
      // 240M leaves about 178 MiB for Argon2id (the key is derived before the rest is loaded).
      const planted = await plantKey(repo, 1, 190 * 1024);
      const target = join(work, 'restore-budget');
      const src = join(work, 'src-budget');
      await mkdir(src, { recursive: true });
      await writeFile(join(src, 'a.txt'), 'hello');
      expect((await runEngine(['backup', '--repo', repo, src], { native })).code).toBe(0);
      const r = await runEngine(['restore', 'latest', '--repo', repo, '--target', target, '--mem-budget', '240M'], { native });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(new RegExp(`keys/${planted}.*--mem-budget`));
    });
  });
});

/** A key file as `init` writes it (FORMAT.md "Keys"), with the given Argon2id cost, stored under its id (BLAKE3 of its bytes). */
async function plantKey(repo: string, t: number, mKiB: number, data = randomBytes(73).toString('base64')): Promise<string> {
  const file = { version: 1, kdf: 'argon2id', t, m: mKiB, p: 1, salt: randomBytes(16).toString('base64'), created: new Date().toISOString(), hostname: 'mallory', username: 'mallory', data };
  return plantBytes(repo, Buffer.from(JSON.stringify(file, null, 2)));
}

async function plantBytes(repo: string, bytes: Uint8Array): Promise<string> {
  const { primitives } = await loadPrimitives(native === 'off' ? 'fallback' : 'auto');
  const id = Buffer.from(primitives.blake3.hash(bytes)).toString('hex');
  await writeFile(join(repo, 'keys', id), bytes, { mode: 0o600 });
  return id;
}
