// forget, prune and locks as a user runs them (CLI subprocesses, real files):
// - 20 snapshots of a changing tree, then forget + prune: the repository shrinks to what the kept
//   snapshots need (within --max-unused), check passes, and every kept snapshot restores identical;
// - prune refuses (exit 11) or waits (--retry-lock) while a backup holds its lock; two backups of
//   different trees run at once; everything restores identical afterwards;
// - prune killed (SIGKILL) before each of its steps: check passes, and the next prune completes.
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keysOf } from '../../src/repository/storage.js';
import { loadPrimitives } from '../../native-bindings/index.js';
import { LocalBackend } from '../../src/backend/local/local-backend.js';
import type { BlobId } from '../../src/format/ids.js';
import { DATA_PREFIX } from '../../src/repository/layout.js';
import { REPO_VERSION } from '../../src/format/config.js';
import { Repository } from '../../src/repository/repository.js';
import { ENGINE_BIN, TEST_PASSWORD, currentNative, runEngine } from '../support/cli.js';
import { compareTrees, makeTree } from '../support/tree.js';

const native = currentNative();
const execFileP = promisify(execFile);

/** Stored bytes of every blob the given snapshots reach (each blob once), and the packs' total. */
async function neededBytes(repoDir: string, snapshotIds: string[]): Promise<{ needed: number; stored: number }> {
  const { primitives } = await loadPrimitives('auto');
  const backend = new LocalBackend(repoDir);
  const repo = await Repository.open(backend, primitives, new TextEncoder().encode(TEST_PASSWORD));
  const index = await repo.loadIndex();
  const seen = new Set<string>();
  let needed = 0;
  const use = (id: BlobId): boolean => {
    if (seen.has(id)) return false;
    seen.add(id);
    needed += index.lookup(id)!.length;
    return true;
  };
  const walk = async (tree: BlobId): Promise<void> => {
    if (!use(tree)) return;
    for (const n of (await repo.loadTree(index, tree)).nodes) {
      if (n.subtree) await walk(n.subtree);
      for (const b of n.content ?? []) use(b);
    }
  };
  for (const id of snapshotIds) await walk((await repo.resolveSnapshot(id)).snapshot.tree);
  let stored = 0;
  for await (const o of backend.list(DATA_PREFIX)) stored += o.size;
  return { needed, stored };
}

async function snapshotIds(repo: string): Promise<string[]> {
  const r = await runEngine(['snapshots', '--repo', repo, '--json'], { native });
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { id: string }[]).map((s) => s.id);
}

async function expectCheckPasses(repo: string): Promise<void> {
  const c = await runEngine(['check', '--repo', repo, '--read-data'], { native });
  expect(c.code, c.stdout + c.stderr).toBe(0);
}

/**
 * Restores snapshot `id`, a backup of the folder `backedUp`, and compares what lands where the
 * snapshot stores that folder (under its absolute path) with `expected` (the folder as it was then).
 */
async function expectRestores(repo: string, id: string, backedUp: string, work: string, expected: string = backedUp): Promise<void> {
  const target = join(work, `restore-${id.slice(0, 8)}-${Math.random().toString(36).slice(2, 8)}`);
  const r = await runEngine(['restore', id, '--repo', repo, '--target', target], { native });
  expect(r.code, r.stderr).toBe(0);
  expect(await compareTrees(expected, join(target, backedUp))).toEqual([]);
}

