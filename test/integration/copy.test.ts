// `engine copy` and `init --from-repo --copy-chunker-params` through the real CLI, as restic's:
// snapshots copied into a second repository restore identical to the source's, a second copy
// copies nothing, and a destination made with the source's chunker parameters gets the source's
// tree ids and dedups a new backup against the copied data. Both ways of copying (shared ids, and
// every blob named again under the destination's key) are run.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { currentNative, ENGINE_BIN, runEngine, TEST_PASSWORD } from '../support/cli.js';
import { dataPacks, listRepo, repoChanges } from '../support/repo-files.js';
import { compareTrees, makeTree } from '../support/tree.js';
import { workdirPerFile } from '../support/workdir.js';

const native = currentNative();
const SOURCE_PASSWORD = 'the source repository password';

interface Listed {
  id: string;
  tree: string;
  time: string;
  tags: string[];
  original?: string;
  copied_from?: string;
  parent?: string;
}

interface CopySummary {
  copied: { source: string; copy: string }[];
  present: { source: string; copy: string }[];
  blobsAdded: number;
  bytesAdded: number;
  sharedChunking: boolean;
}

describe(`copy (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-copy-');
  let src: string;
  let source: string;
  const from = { env: { ENGINE_FROM_PASSWORD: SOURCE_PASSWORD }, native } as const;
  const inSource = (args: string[]) => runEngine([...args, '--repo', source], { env: { ENGINE_PASSWORD: SOURCE_PASSWORD }, native });
  const inRepo = (repo: string, args: string[]) => runEngine([...args, '--repo', repo, '--from-repo', source], from);
  const engineAt = (repo: string, args: string[]) => runEngine([...args, '--repo', repo], { native });
  const snapshotsOf = async (run: (a: string[]) => Promise<{ stdout: string }>): Promise<Listed[]> => JSON.parse((await run(['snapshots', '--json'])).stdout) as Listed[];
  const copy = async (repo: string, args: string[] = []): Promise<CopySummary> => {
    const r = await inRepo(repo, ['copy', '--json', ...args]);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as CopySummary;
  };
  /** Restores `id` of each repository and compares the two trees. */
  const restoresAlike = async (sourceId: string, repo: string, copyId: string): Promise<void> => {
    const a = join(work, `restore-src-${sourceId.slice(0, 8)}`);
    const b = join(work, `restore-copy-${copyId.slice(0, 8)}`);
    expect((await inSource(['restore', sourceId, '--target', a])).code).toBe(0);
    const r = await engineAt(repo, ['restore', copyId, '--target', b]);
    expect(r.code, r.stderr).toBe(0);
    expect(await compareTrees(a, b)).toEqual([]);
    await rm(a, { recursive: true });
    await rm(b, { recursive: true });
  };

  beforeAll(async () => {
    src = join(work, 'src');
    source = join(work, 'source');
    await makeTree(src, { seed: 71, smallFiles: 150, scale: 0.15 });
    expect((await inSource(['init'])).code).toBe(0);
    expect((await inSource(['backup', src, '--tag', 'first'])).code).toBe(0);
    await writeFile(join(src, 'added.txt'), 'added after the first backup\n');
    await mkdir(join(src, 'new-folder'));
    await writeFile(join(src, 'new-folder', 'n.bin'), Buffer.alloc(300_000, 7));
    const second = await inSource(['backup', src]);
    expect(second.code, second.stderr).toBe(0);
  });

  it('refuses without --from-repo, with the destination as source, or with the wrong source password', async () => {
    const dest = join(work, 'refusals');
    expect((await engineAt(dest, ['init'])).code).toBe(0);
    const none = await engineAt(dest, ['copy']);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('--from-repo');
    const same = await runEngine(['copy', '--repo', dest, '--from-repo', dest], { native });
    expect(same.code).toBe(2);
    // Spelled another way, the same repository is known by its config id.
    const sameConfig = await runEngine(['copy', '--repo', dest, '--from-repo', `${dest}/.`], { env: { ENGINE_FROM_PASSWORD: TEST_PASSWORD }, native });
    expect(sameConfig.code, sameConfig.stderr).toBe(2);
    expect(sameConfig.stderr).toContain('same repository');
    const wrong = await runEngine(['copy', '--repo', dest, '--from-repo', source], { env: { ENGINE_FROM_PASSWORD: 'not it' }, native });
    expect(wrong.code, wrong.stderr).toBe(12);
    const noPassword = await runEngine(['copy', '--repo', dest, '--from-repo', source], { env: { ENGINE_FROM_PASSWORD: undefined }, native });
    expect(noPassword.code).toBe(2);
    expect(noPassword.stderr).toContain('ENGINE_FROM_PASSWORD');
    expect(await snapshotsOf((a) => engineAt(dest, a))).toEqual([]);
    // init: --copy-chunker-params needs the repository, and --from-repo alone is not silently ignored.
    expect((await runEngine(['init', '--repo', join(work, 'x1'), '--copy-chunker-params'], { native })).code).toBe(2);
    expect((await runEngine(['init', '--repo', join(work, 'x2'), '--from-repo', source], from)).code).toBe(2);
  });

  it('between repositories with their own keys: every snapshot restores identical, with check --read-data passing; a second copy copies nothing', async () => {
    const dest = join(work, 'own-keys');
    expect((await engineAt(dest, ['init'])).code).toBe(0);
    const sourceSnaps = await snapshotsOf(inSource);
    const first = await copy(dest);
    expect(first.sharedChunking).toBe(false);
    expect(first.copied.map((c) => c.source)).toEqual(sourceSnaps.map((s) => s.id));
    expect(first.blobsAdded).toBeGreaterThan(0);
    const copies = await snapshotsOf((a) => engineAt(dest, a));
    expect(copies).toHaveLength(2);
    for (const [i, c] of copies.entries()) {
      const s = sourceSnaps[i]!;
      expect(c.copied_from).toBe(s.id);
      expect(c.original).toBe(s.id);
      expect(c.time).toBe(s.time);
      expect(c.tags).toEqual(s.tags);
      // `parent` names a snapshot of the source: dropped, as restic does.
      expect(c.parent).toBeUndefined();
      // Ids are keyed: the same folder has another id here.
      expect(c.tree).not.toBe(s.tree);
      await restoresAlike(s.id, dest, c.id);
    }
    const check = await engineAt(dest, ['check', '--read-data']);
    expect(check.code, check.stderr).toBe(0);
    const before = await listRepo(dest);
    const again = await copy(dest);
    expect(again.copied).toEqual([]);
    expect(again.present.map((p) => p.copy).sort()).toEqual(copies.map((c) => c.id).sort());
    expect(repoChanges(before, await listRepo(dest))).toEqual({ added: [], changed: [], removed: [] });
  });

  it('with init --from-repo --copy-chunker-params: the source\'s tree ids, only missing blobs moved, and a backup there dedups against the copy', async () => {
    const dest = join(work, 'shared');
    const init = await runEngine(['init', '--repo', dest, '--from-repo', source, '--copy-chunker-params'], from);
    expect(init.code, init.stderr).toBe(0);
    // Format version 5 (older engines refuse it); the shared keys are never printed.
    const config = await engineAt(dest, ['cat', 'config']);
    expect(config.code, config.stderr).toBe(0);
    const parsed = JSON.parse(config.stdout) as { id: string; version: number; chunker: unknown; idKeys: unknown };
    expect(parsed.version).toBe(5);
    expect(parsed.idKeys).toMatch(/not shown/);
    // The config's id is the one 32-byte hex value printed.
    expect(config.stdout.match(/[0-9a-f]{64}/g)).toEqual([parsed.id]);
    expect(parsed.chunker).toEqual((JSON.parse((await inSource(['cat', 'config'])).stdout) as { chunker: unknown }).chunker);

    const sourceSnaps = await snapshotsOf(inSource);
    const latest = await copy(dest, ['latest']);
    expect(latest.sharedChunking).toBe(true);
    expect(latest.copied.map((c) => c.source)).toEqual([sourceSnaps[1]!.id]);
    // The first snapshot's data is nearly all in the second: copying it moves its own trees only.
    const rest = await copy(dest);
    expect(rest.copied.map((c) => c.source)).toEqual([sourceSnaps[0]!.id]);
    expect(rest.present.map((p) => p.source)).toEqual([sourceSnaps[1]!.id]);
    expect(rest.bytesAdded).toBeLessThan(latest.bytesAdded / 4);
    const copies = await snapshotsOf((a) => engineAt(dest, a));
    for (const c of copies) {
      const s = sourceSnaps.find((x) => x.id === c.copied_from)!;
      expect(c.tree).toBe(s.tree);
      await restoresAlike(s.id, dest, c.id);
    }
    expect((await engineAt(dest, ['check', '--read-data'])).code).toBe(0);
    const third = await copy(dest);
    expect(third.copied).toEqual([]);
    expect(third.blobsAdded).toBe(0);

    // The same files at another path (no parent to take them from): read, and found stored.
    const elsewhere = join(work, 'elsewhere');
    await cp(src, elsewhere, { recursive: true });
    const backup = await engineAt(dest, ['backup', elsewhere, '--json']);
    expect(backup.code, backup.stderr).toBe(0);
    const summary = JSON.parse(backup.stdout.trim().split('\n').pop()!) as { files_new: number; data_added: number; bytes_read: number };
    expect(summary.bytes_read).toBeGreaterThan(1_000_000);
    // Only the trees of the new path are new: every chunk of data was already there.
    expect(summary.data_added).toBeLessThan(summary.bytes_read / 50);
    await rm(elsewhere, { recursive: true });
  });

  it('takes restic\'s snapshot filters and a --dry-run that writes nothing', async () => {
    const dest = join(work, 'filtered');
    expect((await engineAt(dest, ['init'])).code).toBe(0);
    const before = await listRepo(dest);
    const dry = await inRepo(dest, ['copy', '--tag', 'first', '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('1 of 1 snapshot(s) would be copied');
    const after = await listRepo(dest);
    expect(repoChanges(before, after).added.filter((n) => !n.startsWith('locks/'))).toEqual([]);
    expect(repoChanges(before, after).changed).toEqual([]);
    const tagged = await copy(dest, ['--tag', 'first']);
    expect(tagged.copied).toHaveLength(1);
    const copies = await snapshotsOf((a) => engineAt(dest, a));
    expect(copies.map((c) => c.tags)).toEqual([['first']]);
  });

  it('reads the source password from --from-password-file, and its location from ENGINE_FROM_REPOSITORY', async () => {
    const dest = join(work, 'password-file');
    const file = join(work, 'from-password');
    await writeFile(file, `${SOURCE_PASSWORD}\n`);
    expect((await engineAt(dest, ['init'])).code).toBe(0);
    const r = await runEngine(['copy', '--repo', dest, '--from-password-file', file, 'latest'], { env: { ENGINE_FROM_PASSWORD: undefined, ENGINE_FROM_REPOSITORY: source }, native });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('1 of 1 snapshot(s) copied');
    expect(await readFile(file, 'utf8')).toContain(SOURCE_PASSWORD);
  });

  it('from a source with a damaged data pack: exit 4 naming the damage, and no snapshot saved in the destination', async () => {
    const damaged = join(work, 'damaged-source');
    await cp(source, damaged, { recursive: true });
    const [largest] = await dataPacks(damaged);
    // Bytes in the middle of the largest data pack flipped: a blob there no longer authenticates.
    const fh = await open(join(damaged, largest!.name), 'r+');
    const at = Math.floor(largest!.size / 2);
    const b = Buffer.alloc(64);
    await fh.read(b, 0, 64, at);
    for (let i = 0; i < b.length; i++) b[i]! ^= 0xff;
    await fh.write(b, 0, 64, at);
    await fh.close();
    for (const init of [['init'], ['init', '--from-repo', damaged, '--copy-chunker-params']]) {
      const dest = join(work, `from-damaged-${init.length}`);
      expect((await runEngine([...init, '--repo', dest], from)).code).toBe(0);
      const r = await runEngine(['copy', '--repo', dest, '--from-repo', damaged], from);
      expect(r.code, r.stderr).toBe(4);
      expect(r.stderr).toMatch(/damaged|does not match|authentication/i);
      expect(await snapshotsOf((a) => engineAt(dest, a))).toEqual([]);
    }
  });

  it('a copy that was rewritten or repaired there is no copy: the source\'s snapshot is copied again', async () => {
    const dest = join(work, 'changed-copies');
    expect((await engineAt(dest, ['init'])).code).toBe(0);
    const [first, second] = await snapshotsOf(inSource);
    await copy(dest);
    // rewrite --forget replaces the copy of the second snapshot by one without added.txt.
    const rewrite = await engineAt(dest, ['rewrite', '--exclude', 'added.txt', '--forget']);
    expect(rewrite.code, rewrite.stderr).toBe(0);
    const rewritten = (await snapshotsOf((a) => engineAt(dest, a))).find((c) => c.original === second!.id)!;
    expect(rewritten.copied_from).toBeUndefined();
    const again = await copy(dest);
    expect(again.copied.map((c) => c.source)).toEqual([second!.id]);
    expect(again.present.map((p) => p.source)).toEqual([first!.id]);
    // The copy made again holds the file the rewrite took out.
    const copyAgain = again.copied[0]!.copy;
    expect((await engineAt(dest, ['ls', copyAgain])).stdout).toContain(`${src}/added.txt`);
  });

  it('a copy repaired after losing a pack is no copy: the next copy from the intact source makes it whole again', async () => {
    const dest = join(work, 'repaired-copy');
    expect((await engineAt(dest, ['init'])).code).toBe(0);
    await copy(dest, ['latest']);
    const [largest] = await dataPacks(dest);
    await rm(join(dest, largest!.name));
    expect((await engineAt(dest, ['repair', 'index'])).code).toBe(0);
    const repaired = await engineAt(dest, ['repair', 'snapshots']);
    expect(repaired.code, repaired.stderr).toBe(0);
    const [copyLeft] = await snapshotsOf((a) => engineAt(dest, a));
    expect(copyLeft!.tags).toContain('repaired');
    expect(copyLeft!.copied_from).toBeUndefined();
    const again = await copy(dest, ['latest']);
    expect(again.copied).toHaveLength(1);
    const whole = await engineAt(dest, ['check', '--read-data']);
    expect(whole.code, whole.stderr).toBe(0);
    await restoresAlike(again.copied[0]!.source, dest, again.copied[0]!.copy);
  });

  it('copying back, or a copy of a copy, finds the snapshot already there', async () => {
    const a = join(work, 'copy-a');
    const b = join(work, 'copy-b');
    for (const r of [a, b]) expect((await engineAt(r, ['init'])).code).toBe(0);
    const toA = await copy(a, ['latest']);
    const toB = await copy(b, ['latest']);
    expect(toA.copied).toHaveLength(1);
    expect(toB.copied).toHaveLength(1);
    // b's copy is a copy of the source's snapshot, which a already holds a copy of.
    const bToA = await runEngine(['copy', '--repo', a, '--from-repo', b, '--json'], { env: { ENGINE_FROM_PASSWORD: TEST_PASSWORD }, native });
    expect(bToA.code, bToA.stderr).toBe(0);
    expect((JSON.parse(bToA.stdout.trim().split('\n').pop()!) as CopySummary).copied).toEqual([]);
    // And a's copy, copied back into the source, is the source's own snapshot.
    const back = await runEngine(['copy', '--repo', source, '--from-repo', a, '--json'], { env: { ENGINE_PASSWORD: SOURCE_PASSWORD, ENGINE_FROM_PASSWORD: TEST_PASSWORD }, native });
    expect(back.code, back.stderr).toBe(0);
    expect((JSON.parse(back.stdout.trim().split('\n').pop()!) as CopySummary).copied).toEqual([]);
    expect(await snapshotsOf(inSource)).toHaveLength(2);
  });

  it('saves no snapshot when its lock on the destination was lost while it copied (exit 11)', async () => {
    const big = join(work, 'big-source');
    const bigSrc = join(work, 'big-src');
    await mkdir(bigSrc);
    await writeFile(join(bigSrc, 'random.bin'), randomBytes(8 * 1024 * 1024));
    const inBig = (args: string[]) => runEngine([...args, '--repo', big], { native });
    expect((await inBig(['init'])).code).toBe(0);
    expect((await inBig(['backup', bigSrc])).code).toBe(0);
    const dest = join(work, 'lost-lock');
    expect((await engineAt(dest, ['init'])).code).toBe(0);
    // Uploads at 1 MiB/s: the copy is still storing packs when the test removes its lock.
    const child = spawn(ENGINE_BIN, ['copy', '--repo', dest, '--from-repo', big, '--limit-upload', '1M'], {
      env: { ...process.env, ENGINE_PASSWORD: TEST_PASSWORD, ENGINE_FROM_PASSWORD: TEST_PASSWORD, ENGINE_NATIVE: native },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exited = new Promise<number>((r) => child.on('close', (code) => r(code ?? -1)));
    let removed = false;
    for (let t = 0; t < 600 && !removed; t++) {
      // Lock objects only: the temporary file a lock is being written to is left alone (removing
      // it fails that write with "not found", which is no lost lock but a broken disk).
      const locks = (await readdir(join(dest, 'locks')).catch(() => [] as string[])).filter((n) => /^[0-9a-f]{64}$/.test(n));
      for (const l of locks) await rm(join(dest, 'locks', l), { force: true });
      removed = locks.length > 0;
      if (!removed) await new Promise((r) => setTimeout(r, 50));
    }
    expect(removed).toBe(true);
    const code = await exited;
    expect(code, stderr).toBe(11);
    expect(stderr).toMatch(/lock/i);
    expect(await snapshotsOf((x) => engineAt(dest, x))).toEqual([]);
  });
});
