// `engine rewrite` through the real CLI: a file that should never have been backed up is taken
// out of existing snapshots (restic's command and flags), leaving no trace in `ls` once the
// originals are forgotten and pruned, with `check` passing and the rest restoring identical.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { currentNative, runEngine } from '../support/cli.js';
import { listRepo, repoChanges } from '../support/repo-files.js';
import { workdirPerFile } from '../support/workdir.js';

const native = currentNative();

interface Listed {
  id: string;
  tags: string[];
  original?: string;
}

describe(`rewrite (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-rewrite-');
  let src: string;
  let repo: string;
  const engine = (args: string[]) => runEngine([...args, '--repo', repo], { native });
  const snapshots = async (): Promise<Listed[]> => JSON.parse((await engine(['snapshots', '--json'])).stdout) as Listed[];
  const lsOf = async (id: string): Promise<string[]> => (await engine(['ls', id])).stdout.split('\n').filter((l) => l.startsWith('/'));

  beforeAll(async () => {
    src = join(work, 'src');
    repo = join(work, 'repo');
    await mkdir(join(src, 'keys'), { recursive: true });
    await mkdir(join(src, 'docs'), { recursive: true });
    await writeFile(join(src, 'keys', 'secret.key'), 'never back this up\n');
    await writeFile(join(src, 'docs', 'a.txt'), 'a\n');
    await writeFile(join(src, 'b.txt'), 'b\n');
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
    expect((await engine(['backup', src])).code).toBe(0);
  });

  it('without a pattern: a usage error (exit 2)', async () => {
    expect((await engine(['rewrite'])).code).toBe(2);
  });

  it('--dry-run names what would be left out and changes nothing', async () => {
    const before = await listRepo(repo);
    const r = await engine(['rewrite', '--exclude', 'secret.key', '--dry-run']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain(`excluding ${src}/keys/secret.key`);
    expect(r.stdout).toContain('1 of 1 snapshot(s) would be rewritten');
    expect(repoChanges(before, await listRepo(repo))).toEqual({ added: [], changed: [], removed: [] });
  });

  it('saves the snapshot again without the file, tagged "rewrite" and naming its original; --forget removes the original', async () => {
    const [first] = await snapshots();
    const r = await engine(['rewrite', '--exclude', 'secret.key', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const after = await snapshots();
    expect(after).toHaveLength(2);
    const rewritten = after.find((s) => s.id !== first!.id)!;
    expect(rewritten.tags).toContain('rewrite');
    expect(rewritten.original).toBe(first!.id);
    expect(await lsOf(rewritten.id)).not.toContain(`${src}/keys/secret.key`);
    expect(await lsOf(rewritten.id)).toContain(`${src}/keys/`);
    // Nothing left to take out of the rewritten one: it stays as it is.
    const again = await engine(['rewrite', '--exclude', 'secret.key', rewritten.id.slice(0, 8), '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect((await snapshots()).map((s) => s.id).sort()).toEqual(after.map((s) => s.id).sort());
    // Forget the original the way restic users do, then prune: the file is gone from the repository.
    const forgot = await engine(['rewrite', '--exclude', 'secret.key', '--forget', first!.id.slice(0, 8)]);
    expect(forgot.code, forgot.stderr).toBe(0);
    const left = await snapshots();
    expect(left.map((s) => s.id)).not.toContain(first!.id);
    for (const s of left) expect(await lsOf(s.id)).not.toContain(`${src}/keys/secret.key`);
    expect((await engine(['prune'])).code).toBe(0);
    // find, over every snapshot left, finds it nowhere.
    const found = await engine(['find', '--json', 'secret.key']);
    expect(found.code, found.stderr).toBe(0);
    expect(JSON.parse(found.stdout)).toEqual([]);
    expect((await engine(['find', '--json', 'a.txt'])).stdout).toContain(`${src}/docs/a.txt`);
    const check = await engine(['check', '--read-data']);
    expect(check.code, check.stderr).toBe(0);
    const target = join(work, 'restored');
    expect((await engine(['restore', 'latest', '--target', target])).code).toBe(0);
    expect(await readFile(join(target, src, 'docs', 'a.txt'), 'utf8')).toBe('a\n');
    await expect(readFile(join(target, src, 'keys', 'secret.key'))).rejects.toThrow();
  });

  it('a snapshot left with nothing is removed, as restic', async () => {
    const only = join(work, 'only');
    await mkdir(only);
    await writeFile(join(only, 'x'), 'x\n');
    const b = await engine(['backup', only, '--json']);
    expect(b.code, b.stderr).toBe(0);
    const id = String(b.json?.snapshot_id);
    // The snapshot holds `only` under its absolute path: excluding that path leaves only the
    // folders on the way to it, which go too (they were stored only to lead there).
    const r = await engine(['rewrite', '--exclude', only, id.slice(0, 8)]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('removed: nothing was left in it');
    expect((await snapshots()).map((s) => s.id)).not.toContain(id);
  });

  it('a folder inside the backed-up path that the rewrite empties stays, as restic keeps it; the folders on the way stay while they lead somewhere', async () => {
    const kept = join(work, 'kept');
    await mkdir(join(kept, 'inner'), { recursive: true });
    await writeFile(join(kept, 'inner', 'secret.key'), 'k\n');
    await writeFile(join(kept, 'stay.txt'), 's\n');
    const b = await engine(['backup', kept, '--json']);
    expect(b.code, b.stderr).toBe(0);
    const r = await engine(['rewrite', '--forget', '--exclude', 'secret.key', String(b.json?.snapshot_id).slice(0, 8)]);
    expect(r.code, r.stderr).toBe(0);
    const ls = (await engine(['ls', 'latest', '--path', kept])).stdout.split('\n');
    expect(ls).toContain(`${kept}/inner/`);
    expect(ls).toContain(`${kept}/stay.txt`);
    expect(ls).not.toContain(`${kept}/inner/secret.key`);
    expect(ls).toContain(`${work}/`);
  });
});
