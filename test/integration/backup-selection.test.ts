// What backup leaves out and what it takes in, through the real CLI on real trees, against
// restic's documented behaviour (docs/SELECTION.md): the --exclude family with restic's pattern
// language, the tag files, sizes, --one-file-system across a tmpfs mounted here, the
// --files-from lists, and missing paths (warning and exit 3, the rest backed up).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { currentNative, runEngine, type RunResult } from '../support/cli.js';
import { workdirPerFile } from '../support/workdir.js';

const native = currentNative();
const CACHEDIR_SIGNATURE = 'Signature: 8a477f597d28d172789f06886806bc55';

describe(`backup selection (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-selection-');
  let src: string;
  let repo: string;
  const mounts: string[] = [];
  let deep: string;

  const backup = (args: string[], env: Record<string, string> = {}): Promise<RunResult> => runEngine(['backup', '--repo', repo, '--host', 'sel', ...args], { native, env });
  /**
   * The paths in the latest snapshot below the work folder, from it ('/src/keep.txt' for
   * WORK/src/keep.txt; a folder's with a trailing /): the snapshot holds them under their
   * absolute paths, and the folders on the way are left out here.
   */
  const listed = async (): Promise<string[]> => {
    const ls = await runEngine(['ls', 'latest', '--repo', repo], { native });
    expect(ls.code, ls.stderr).toBe(0);
    return ls.stdout
      .split('\n')
      .filter((l) => l.startsWith(`${work}/`))
      .map((l) => l.slice(work.length));
  };
  /** The files of listed(), sorted: the folders on the way to the listed ones left out. */
  const listedFiles = async (): Promise<string[]> => (await listed()).filter((p) => !p.endsWith('/')).sort();
  const snapshotCount = async (): Promise<number> => {
    const s = await runEngine(['snapshots', '--repo', repo, '--json'], { native });
    expect(s.code, s.stderr).toBe(0);
    return (JSON.parse(s.stdout) as unknown[]).length;
  };

  beforeAll(async () => {
    src = join(work, 'src');
    repo = join(work, 'repo');
    const files: Record<string, string> = {
      'keep.txt': 'kept\n',
      'a.log': 'log\n',
      'sub/b.log': 'log\n',
      'sub/c.txt': 'c\n',
      'sub/deeper/d.log': 'log\n',
      'other/sub/e.txt': 'e\n',
      'Docs/README.MD': 'readme\n',
      'node_modules/pkg/index.js': 'module.exports = 1;\n',
      'cache/CACHEDIR.TAG': `${CACHEDIR_SIGNATURE}\n# a cache\n`,
      'cache/junk.bin': 'junk\n',
      'fakecache/CACHEDIR.TAG': 'Signature: not the right one\n',
      'fakecache/x': 'x\n',
      'tagged/.nobackup': 'skip me please\n',
      'tagged/data': 'data\n',
      'tagged/inner/more': 'more\n',
      'headered/.nobackup': 'other text\n',
      'headered/data': 'data\n',
    };
    for (const [rel, text] of Object.entries(files)) {
      await mkdir(join(src, rel, '..'), { recursive: true });
      await writeFile(join(src, rel), text);
    }
    await writeFile(join(src, 'big.bin'), Buffer.alloc(300 * 1024, 7));
    await writeFile(join(src, 'small.bin'), Buffer.alloc(10 * 1024, 7));
    await symlink('keep.txt', join(src, 'link'));
    // A folder whose contents cannot be lstat-ed: paths longer than PATH_MAX below it (made with
    // relative mkdirs). Entered, every lstat there fails with ENAMETOOLONG and the backup warns and
    // exits 3; left out by name, it is never entered.
    deep = join(src, 'deep');
    await mkdir(deep);
    const segment = 'd'.repeat(200);
    execFileSync('bash', ['-c', `cd "$1" && for i in $(seq 1 24); do mkdir ${segment} && cd ${segment}; done && echo x > file`, 'mk', deep]);
    const init = await runEngine(['init', '--repo', repo], { native });
    expect(init.code, init.stderr).toBe(0);
  });

  afterAll(() => {
    for (const m of mounts.reverse()) spawnSync('umount', [m]);
    // Node's recursive removal walks by full path: the deep folder goes with rm, which does not.
    if (deep) spawnSync('rm', ['-rf', deep]);
  });

  it('a folder below PATH_MAX trouble is what the other tests exclude: entered, the backup warns and exits 3', async () => {
    const r = await backup([join(src, 'deep')]);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/ENAMETOOLONG|name too long/i);
  });

  it('--exclude: unanchored patterns match at any depth, anchored ones from the root, a folder takes its contents', async () => {
    const r = await backup(['--exclude', '*.log', '--exclude', 'node_modules', '--exclude', `${src}/sub/deeper`, '--exclude', 'deep', src]);
    expect(r.code, r.stderr).toBe(0);
    const paths = await listed();
    expect(paths).toContain('/src/keep.txt');
    expect(paths).toContain('/src/sub/c.txt');
    expect(paths).toContain('/src/other/sub/e.txt');
    expect(paths.filter((p) => p.endsWith('.log'))).toEqual([]);
    expect(paths.filter((p) => p.includes('node_modules'))).toEqual([]);
    expect(paths.filter((p) => p.includes('deeper'))).toEqual([]);
    // The deep folder was never entered: no ENAMETOOLONG warning, exit 0 above.
    expect(paths.filter((p) => p.startsWith('/src/deep'))).toEqual([]);
  });

  it('** spans folders; a pattern matching a folder excludes it whole, even with -e', async () => {
    const r = await backup(['-e', `${src}/**/sub`, '-e', 'deep', src]);
    expect(r.code, r.stderr).toBe(0);
    const paths = await listed();
    expect(paths.filter((p) => p.includes('/sub'))).toEqual([]);
    expect(paths).toContain('/src/other/');
    expect(paths).toContain('/src/a.log');
  });

  it('--iexclude ignores case on both sides; --exclude does not', async () => {
    expect((await backup(['--exclude', '*.md', '--exclude', 'deep', src])).code).toBe(0);
    expect(await listed()).toContain('/src/Docs/README.MD');
    expect((await backup(['--iexclude', '*.md', '--exclude', 'deep', src])).code).toBe(0);
    expect(await listed()).not.toContain('/src/Docs/README.MD');
    // Two lists, as restic: a ! of --iexclude does not take back what --exclude left out.
    expect((await backup(['--exclude', '*.log', '--iexclude', '!A.LOG', '--exclude', 'deep', src])).code).toBe(0);
    expect(await listed()).not.toContain('/src/a.log');
    expect((await backup(['--exclude', '*.log', '--exclude', '!a.log', '--exclude', 'deep', src])).code).toBe(0);
    expect(await listed()).toContain('/src/a.log');
  });

  it('--exclude-file: comments and blank lines skipped, $VARS expanded, a later ! pattern takes a file back', async () => {
    const file = join(work, 'excludes.txt');
    await writeFile(file, ['# what to leave out', '', '$SRC/sub/*', '!$SRC/sub/c.txt', '  deep  ', ''].join('\n'));
    const r = await backup(['--exclude-file', file, src], { SRC: src });
    expect(r.code, r.stderr).toBe(0);
    const paths = await listed();
    expect(paths).toContain('/src/sub/c.txt');
    expect(paths).not.toContain('/src/sub/b.log');
    expect(paths).not.toContain('/src/sub/deeper/');
    expect(paths).toContain('/src/a.log');
  });

  it('a malformed pattern is a usage error (exit 2) naming it, and nothing is written', async () => {
    const before = await snapshotCount();
    const r = await backup(['--exclude', 'abc[', src]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('abc[');
    expect(await snapshotCount()).toBe(before);
  });

  it('--exclude-caches keeps a tagged folder and its CACHEDIR.TAG only when the signature is right', async () => {
    const r = await backup(['--exclude-caches', '--exclude', 'deep', src]);
    expect(r.code, r.stderr).toBe(0);
    const paths = await listed();
    expect(paths).toContain('/src/cache/');
    expect(paths).toContain('/src/cache/CACHEDIR.TAG');
    expect(paths).not.toContain('/src/cache/junk.bin');
    expect(paths).toContain('/src/fakecache/x');
    // A tag with the wrong signature is said (as restic warns) and changes nothing else: exit 0.
    expect(r.stderr).toMatch(/fakecache\/CACHEDIR\.TAG: is shorter than the signature it should start with, so it is no tag/);
  });

  it('--exclude-if-present NAME and NAME:HEADER leave out the rest of the folder', async () => {
    expect((await backup(['--exclude-if-present', '.nobackup', '--exclude', 'deep', src])).code).toBe(0);
    let paths = await listed();
    expect(paths).toContain('/src/tagged/.nobackup');
    expect(paths).not.toContain('/src/tagged/data');
    expect(paths).not.toContain('/src/tagged/inner/');
    expect(paths).not.toContain('/src/headered/data');
    expect((await backup(['--exclude-if-present', '.nobackup:skip me', '--exclude', 'deep', src])).code).toBe(0);
    paths = await listed();
    expect(paths).not.toContain('/src/tagged/data');
    expect(paths).toContain('/src/headered/data');
  });

  it('--exclude-larger-than leaves out larger files only', async () => {
    const r = await backup(['--exclude-larger-than', '100K', '--exclude', 'deep', src]);
    expect(r.code, r.stderr).toBe(0);
    const paths = await listed();
    expect(paths).not.toContain('/src/big.bin');
    expect(paths).toContain('/src/small.bin');
    expect(paths).toContain('/src/sub/');
  });

  it('-x stays on the file system: a tmpfs mounted inside is stored as an empty folder', async () => {
    const mnt = join(src, 'mnt');
    await mkdir(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
    mounts.push(mnt);
    await writeFile(join(mnt, 'on-tmpfs.txt'), 'other device\n');
    try {
      expect((await backup(['--exclude', 'deep', src])).code).toBe(0);
      expect(await listed()).toContain('/src/mnt/on-tmpfs.txt');
      expect((await backup(['-x', '--exclude', 'deep', src])).code).toBe(0);
      const paths = await listed();
      expect(paths).toContain('/src/mnt/');
      expect(paths).not.toContain('/src/mnt/on-tmpfs.txt');
      expect(paths).toContain('/src/keep.txt');
    } finally {
      execFileSync('umount', [mnt]);
      mounts.pop();
    }
  });

  it('a missing path is a warning and exit 3, the others are backed up; all missing is exit 1 and no snapshot', async () => {
    const gone = join(work, 'no-such-folder');
    const r = await backup([gone, join(src, 'sub')]);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toContain('no-such-folder');
    expect(await listed()).toContain('/src/sub/c.txt');
    const before = await snapshotCount();
    const none = await backup([gone]);
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/none of the paths/);
    expect(await snapshotCount()).toBe(before);
  });

  it('--files-from expands globs and skips comments; --files-from-verbatim takes lines as they are; --files-from-raw splits at NUL', async () => {
    const list = join(work, 'list.txt');
    await writeFile(list, [`# the logs`, `${src}/sub/*.log`, '', `${src}/keep.txt`, `${src}/nothing-*`].join('\n'));
    const r = await backup(['--files-from', list]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('nothing-*');
    expect(await listedFiles()).toEqual(['/src/keep.txt', '/src/sub/b.log']);

    const verbatim = join(work, 'verbatim.txt');
    await writeFile(join(src, 'star*name'), 'literal\n');
    await writeFile(verbatim, `${src}/star*name\n\n${src}/a.log\n`);
    expect((await backup(['--files-from-verbatim', verbatim])).code).toBe(0);
    expect(await listedFiles()).toEqual(['/src/a.log', '/src/star*name']);

    // A line that is not UTF-8 names the file with those bytes, as restic reads it.
    const latin1 = Buffer.concat([Buffer.from(`${src}/caf`), Buffer.from([0xe9])]);
    await writeFile(latin1, 'latin-1 name\n');
    await writeFile(verbatim, Buffer.concat([Buffer.from('\ufeff'), latin1, Buffer.from('\r\n')]));
    expect((await backup(['--files-from-verbatim', verbatim])).code).toBe(0);
    expect(await listedFiles()).toEqual(['/src/caf\\xe9']);

    const raw = join(work, 'raw.bin');
    await writeFile(join(src, 'line\nbreak'), 'newline in the name\n');
    await writeFile(raw, `${src}/line\nbreak\0${src}/small.bin\0`);
    expect((await backup(['--files-from-raw', raw])).code).toBe(0);
    expect(await listedFiles()).toEqual(['/src/line\\nbreak', '/src/small.bin']);
    await writeFile(raw, `${src}/small.bin`);
    const unterminated = await backup(['--files-from-raw', raw]);
    expect(unterminated.code).toBe(2);
    expect(unterminated.stderr).toContain('NUL');
  });

  it('every path excluded: exit 1 and no snapshot, as restic ("snapshot is empty")', async () => {
    const before = await snapshotCount();
    const r = await backup(['--exclude', 'sub', join(src, 'sub')]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toContain('empty');
    expect(await snapshotCount()).toBe(before);
  });

  it('nothing to back up: no path and no list is a usage error (exit 2)', async () => {
    const r = await backup([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('nothing to back up');
  });

  it('--tag a,b is two tags, as restic (so the filters find the snapshot by either)', async () => {
    const r = await backup(['--tag', 'a,b', '--tag', 'c', '--exclude', 'deep', src, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const s = await runEngine(['snapshots', '--repo', repo, '--json', '--tag', 'b'], { native });
    const listed = JSON.parse(s.stdout) as { id: string; tags: string[] }[];
    expect(listed.map((x) => x.id)).toEqual([String(r.json?.snapshot_id)]);
    expect(listed[0]!.tags).toEqual(['a', 'b', 'c']);
  });

  it('a FIFO planted under a tag file\'s name does not hang the backup: said, and the folder is backed up', async () => {
    const dir = join(src, 'fifo-tagged');
    await mkdir(dir);
    await writeFile(join(dir, 'kept.txt'), 'kept\n');
    execFileSync('mkfifo', [join(dir, 'CACHEDIR.TAG')]);
    try {
      const r = await backup(['--exclude-caches', '--exclude', 'deep', src]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain('fifo-tagged/CACHEDIR.TAG: is not a regular file');
      expect(await listed()).toContain('/src/fifo-tagged/kept.txt');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
