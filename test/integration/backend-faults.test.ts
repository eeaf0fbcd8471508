// The fault-injection decorator under a local repository, through the real CLI: with 10% of
// backend calls failing (errors, resets after the object was stored, truncated reads, slow
// answers) backup and restore complete and the restore is identical; when every call fails after
// a point, exit 13 and the repository stays sound.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { workdirPerFile } from '../support/workdir.js';
import { LocalBackend } from '../../src/backend/local/local-backend.js';
import { loadPrimitives } from '../../native-bindings/index.js';
import { BlobType, type BlobId } from '../../src/format/ids.js';
import { packName } from '../../src/repository/layout.js';
import { Repository } from '../../src/repository/repository.js';
import { currentNative, runEngine, TEST_PASSWORD } from '../support/cli.js';
import { auditRepository } from '../support/repo-audit.js';
import { compareTrees, makeTree } from '../support/tree.js';

const native = currentNative();

describe(`backend faults on a local repository (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-bf-');
  let src: string;

  beforeAll(async () => {
    src = join(work, 'src');
    await makeTree(src, { seed: 31, smallFiles: 400, scale: 0.4 });
  });

  const faults = (spec: string) => ({ ENGINE_TEST_HOOKS: `faults=${spec}`, ENGINE_RETRY_BASE_MS: '5' });

  it('10% of calls failing: backup and restore complete, identical', async () => {
    const repo = join(work, 'repo-10');
    expect((await runEngine(['init', '--repo', repo, '--pack-size', '1M'], { native })).code).toBe(0);
    const env = faults('rate=0.1,kinds=error+reset+truncate+slow,seed=3,slowMs=50');
    const backup = await runEngine(['backup', '--repo', repo, '--json', src], { native, env });
    expect(backup.code, backup.stderr).toBe(0);
    const target = join(work, 'restored-10');
    const restore = await runEngine(['restore', 'latest', '--repo', repo, '--target', target], { native, env });
    expect(restore.code, restore.stderr).toBe(0);
    expect(await compareTrees(src, join(target, src), { sparse: true })).toEqual([]);
    const audit = await auditRepository(new LocalBackend(repo));
    expect(audit.problems).toEqual([]);
    expect(audit.duplicateBlobs).toBe(0);
  });

  it('every call failing after a point: exit 13, nothing referenced missing, the next run completes storing nothing twice', async () => {
    const repo = join(work, 'repo-outage');
    expect((await runEngine(['init', '--repo', repo, '--pack-size', '1M'], { native })).code).toBe(0);
    const failed = await runEngine(['backup', '--repo', repo, src], { native, env: faults('rate=0,kinds=error,failAfter=12') });
    expect(failed.code, failed.stderr).toBe(13);
    expect(failed.stderr).toContain(repo);
    expect((await auditRepository(new LocalBackend(repo))).problems).toEqual([]);
    const stray = (await auditRepository(new LocalBackend(repo))).unindexedPacks;
    // Packs were stored before the outage and nothing could index them then...
    expect(stray).toBeGreaterThan(0);
    const next = await runEngine(['backup', '--repo', repo, '--json', src], { native });
    expect(next.code, next.stderr).toBe(0);
    // ... so the next run indexes and reuses them.
    expect(next.json?.packs_adopted).toBe(stray);
    const audit = await auditRepository(new LocalBackend(repo));
    expect(audit.problems).toEqual([]);
    expect(audit.duplicateBlobs).toBe(0);
    expect(audit.unindexedPacks).toBe(0);
    expect(audit.snapshots).toBe(1);
  });

  it('a lost pack of trees: restore exits 4 naming the missing pack, and the process does not crash', async () => {
    const repo = join(work, 'repo-lost-trees');
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
    const backup = await runEngine(['backup', '--repo', repo, '--json', src], { native });
    expect(backup.code, backup.stderr).toBe(0);
    const { primitives } = await loadPrimitives('auto');
    const backend = new LocalBackend(repo);
    const opened = await Repository.open(backend, primitives, new TextEncoder().encode(TEST_PASSWORD));
    const index = await opened.loadIndex();
    const root = index.lookup((await opened.listSnapshots())[0]!.snapshot.tree as BlobId);
    expect(root?.type).toBe(BlobType.TREE);
    await backend.remove(packName(root!.packId));
    const restore = await runEngine(['restore', 'latest', '--repo', repo, '--target', join(work, 'restored-lost')], { native });
    expect(restore.code, restore.stderr).toBe(4);
    expect(restore.stderr).toContain(`pack ${root!.packId} is missing`);
  });
});

