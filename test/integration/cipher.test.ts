// A repository created with --cipher aes-256-gcm backs up and restores like the default one, and
// records its suite per object (suite byte 2 in every envelope).
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { workdirPerFile } from '../support/workdir.js';
import { currentNative, runEngine } from '../support/cli.js';
import { listRepo } from '../support/repo-files.js';
import { compareTrees, makeTree } from '../support/tree.js';

const native = currentNative();

describe(`AES-256-GCM repository (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-aes-');

  it('backs up and restores identical, with suite 2 in its objects', async () => {
    const src = join(work, 'src');
    const repo = join(work, 'repo');
    await makeTree(src, { seed: 21, smallFiles: 200 });
    const init = await runEngine(['init', '--repo', repo, '--cipher', 'aes-256-gcm', '--json'], { native });
    expect(init.code, init.stderr).toBe(0);
    expect(init.json?.cipher).toBe('aes-256-gcm');
    expect((await runEngine(['backup', '--repo', repo, src], { native })).code).toBe(0);
    for (const f of (await listRepo(repo)).values()) {
      if (f.name.startsWith('keys/')) continue; // key files wrap the master key with XChaCha20 (FORMAT.md)
      const fh = await open(join(repo, f.name), 'r');
      const head = Buffer.alloc(2);
      await fh.read(head, 0, 2, 0);
      await fh.close();
      expect([...head], f.name).toEqual([1, 2]);
    }
    const target = join(work, 'out');
    const r = await runEngine(['restore', 'latest', '--repo', repo, '--target', target], { native });
    expect(r.code, r.stderr).toBe(0);
    expect(await compareTrees(src, join(target, src))).toEqual([]);
  });
});
