// The S3 backend end to end, through the real CLI, against a real S3-compatible server on
// 127.0.0.1 (s3rver, or minio when on the PATH) behind an HTTP proxy that injects faults:
// backups and restores identical to the local case, a warm cache that downloads nothing again,
// completion through 10% failing requests, and a clean exit 13 when the storage stops answering.
import { appendFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workdirPerFile } from '../support/workdir.js';
import { parseS3Location } from '../../src/backend/s3/location.js';
import { S3Backend } from '../../src/backend/s3/s3-backend.js';
import { nodeSupportNotice } from '../../src/session/node-support.js';
import { currentNative, runEngine } from '../support/cli.js';
import { auditRepository } from '../support/repo-audit.js';
import { startFaultProxy, type FaultProxy } from '../support/s3/fault-proxy.js';
import { startS3Server, type S3TestServer } from '../support/s3/server.js';
import { compareTrees, makeTree } from '../support/tree.js';

const native = currentNative();

describe(`S3 repositories (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-s3-it-');
  let server: S3TestServer;
  let proxy: FaultProxy;
  let env: Record<string, string>;
  let n = 0;

  /** A fresh repository location behind the proxy. */
  const newRepo = (): string => `s3:${proxy.endpoint}/${server.bucket}/${native}-${process.pid}-${n++}`;
  /** The same repository, reached without the proxy (for audits). */
  const direct = (loc: string): S3Backend => {
    const l = parseS3Location(loc.replace(proxy.endpoint, server.endpoint));
    return new S3Backend(l);
  };
  const engine = (args: string[], extra: Record<string, string> = {}) => runEngine(args, { native, env: { ...env, ...extra } });

  beforeAll(async () => {
    server = await startS3Server();
    proxy = await startFaultProxy(server.endpoint);
    env = { ...server.env(), XDG_CACHE_HOME: join(work, 'cache'), ENGINE_RETRY_BASE_MS: '20' };
    // The audit opens repositories in this process through the SDK's credential chain.
    Object.assign(process.env, server.env());
  });

  afterAll(async () => {
    await proxy?.stop();
    await server?.stop();
  });

  it('backup, incremental backup and restore through S3 are identical to the local case; a warm cache downloads nothing again', async () => {
    const src = join(work, 'src-plain');
    await makeTree(src, { seed: 21, smallFiles: 800, scale: 0.5 });
    const repo = newRepo();
    const local = join(work, 'local-repo');
    for (const r of [repo, local]) {
      const init = await engine(['init', '--repo', r]);
      expect(init.code, init.stderr).toBe(0);
      const backup = await engine(['backup', '--repo', r, '--json', src]);
      expect(backup.code, backup.stderr).toBe(0);
    }
    const fromS3 = join(work, 'restored-s3');
    const fromLocal = join(work, 'restored-local');
    expect((await engine(['restore', 'latest', '--repo', repo, '--target', fromS3])).code).toBe(0);
    expect((await engine(['restore', 'latest', '--repo', local, '--target', fromLocal])).code).toBe(0);
    expect(await compareTrees(src, join(fromS3, src), { sparse: true })).toEqual([]);
    // Both restores hold src under its absolute path: the folder holding it is restored with only src
    // in it (the folders above it keep the metadata each backup found, which may differ).
    expect(await compareTrees(join(fromLocal, work), join(fromS3, work), { sparse: true })).toEqual([]);

    // Incremental: one file changes; only it is read, and the restore matches the new tree.
    await appendFile(join(src, 'text', 'lorem-0.txt'), 'one more line\n');
    proxy.resetCounts();
    const second = await engine(['backup', '--repo', repo, '--json', src]);
    expect(second.code, second.stderr).toBe(0);
    expect(second.json?.files_read).toBe(1);
    // Index objects, snapshots, keys and tree packs come from the cache: only config is fetched.
    expect(proxy.objectGets(), proxy.describe()).toBe(1);
    const again = join(work, 'restored-s3-2');
    expect((await engine(['restore', 'latest', '--repo', repo, '--target', again])).code).toBe(0);
    expect(await compareTrees(src, join(again, src), { sparse: true })).toEqual([]);

    // snapshots and ls with a warm cache: nothing downloaded but the config.
    proxy.resetCounts();
    const snaps = await engine(['snapshots', '--repo', repo, '--json']);
    expect(snaps.code, snaps.stderr).toBe(0);
    const ls = await engine(['ls', 'latest', '--repo', repo]);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toContain('lorem-0.txt');
    expect(proxy.objectGets(), proxy.describe()).toBe(2);

    // With a cold cache the same commands still work, downloading what they need.
    proxy.resetCounts();
    const cold = await engine(['ls', 'latest', '--repo', repo], { XDG_CACHE_HOME: join(work, 'cold-cache') });
    expect(cold.code, cold.stderr).toBe(0);
    expect(cold.stdout).toBe(ls.stdout);
    expect(proxy.objectGets()).toBeGreaterThan(2);
  });

  it('with 10% of requests failing (500s, resets, truncated bodies, slow answers), backup and restore complete identical', async () => {
    const src = join(work, 'src-faults');
    await makeTree(src, { seed: 22, smallFiles: 500, scale: 0.5 });
    const repo = newRepo();
    proxy.faults = { rate: 0.1, kinds: ['500', 'reset', 'truncate', 'slow'], seed: 7 };
    proxy.resetCounts();
    try {
      const init = await engine(['init', '--repo', repo, '--pack-size', '1M']);
      expect(init.code, init.stderr).toBe(0);
      const backup = await engine(['backup', '--repo', repo, '--json', src]);
      expect(backup.code, backup.stderr).toBe(0);
      const target = join(work, 'restored-faults');
      const restore = await engine(['restore', 'latest', '--repo', repo, '--target', target, '--no-cache']);
      expect(restore.code, restore.stderr).toBe(0);
      expect(await compareTrees(src, join(target, src), { sparse: true })).toEqual([]);
    } finally {
      proxy.faults = { rate: 0, kinds: [] };
    }
    // The faults really happened, of every kind.
    for (const kind of ['500', 'reset', 'truncate', 'slow'] as const) expect(proxy.injected[kind], proxy.describe()).toBeGreaterThan(0);
    const audit = await auditRepository(direct(repo));
    expect(audit.problems).toEqual([]);
  });

  it('forget and prune through S3, with 10% of requests failing and the metadata cache on: check --read-data passes, the kept snapshot restores identical, no lock is left', async () => {
    const src = join(work, 'src-prune');
    await makeTree(src, { seed: 23, smallFiles: 200, scale: 0.3 });
    const repo = newRepo();
    expect((await engine(['init', '--repo', repo, '--pack-size', '1M'])).code).toBe(0);
    const first = await engine(['backup', '--repo', repo, '--json', src]);
    expect(first.code, first.stderr).toBe(0);
    await appendFile(join(src, 'random', 'extra.bin'), Buffer.alloc(300_000, 1));
    await rm(join(src, 'text'), { recursive: true, force: true });
    const second = await engine(['backup', '--repo', repo, '--json', src]);
    expect(second.code, second.stderr).toBe(0);
    proxy.faults = { rate: 0.1, kinds: ['500', 'reset', 'truncate', 'slow'], seed: 11 };
    proxy.resetCounts();
    try {
      const f = await engine(['forget', '--repo', repo, String(first.json?.snapshot_id), '--prune', '--max-unused', '0%']);
      expect(f.code, f.stderr).toBe(0);
    } finally {
      proxy.faults = { rate: 0, kinds: [] };
    }
    expect(Object.values(proxy.injected).reduce((a, b) => a + b, 0), proxy.describe()).toBeGreaterThan(0);
    const c = await engine(['check', '--repo', repo, '--read-data']);
    expect(c.code, c.stdout + c.stderr).toBe(0);
    const target = join(work, 'restored-prune');
    const r = await engine(['restore', 'latest', '--repo', repo, '--target', target]);
    expect(r.code, r.stderr).toBe(0);
    expect(await compareTrees(src, join(target, src), { sparse: true })).toEqual([]);
    const locks: string[] = [];
    for await (const o of direct(repo).list('locks/')) locks.push(o.name);
    expect(locks).toEqual([]);
  });

  it('when every request fails after a point: exit 13 naming the object and the endpoint, nothing referenced missing, and the next run stores nothing twice', async () => {
    const src = join(work, 'src-outage');
    await makeTree(src, { seed: 23, smallFiles: 300, scale: 0.7 });
    const repo = newRepo();
    expect((await engine(['init', '--repo', repo, '--pack-size', '1M'])).code).toBe(0);

    // A first snapshot exists, so there is something referenced to keep intact.
    const first = await engine(['backup', '--repo', repo, '--json', join(src, 'text')]);
    expect(first.code, first.stderr).toBe(0);

    proxy.failAfter(14, '500');
    let failed;
    try {
      failed = await engine(['backup', '--repo', repo, '--json', src]);
    } finally {
      proxy.failAll(null);
    }
    expect(failed.code, failed.stderr).toBe(13);
    const error = JSON.parse(failed.stderr.trim().split('\n').pop() ?? '{}') as { message?: string; error_code?: string };
    expect(error.error_code).toBe('E_BACKEND_TRANSIENT');
    expect(error.message).toContain(proxy.endpoint);
    expect(error.message).toMatch(/"(data|index|snapshots)\/[^"]+"/);

    const broken = await auditRepository(direct(repo));
    expect(broken.problems).toEqual([]);
    expect(broken.snapshots).toBe(1);

    const next = await engine(['backup', '--repo', repo, '--json', src]);
    expect(next.code, next.stderr).toBe(0);
    const healed = await auditRepository(direct(repo));
    expect(healed.problems).toEqual([]);
    expect(healed.snapshots).toBe(2);
    // Packs stored before the outage were reused, not uploaded again: no blob is stored twice.
    expect(healed.duplicateBlobs).toBe(0);
    expect(healed.unindexedPacks).toBe(0);
    if (broken.unindexedPacks > 0) expect(next.json?.packs_adopted).toBe(broken.unindexedPacks);

    const target = join(work, 'restored-outage');
    expect((await engine(['restore', 'latest', '--repo', repo, '--target', target])).code).toBe(0);
    expect(await compareTrees(src, join(target, src), { sparse: true })).toEqual([]);
  });

  it("the AWS SDK's Node warning is answered by one line of engine's own (on Node < 22), and not in --json", async () => {
    // Without the variable the tests set: engine itself keeps the SDK's multi-line warning silent.
    const run = (args: string[]) => runEngine(args, { native, env: { ...env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: undefined } });
    const repo = newRepo();
    const notice = nodeSupportNotice();
    const init = await run(['init', '--repo', repo]);
    expect(init.code, init.stderr).toBe(0);
    expect(init.stderr).not.toContain('NodeVersionSupportWarning');
    if (notice) expect(init.stderr.split('\n').filter((l) => l === `note: ${notice}`)).toHaveLength(1);
    else expect(init.stderr).not.toContain('note: Node');
    const snaps = await run(['snapshots', '--repo', repo, '--json']);
    expect(snaps.code, snaps.stderr).toBe(0);
    expect(snaps.stderr).not.toContain('NodeVersionSupportWarning');
    expect(snaps.stderr).not.toContain('note: Node');
  });

  it('a restore whose storage stops answering ends with exit 13, not with files named as damaged', async () => {
    const src = join(work, 'src-plain');
    const repo = newRepo();
    expect((await engine(['init', '--repo', repo, '--pack-size', '1M'])).code).toBe(0);
    expect((await engine(['backup', '--repo', repo, src])).code).toBe(0);
    proxy.failAfter(8, 'reset');
    let r;
    try {
      r = await engine(['restore', 'latest', '--repo', repo, '--target', join(work, 'restored-cut'), '--no-cache']);
    } finally {
      proxy.failAll(null);
    }
    expect(r.code, r.stderr).toBe(13);
    expect(r.stderr).toContain(proxy.endpoint);
  });
});
