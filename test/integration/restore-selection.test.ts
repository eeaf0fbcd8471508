// What a restore takes, through the real CLI on a real snapshot, against restic's documented
// behaviour (docs/SELECTION.md "Restoring a part"): --include / --exclude with restic's patterns
// (and their case-insensitive and file forms), only the folders on the way to an included entry
// created, `ID:subfolder`, and --dry-run writing nothing.
import { existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, readFile, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { currentNative, runEngine, type RunResult } from '../support/cli.js';
import { workdirPerFile } from '../support/workdir.js';

const native = currentNative();

/** Every path under `dir`, relative, folders with a trailing /, sorted. */
async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      out.push(relative(dir, p) + (e.isDirectory() ? '/' : ''));
      if (e.isDirectory()) await walk(p);
    }
  };
  await walk(dir);
  return out.sort();
}

describe(`restore selection (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-restore-sel-');
  /** The backed-up folder: the snapshot holds it under its absolute path. */
  const src = join(work, 'src');
  /** `work` as listTree names it in a target (no leading /). */
  const workRel = work.replace(/^\/+/, '');
  /** The folders on the way to `work` in a target, as listTree names them ('tmp/', ...). */
  const way = workRel.split('/').map((_, i, parts) => `${parts.slice(0, i + 1).join('/')}/`);
  /** Path `p` of the work folder ('src/top.txt') as listTree names it in a target. */
  const at = (p: string): string => `${workRel}/${p}`;
  /**
   * What listTree gives for a target holding exactly `paths` of the work folder: those, and the
   * folders on the way to the work folder when anything is restored (none when nothing is).
   */
  const tree = (paths: string[]): string[] => (paths.length === 0 ? [] : [...way, ...paths.map(at)].sort());
  let repo: string;
  let n = 0;
  const target = (): string => join(work, `t${++n}`);
  const restore = (ref: string, to: string, args: string[]): Promise<RunResult> => runEngine(['restore', ref, '--repo', repo, '--target', to, ...args], { native });

  beforeAll(async () => {
    repo = join(work, 'repo');
    const files: Record<string, string> = {
      'top.txt': 'top\n',
      'a.log': 'log\n',
      'docs/Guide.TXT': 'guide\n',
      'docs/notes.txt': 'notes\n',
      'docs/old/draft.txt': 'draft\n',
      'sub/b.log': 'log b\n',
      'sub/deeper/c.bin': 'c\n',
      'empty-branch/only/z.dat': 'z\n',
    };
    for (const [rel, text] of Object.entries(files)) {
      await mkdir(join(src, rel, '..'), { recursive: true });
      await writeFile(join(src, rel), text);
    }
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
    const b = await runEngine(['backup', '--repo', repo, src], { native });
    expect(b.code, b.stderr).toBe(0);
  });

  it('--include with a glob restores what matches and only the folders on the way to it', async () => {
    const to = target();
    const r = await restore('latest', to, ['--include', '*.txt']);
    expect(r.code, r.stderr).toBe(0);
    expect(await listTree(to)).toEqual(tree(['src/', 'src/docs/', 'src/docs/notes.txt', 'src/docs/old/', 'src/docs/old/draft.txt', 'src/top.txt']));
  });

  it('an anchored --include takes a folder and everything below it; --iinclude ignores case', async () => {
    const to = target();
    expect((await restore('latest', to, ['--include', `${src}/sub`])).code).toBe(0);
    expect(await listTree(to)).toEqual(tree(['src/', 'src/sub/', 'src/sub/b.log', 'src/sub/deeper/', 'src/sub/deeper/c.bin']));
    const to2 = target();
    expect((await restore('latest', to2, ['--iinclude', 'guide.txt'])).code).toBe(0);
    expect(await listTree(to2)).toEqual(tree(['src/', 'src/docs/', 'src/docs/Guide.TXT']));
    expect(await readFile(join(to2, src, 'docs/Guide.TXT'), 'utf8')).toBe('guide\n');
  });

  it('--include-file reads patterns (comments skipped, ! takes back)', async () => {
    const file = join(work, 'includes.txt');
    await writeFile(file, `# docs but not the old ones\n${src}/docs\n!${src}/docs/old\n`);
    const to = target();
    expect((await restore('latest', to, ['--include-file', file])).code).toBe(0);
    expect(await listTree(to)).toEqual(tree(['src/', 'src/docs/', 'src/docs/Guide.TXT', 'src/docs/notes.txt']));
  });

  it('--exclude restores all but what matches; a folder left out is not created', async () => {
    const to = target();
    expect((await restore('latest', to, ['--exclude', '*.log', '--exclude', 'deeper'])).code).toBe(0);
    const got = await listTree(to);
    expect(got.filter((p) => p.endsWith('.log'))).toEqual([]);
    expect(got).not.toContain(at('src/sub/deeper/'));
    expect(got).toContain(at('src/sub/'));
    expect(got).toContain(at('src/empty-branch/only/z.dat'));
  });

  it('--include and --exclude together are a usage error (exit 2), nothing written', async () => {
    const to = target();
    const r = await restore('latest', to, ['--include', '*.txt', '--exclude', '*.log']);
    expect(r.code).toBe(2);
    expect(existsSync(to)).toBe(false);
  });

  it('an --include that matches nothing: named; when nothing at all is restored, exit 1', async () => {
    const to = target();
    const r = await restore('latest', to, ['--include', `${src}/no-such`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${src}/no-such matches nothing`);
    expect(await listTree(to)).toEqual([]);
  });

  it('ID:subfolder restores the folder\'s contents straight into the target; a missing one is exit 2', async () => {
    const to = target();
    const r = await restore(`latest:${src}/docs`, to, []);
    expect(r.code, r.stderr).toBe(0);
    expect(await listTree(to)).toEqual(['Guide.TXT', 'notes.txt', 'old/', 'old/draft.txt']);
    const to2 = target();
    const withInclude = await restore(`latest:${src}/docs`, to2, ['--include', '/old']);
    expect(withInclude.code, withInclude.stderr).toBe(0);
    expect(await listTree(to2)).toEqual(['old/', 'old/draft.txt']);
    const missing = await restore(`latest:${src}/nothing`, target(), []);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`${src}/nothing`);
  });

  it('--dry-run writes nothing and says what would be restored; -v names each entry', async () => {
    const to = target();
    const r = await runEngine(['restore', 'latest', '--repo', repo, '--target', to, '--dry-run', '-v', '--include', `${src}/sub`], { native });
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(to)).toBe(false);
    // The folders: those on the way to the work folder, src, sub and deeper.
    const folders = way.length + 3;
    expect(r.stdout).toContain(`would restore 2 files, ${folders} folders`);
    expect(r.stderr).toContain(`would restore ${src}/sub/deeper/c.bin`);
    expect(r.stderr).not.toContain('top.txt');
  });

  it('--overwrite: always replaces, if-changed keeps same size and time, if-newer keeps what is not older, never keeps anything there', async () => {
    const to = target();
    expect((await restore('latest', to, ['--include', `${src}/docs`])).code).toBe(0);
    const guide = join(to, src, 'docs/Guide.TXT');
    const notes = join(to, src, 'docs/notes.txt');
    const draft = join(to, src, 'docs/old/draft.txt');
    /** Same size and time as in the snapshot, other bytes; another file changed and newer; one removed. */
    const tamper = async (): Promise<void> => {
      await writeFile(guide, 'GUIDE\n');
      // The source's times to the nanosecond (Node's utimes rounds them).
      execFileSync('touch', ['-r', join(work, 'src/docs/Guide.TXT'), guide]);
      await writeFile(notes, 'edited later\n');
      await utimes(notes, new Date(), new Date(Date.now() + 3600_000));
      await rm(draft);
    };
    const contents = async (): Promise<string[]> => [await readFile(guide, 'utf8'), await readFile(notes, 'utf8'), await readFile(draft, 'utf8')];
    const cases: [string, string[], number][] = [
      ['never', ['GUIDE\n', 'edited later\n', 'draft\n'], 2],
      ['if-newer', ['GUIDE\n', 'edited later\n', 'draft\n'], 2],
      ['if-changed', ['GUIDE\n', 'notes\n', 'draft\n'], 1],
      ['always', ['guide\n', 'notes\n', 'draft\n'], 0],
    ];
    for (const [mode, expected, skipped] of cases) {
      await tamper();
      const r = await runEngine(['restore', 'latest', '--repo', repo, '--target', to, '--include', `${src}/docs`, '--overwrite', mode, '--json'], { native });
      expect(r.code, `${mode}: ${r.stderr}`).toBe(0);
      expect(await contents(), mode).toEqual(expected);
      expect(r.json?.files_skipped, mode).toBe(skipped);
    }
    const bad = await restore('latest', target(), ['--overwrite', 'sometimes']);
    expect(bad.code).toBe(2);
  });

  it('--verify reads every restored file back: all as in the snapshot is exit 0; a byte garbled on disk is named, exit 1', async () => {
    const to = target();
    const ok = await runEngine(['restore', 'latest', '--repo', repo, '--target', to, '--verify', '--json'], { native });
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.json?.verified_files).toBe(8);
    expect(ok.json?.verify_errors).toBe(0);
    // Kept by --overwrite never: not the snapshot's, so not checked.
    await writeFile(join(to, src, 'top.txt'), 'mine now\n');
    const kept = await runEngine(['restore', 'latest', '--repo', repo, '--target', to, '--verify', '--overwrite', 'never', '--json'], { native });
    expect(kept.code, kept.stderr).toBe(0);
    expect(kept.json?.verified_files).toBe(0);
    const to2 = target();
    const bad = await runEngine(['restore', 'latest', '--repo', repo, '--target', to2, '--verify'], { native, env: { ENGINE_TEST_HOOKS: `verify-tamper=${at('src/docs/notes.txt')}` } });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('notes.txt: differs from the snapshot');
    expect(bad.stdout).toContain('verified 8 files');
    expect((await runEngine(['restore', 'latest', '--repo', repo, '--target', target(), '--verify', '--dry-run'], { native })).code).toBe(2);
  });

  it('--delete removes what the snapshot does not hold, within the selection, never through a link, and nothing outside the target', async () => {
    const to = target();
    expect((await restore('latest', to, [])).code).toBe(0);
    const outside = join(work, 'outside');
    await mkdir(join(outside, 'keep-me'), { recursive: true });
    await writeFile(join(outside, 'keep-me', 'precious'), 'not the target\n');
    await writeFile(join(to, src, 'extra.txt'), 'extra\n');
    await writeFile(join(to, src, 'zzz-extra.log'), 'extra after the last entry\n');
    await mkdir(join(to, src, 'docs/extra-dir/inner'), { recursive: true });
    await writeFile(join(to, src, 'docs/extra-dir/inner/f'), 'f\n');
    await symlink(outside, join(to, src, 'sub/link-out'));
    // Beside src, in the folder on the way to it (which the snapshot holds only src in).
    await writeFile(join(to, work, 'beside-src'), 'at the top\n');
    // An --exclude keeps what it matches even when the snapshot does not hold it.
    const r = await runEngine(['restore', 'latest', '--repo', repo, '--target', to, '--delete', '--exclude', 'beside-src', '--json'], { native });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json?.files_deleted).toBe(4);
    const left = await listTree(to);
    for (const gone of ['src/extra.txt', 'src/zzz-extra.log', 'src/docs/extra-dir/', 'src/sub/link-out']) expect(left).not.toContain(at(gone));
    expect(left).toContain(at('beside-src'));
    expect(left).toContain(at('src/docs/old/draft.txt'));
    expect(await readFile(join(outside, 'keep-me', 'precious'), 'utf8')).toBe('not the target\n');
    // A dry run looks at the target as the restore would, and changes nothing.
    await writeFile(join(to, src, 'again-extra.txt'), 'extra\n');
    const before = await listTree(to);
    const dry = await runEngine(['restore', 'latest', '--repo', repo, '--target', to, '--delete', '--overwrite', 'if-changed', '--dry-run', '-v'], { native });
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stderr).toContain(`would delete ${src}/again-extra.txt`);
    expect(dry.stderr).toContain(`would keep ${src}/top.txt`);
    expect(dry.stdout).toContain('would delete 2 entries');
    expect(dry.stdout).toMatch(/would leave \d+ entries of the target as they are \(--overwrite if-changed\)/);
    expect(await listTree(to)).toEqual(before);
    expect((await runEngine(['restore', 'latest', '--repo', repo, '--target', '/', '--delete'], { native })).code).toBe(2);
    // Nor through a link that leads to /, nor a path that climbs there (checked with --dry-run: were
    // the refusal ever lost, the test must not delete the machine's files).
    const toRoot = join(work, 'link-to-root');
    await symlink('/', toRoot);
    const viaLink = await runEngine(['restore', 'latest', '--repo', repo, '--target', toRoot, '--delete', '--dry-run'], { native });
    expect(viaLink.code, viaLink.stderr).toBe(2);
    expect(viaLink.stderr).toContain('--delete with --target / would remove everything');
    expect((await runEngine(['restore', 'latest', '--repo', repo, '--target', `${work}/${'../'.repeat(20)}`, '--delete', '--dry-run'], { native })).code).toBe(2);
    // A link followed by `..`: the kernel follows the link first (to /), then climbs (still /),
    // where a textual resolve would only drop the link's name.
    await mkdir(join(work, 'deep', 'er'), { recursive: true });
    await symlink('/', join(work, 'deep', 'er', 'to-root'));
    expect((await runEngine(['restore', 'latest', '--repo', repo, '--target', join(work, 'deep', 'er', 'to-root') + '/..', '--delete', '--dry-run'], { native })).code).toBe(2);
  });

  it('--verify opens no FIFO planted in a restored file\'s place (it would block): named, exit 1', async () => {
    const r = await runEngine(['restore', 'latest', '--repo', repo, '--target', target(), '--verify'], { native, env: { ENGINE_TEST_HOOKS: `verify-fifo=${at('src/top.txt')}` } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('top.txt: is not a regular file');
  });

  it('--delete never removes the repository being read, nor a folder holding it; a target-only name is no match for --include', async () => {
    const outer = join(work, 'holds-a-repo');
    const inner = join(outer, 'backups', 'repo');
    await mkdir(join(outer, 'data'), { recursive: true });
    await writeFile(join(outer, 'data', 'f.txt'), 'f\n');
    expect((await runEngine(['init', '--repo', inner], { native })).code).toBe(0);
    const b = await runEngine(['backup', '--repo', inner, join(outer, 'data')], { native });
    expect(b.code, b.stderr).toBe(0);
    // Restored into the folder that holds the repository: "backups" is not in the snapshot.
    const r = await runEngine(['restore', 'latest', '--repo', inner, '--target', outer, '--delete'], { native });
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain('not deleted: it is or holds the repository being restored from');
    expect((await runEngine(['check', '--repo', inner], { native })).code).toBe(0);
    // An include that matches only a name of the target (not of the snapshot) matches nothing.
    await writeFile(join(outer, 'typo'), 'only in the target\n');
    const inc = await runEngine(['restore', 'latest', '--repo', inner, '--target', outer, '--delete', '--include', '/typo'], { native });
    expect(inc.stderr).toContain('--include /typo matches nothing');
  });
});