describe(`forget, prune and locks (ENGINE_NATIVE=${native})`, () => {
  let work: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'engine-prune-'));
  });

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('forget + prune after 20 snapshots with edits: the repository shrinks to what the kept snapshots need, and they restore identical', async () => {
    const repo = join(work, 'repo20');
    const src = join(work, 'data');
    await mkdir(src, { recursive: true });
    expect((await runEngine(['init', '--repo', repo, '--pack-size', '1M'], { native })).code).toBe(0);
    const states = new Map<string, string>();
    for (let i = 0; i < 20; i++) {
      // Each generation adds a file, drops the one from three generations ago and edits a shared one.
      await writeFile(join(src, `gen-${i}.bin`), randomBytes(200_000 + 1000 * i));
      if (i >= 3) await rm(join(src, `gen-${i - 3}.bin`));
      await writeFile(join(src, 'notes.txt'), `${'line of notes\n'.repeat(1000)}generation ${i}\n`);
      const tag = i % 5 === 4 ? ['--tag', 'milestone'] : [];
      const b = await runEngine(['backup', '--repo', repo, '--json', ...tag, src], { native });
      expect(b.code, b.stderr).toBe(0);
      // `cp -a` keeps mtimes to the nanosecond, as the snapshot recorded them.
      const copy = join(work, `state-${i}`, 'data');
      await mkdir(join(work, `state-${i}`));
      await execFileP('cp', ['-a', src, copy]);
      states.set(String(b.json?.snapshot_id), copy);
    }
    const before = await neededBytes(repo, [...states.keys()]);

    const dry = await runEngine(['forget', '--repo', repo, '--keep-last', '3', '--keep-tag', 'milestone', '--dry-run', '--json'], { native });
    expect(dry.code, dry.stderr).toBe(0);
    // restic's ForgetGroup array (docs/json/forget.schema.json).
    const plan = JSON.parse(dry.stdout.trim().split('\n')[0]!) as { keep: { id: string }[]; remove: { id: string }[] }[];
    expect(plan).toHaveLength(1);
    const kept = plan[0]!.keep.map((k) => k.id);
    expect(kept).toHaveLength(3 + 3); // the 3 newest (one of them a milestone) and the 3 older milestones
    // The reasons name calendar days as people write them: a December day is 12, not 11.
    const daily = await runEngine(['forget', '--repo', repo, '--keep-daily', '1', '--dry-run', '--json'], { native });
    const dailyPlan = JSON.parse(daily.stdout.trim().split('\n')[0]!) as { reasons: { snapshot: { id: string }; matches: string[] }[] }[];
    const newestTime = new Date(JSON.parse((await runEngine(['snapshots', '--repo', repo, '--json', 'latest'], { native })).stdout)[0].time as string);
    const pad = (n: number): string => String(n).padStart(2, '0');
    expect(dailyPlan[0]!.reasons[0]!.matches).toEqual([`daily ${newestTime.getFullYear()}-${pad(newestTime.getMonth() + 1)}-${pad(newestTime.getDate())}`]);
    expect((await snapshotIds(repo)).length).toBe(20);
    // A policy that keeps nothing (an empty variable in a script) is refused, not carried out.
    const none = await runEngine(['forget', '--repo', repo, '--keep-last', '0'], { native });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('keeps no snapshot');
    expect((await snapshotIds(repo)).length).toBe(20);

    const f = await runEngine(['forget', '--repo', repo, '--keep-last', '3', '--keep-tag', 'milestone', '--prune'], { native });
    expect(f.code, f.stderr + f.stdout).toBe(0);
    expect((await snapshotIds(repo)).sort()).toEqual([...kept].sort());
    // Prune rebuilt the local index cache from the index objects it wrote: the next command opens
    // it warm, or reads only the repack's own few objects, instead of every index object again.
    const ls = await runEngine(['ls', kept[0]!, '--repo', repo, '--verbose'], { native });
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stderr).toMatch(/index: (warm|incremental) open/);
    const after = await neededBytes(repo, kept);
    // 14 of the 20 generations of files are in a kept snapshot: about 70% of the data.
    expect(after.stored).toBeLessThan(before.stored * 0.8);
    expect(after.stored).toBeLessThan(before.stored - 0.8 * (before.needed - after.needed));
    // What is stored beyond what the kept snapshots need (pack headers, unused blobs left in
    // partly used packs) stays within --max-unused (5%) and a little header overhead.
    expect((after.stored - after.needed) / after.stored).toBeLessThan(0.05 + 0.02);
    await expectCheckPasses(repo);
    for (const id of kept) await expectRestores(repo, id, src, work, states.get(id)!);

    // Nothing left to do: a second prune deletes nothing and changes nothing.
    const again = await runEngine(['prune', '--repo', repo, '--json'], { native });
    expect(again.code, again.stderr).toBe(0);
    expect(again.json).toMatchObject({ packsDeleted: 0, packsRepacked: 0, strayPacksDeleted: 0 });
  }, 240_000);

  it('prune waits for a running backup (or exits 11 without --retry-lock); two backups run at once; all restore identical', async () => {
    const repo = join(work, 'repo-conc');
    const a = join(work, 'conc-a');
    const b = join(work, 'conc-b');
    await makeTree(a, { seed: 21, smallFiles: 200, scale: 2 });
    await makeTree(b, { seed: 22, smallFiles: 200, scale: 2 });
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
    // An old snapshot to forget, so prune has work: one random file, so that none of its blobs
    // (a zero chunk from a sparse file, an empty folder's tree) is shared with the later trees and
    // its packs are surely wholly unused after the forget, whichever packs the pipeline put them in.
    const old = join(work, 'conc-old');
    await mkdir(old, { recursive: true });
    await writeFile(join(old, 'only-here.bin'), randomBytes(3 * 1024 * 1024));
    const o = await runEngine(['backup', '--repo', repo, '--json', old], { native });
    expect(o.code).toBe(0);
    expect((await runEngine(['forget', '--repo', repo, String(o.json?.snapshot_id)], { native })).code).toBe(0);

    // Two backups of different trees at once (slowed down so they surely overlap what follows),
    // and a prune started while they run: refused, naming a backup.
    const slow = { native, env: { ENGINE_TEST_HOOKS: 'open-delay=5' } };
    const backupA = runEngine(['backup', '--repo', repo, '--json', a], slow);
    const backupB = runEngine(['backup', '--repo', repo, '--json', b], slow);
    await waitFor(async () => (await readdir(join(repo, 'locks')).catch(() => [])).length >= 2);
    const refused = await runEngine(['prune', '--repo', repo], { native });
    expect(refused.code, refused.stderr).toBe(11);
    expect(refused.stderr).toContain('locked by `engine backup`');
    const [ra, rb] = await Promise.all([backupA, backupB]);
    expect(ra.code, ra.stderr).toBe(0);
    expect(rb.code, rb.stderr).toBe(0);

    // A third backup, and a prune that waits for it.
    const c = join(work, 'conc-c');
    await makeTree(c, { seed: 24, smallFiles: 100, scale: 2 });
    const backupC = runEngine(['backup', '--repo', repo, '--json', c], slow);
    await waitFor(async () => (await readdir(join(repo, 'locks')).catch(() => [])).length > 0);
    const prune = runEngine(['prune', '--repo', repo, '--retry-lock', '2m', '--json'], { native });
    const rc = await backupC;
    const cDone = Date.now();
    const rp = await prune;
    expect(rc.code, rc.stderr).toBe(0);
    expect(rp.code, rp.stderr).toBe(0);
    // It waited: it finished after the backup did, and saw the backup's snapshot.
    expect(Date.now()).toBeGreaterThanOrEqual(cDone);
    expect(rp.json).toMatchObject({ snapshots: 3 });
    expect(Number(rp.json?.packsDeleted)).toBeGreaterThan(0);

    await expectCheckPasses(repo);
    await expectRestores(repo, String(ra.json?.snapshot_id), a, work);
    await expectRestores(repo, String(rb.json?.snapshot_id), b, work);
    await expectRestores(repo, String(rc.json?.snapshot_id), c, work);
    expect(await readdir(join(repo, 'locks'))).toEqual([]);
  }, 240_000);

  it('a version 1 repository is used as it is, and its first prune raises it to the current version before deleting anything', async () => {
    const repo = join(work, 'repo-v1');
    const src = join(work, 'v1-src');
    await makeTree(src, { seed: 41, smallFiles: 20, scale: 0.2 });
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
    const { primitives } = await loadPrimitives('auto');
    const { seal } = await import('../../src/crypto/envelope.js');
    const { encodeConfig } = await import('../../src/format/config.js');
    const lib = await Repository.open(new LocalBackend(repo), primitives, new TextEncoder().encode(TEST_PASSWORD));
    expect(lib.config.version).toBe(REPO_VERSION);
    // What an engine of format version 1 wrote.
    await new LocalBackend(repo).save('config', seal(primitives, keysOf(lib), encodeConfig({ ...lib.config, version: 1 }), { suite: lib.suite, zstdLevel: null }));
    const version = async (): Promise<number> => (await Repository.open(new LocalBackend(repo), primitives, new TextEncoder().encode(TEST_PASSWORD))).config.version;
    expect(await version()).toBe(1);
    const b1 = await runEngine(['backup', '--repo', repo, '--json', src], { native });
    expect(b1.code, b1.stderr).toBe(0);
    await writeFile(join(src, 'new-file'), randomBytes(100_000));
    expect((await runEngine(['backup', '--repo', repo, src], { native })).code).toBe(0);
    expect(await version()).toBe(1);
    expect((await runEngine(['forget', '--repo', repo, String(b1.json?.snapshot_id), '--prune', '--max-unused', '0%'], { native })).code).toBe(0);
    expect(await version()).toBe(REPO_VERSION);
    await expectCheckPasses(repo);
  });

  it('prune killed before each of its steps: check passes, and the next prune completes', async () => {
    const base = join(work, 'repo-kill');
    const src = join(work, 'kill-src');
    await makeTree(src, { seed: 31, smallFiles: 50, scale: 0.5 });
    expect((await runEngine(['init', '--repo', base, '--pack-size', '1M'], { native })).code).toBe(0);
    const first = await runEngine(['backup', '--repo', base, '--json', src], { native });
    expect(first.code).toBe(0);
    // A second snapshot that changes half the random files, then the first is forgotten: prune
    // has unused packs to delete and partly used ones to repack.
    const random = join(src, 'random');
    const files = (await readdir(random)).sort();
    for (const f of files.slice(0, Math.ceil(files.length / 2))) await writeFile(join(random, f), randomBytes(50_000));
    const second = await runEngine(['backup', '--repo', base, '--json', src], { native });
    expect(second.code).toBe(0);
    expect((await runEngine(['forget', '--repo', base, String(first.json?.snapshot_id)], { native })).code).toBe(0);

    for (const step of ['repack', 'write index', 'delete index', 'delete packs']) {
      const repo = join(work, `kill-${step.replace(' ', '-')}`);
      await cp(base, repo, { recursive: true });
      await killAtStep(repo, step);
      // A killed prune leaves its lock behind; its pid is gone, so the next run removes it.
      const c = await runEngine(['check', '--repo', repo, '--read-data'], { native });
      expect(c.code, `${step}: ${c.stdout}${c.stderr}`).toBe(0);
      const p = await runEngine(['prune', '--repo', repo, '--max-unused', '0%'], { native });
      expect(p.code, `${step}: ${p.stderr}`).toBe(0);
      await expectCheckPasses(repo);
      await expectRestores(repo, String(second.json?.snapshot_id), src, work);
    }
  }, 240_000);
});

async function waitFor(cond: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs `prune --max-unused 0%` with a pause before each step and SIGKILLs it when it reaches `step`. */
function killAtStep(repo: string, step: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(ENGINE_BIN, ['prune', '--repo', repo, '--max-unused', '0%'], {
      env: { ...process.env, ENGINE_PASSWORD: TEST_PASSWORD, ENGINE_NATIVE: native, ENGINE_TEST_HOOKS: 'prune-step-delay=300' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    let killed = false;
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      if (!killed && err.includes(`prune step: ${step}\n`)) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (signal === 'SIGKILL') resolve();
      else reject(new Error(`prune ended with ${code} before reaching step "${step}": ${err}`));
    });
  });
}
