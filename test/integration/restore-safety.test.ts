// Restore into a target that may be hostile or too small (issue 12, points 1, 3, 8 and the
// --include item of 10), through the real CLI in a subprocess, as root where the threat needs it:
// links planted at any level of the target never lead a write, chmod or chown outside it; things
// of the wrong type in the way are replaced (never through a link) or, when they may not be
// removed, named while the rest is restored; a full disk leaves no complete-looking file behind;
// an --include that matches nothing is said. The link tests run twice: through /proc/self/fd and
// through the lstat fallback used where /proc is missing (ENGINE_TEST_HOOKS=no-proc-fd).
import { execFileSync } from 'node:child_process';
import { chmod, chown, link, lstat, mkdir, readdir, readFile, readlink, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workdirPerFile } from '../support/workdir.js';
import { currentNative, runEngine } from '../support/cli.js';
import { diffTrees } from '../support/tree.js';

const native = currentNative();
const isRoot = process.getuid?.() === 0;
/** The owner given to the source entries when running as root, so a chown outside would show. */
const OWNER = 4321;

const modes = [
  { label: '/proc/self/fd', hooks: undefined },
  { label: 'lstat fallback', hooks: 'no-proc-fd' },
] as const;

describe(`restore into a hostile or full target (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-restore-safety-');
  let src: string;
  let repo: string;
  const mounts: string[] = [];

  // The snapshot holds src under its absolute path: a restore puts it at join(target, src).
  const restore = (target: string, extra: string[] = [], hooks?: string) =>
    runEngine(['restore', 'latest', '--repo', repo, '--target', target, ...extra], { native, env: hooks ? { ENGINE_TEST_HOOKS: hooks } : {} });

  async function mountTmpfs(dir: string, size: string): Promise<void> {
    await mkdir(dir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
    mounts.push(dir);
  }

  beforeAll(async () => {
    src = join(work, 'src');
    repo = join(work, 'repo');
    await mkdir(join(src, 'home', 'alice', '.ssh'), { recursive: true });
    await writeFile(join(src, 'home', 'alice', '.ssh', 'authorized_keys'), 'ssh-ed25519 AAAA restored\n');
    await writeFile(join(src, 'x'), 'the restored x\n');
    await chmod(join(src, 'x'), 0o644);
    await mkdir(join(src, 'obst', 'dirlink'), { recursive: true });
    await writeFile(join(src, 'obst', 'dirlink', 'in-dir'), 'in a folder where a symlink was planted\n');
    await writeFile(join(src, 'obst', 'filelink'), 'a file where a symlink was planted\n');
    await mkdir(join(src, 'obst', 'folder'), { recursive: true });
    await writeFile(join(src, 'obst', 'folder', 'in-folder'), 'in a folder where a file stood\n');
    await symlink('folder/in-folder', join(src, 'obst', 'link'));
    await writeFile(join(src, 'obst', 'file-over-dir'), 'a file where a non-empty folder stood\n');
    await writeFile(join(src, 'obst', 'mnt'), 'a file where a mount point stands\n');
    if (isRoot) {
      // Owners that differ from the outside entries' owner (root), and modes that differ from theirs.
      for (const p of ['home', 'home/alice', 'home/alice/.ssh', 'home/alice/.ssh/authorized_keys', 'x']) await chown(join(src, p), OWNER, OWNER);
    }
    await chmod(join(src, 'home', 'alice', '.ssh'), 0o700);
    await chmod(join(src, 'home', 'alice', '.ssh', 'authorized_keys'), 0o600);
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
    const b = await runEngine(['backup', '--repo', repo, src], { native });
    expect(b.code, b.stderr).toBe(0);
  });

  afterAll(async () => {
    for (const m of mounts.reverse()) {
      try {
        execFileSync('umount', [m]);
      } catch {
        // Already unmounted by its test.
      }
    }
  });

  /** An outside folder with one file, its mode, owner and times recorded. */
  async function outsideDir(name: string): Promise<{ dir: string; check: () => Promise<void> }> {
    const dir = join(work, name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'sentinel'), 'outside\n');
    await chmod(dir, 0o751);
    await utimes(dir, 1_000_000, 1_000_000);
    const before = await stat(dir);
    return {
      dir,
      check: async () => {
        expect(await readdir(dir)).toEqual(['sentinel']);
        expect(await readFile(join(dir, 'sentinel'), 'utf8')).toBe('outside\n');
        const after = await stat(dir);
        expect(after.mode & 0o7777).toBe(0o751);
        expect(after.uid).toBe(before.uid);
        expect(after.gid).toBe(before.gid);
        expect(after.mtimeMs).toBe(before.mtimeMs);
      },
    };
  }

  for (const mode of modes) {
    it(`a symlink planted at an intermediate folder (T/home/alice/.ssh -> outside) leads nothing outside the target (${mode.label})`, async () => {
      const target = join(work, `t-intermediate-${mode.hooks ?? 'proc'}`);
      const outside = await outsideDir(`outside-ssh-${mode.hooks ?? 'proc'}`);
      await mkdir(join(target, src, 'home', 'alice'), { recursive: true });
      await symlink(outside.dir, join(target, src, 'home', 'alice', '.ssh'));
      const r = await restore(target, [], mode.hooks);
      expect(r.code, r.stderr).toBe(0);
      // Nothing written, chmodded or chowned outside.
      await outside.check();
      // The restored entries are inside the target, where they belong, as they are in the snapshot.
      const ssh = join(target, src, 'home', 'alice', '.ssh');
      expect((await lstat(ssh)).isDirectory()).toBe(true);
      expect(await readFile(join(ssh, 'authorized_keys'), 'utf8')).toBe('ssh-ed25519 AAAA restored\n');
      expect((await stat(ssh)).mode & 0o7777).toBe(0o700);
      if (isRoot) expect((await stat(join(ssh, 'authorized_keys'))).uid).toBe(OWNER);
      expect(await diffTrees(join(src, 'home'), join(target, src, 'home'))).toEqual([]);
    });

    it(`a hardlink planted at a file's path is replaced, the file it links to untouched (${mode.label})`, async () => {
      const target = join(work, `t-hardlink-${mode.hooks ?? 'proc'}`);
      const shadow = join(work, `shadow-${mode.hooks ?? 'proc'}`);
      await writeFile(shadow, 'root:secret:19000::::::\n');
      await chmod(shadow, 0o640);
      const before = await stat(shadow);
      await mkdir(join(target, src), { recursive: true });
      await link(shadow, join(target, src, 'x'));
      const r = await restore(target, [], mode.hooks);
      expect(r.code, r.stderr).toBe(0);
      const after = await stat(shadow);
      expect(await readFile(shadow, 'utf8')).toBe('root:secret:19000::::::\n');
      expect(after.mode & 0o7777).toBe(0o640);
      expect(after.uid).toBe(before.uid);
      expect(after.gid).toBe(before.gid);
      const restored = await stat(join(target, src, 'x'));
      expect(restored.ino).not.toBe(before.ino);
      expect(restored.nlink).toBe(1);
      expect(await readFile(join(target, src, 'x'), 'utf8')).toBe('the restored x\n');
      if (isRoot) expect(restored.uid).toBe(OWNER);
    });

    it(`things of the wrong type in the way are replaced without following links inside them (${mode.label})`, async () => {
      const target = join(work, `t-obstacles-${mode.hooks ?? 'proc'}`);
      const outside = await outsideDir(`outside-obst-${mode.hooks ?? 'proc'}`);
      const outsideFile = join(work, `outside-file-${mode.hooks ?? 'proc'}`);
      await writeFile(outsideFile, 'outside file\n');
      const o = join(target, src, 'obst');
      await mkdir(o, { recursive: true });
      // A symlink where a folder belongs, and where a file belongs.
      await symlink(outside.dir, join(o, 'dirlink'));
      await symlink(outsideFile, join(o, 'filelink'));
      // A file where a folder belongs.
      await writeFile(join(o, 'folder'), 'a file in the way\n');
      // A non-empty folder (holding a symlink to the outside folder) where a symlink belongs.
      await mkdir(join(o, 'link', 'deeper'), { recursive: true });
      await symlink(outside.dir, join(o, 'link', 'deeper', 'escape'));
      await writeFile(join(o, 'link', 'junk'), 'junk\n');
      // A non-empty folder where a file belongs.
      await mkdir(join(o, 'file-over-dir', 'sub'), { recursive: true });
      await symlink(outsideFile, join(o, 'file-over-dir', 'sub', 'escape'));
      const r = await restore(target, [], mode.hooks);
      expect(r.code, r.stderr).toBe(0);
      await outside.check();
      expect(await readFile(outsideFile, 'utf8')).toBe('outside file\n');
      expect(await readlink(join(o, 'link'))).toBe('folder/in-folder');
      expect(await diffTrees(src, join(target, src))).toEqual([]);
      // Each replacement is told (not as a warning: the entry was restored).
      expect(r.stderr).toContain(`${join(o, 'link')}: a folder stood where the snapshot has a symlink`);
      expect(r.stderr).toContain(`${join(o, 'folder')}: a file stood where the snapshot has a folder`);
      expect(r.stderr).not.toMatch(/^warning:/m);
    });
  }

  it.skipIf(!isRoot)('a mount point where a file belongs is left as it is and named (exit 3); everything else is restored', async () => {
    const target = join(work, 't-mount');
    const mnt = join(target, src, 'obst', 'mnt');
    await mountTmpfs(mnt, '1m');
    await writeFile(join(mnt, 'keep'), 'on another filesystem\n');
    const r = await restore(target);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(new RegExp(`^warning: ${escapeRe(mnt)}: .*mount point`, 'm'));
    expect(await readFile(join(mnt, 'keep'), 'utf8')).toBe('on another filesystem\n');
    const diffs = await diffTrees(src, join(target, src));
    expect(diffs.length).toBeGreaterThan(0);
    for (const d of diffs) expect(d.path === 'obst/mnt' || d.path.startsWith('obst/mnt/'), `${d.path}: ${d.message}`).toBe(true);
  });

  it.skipIf(!isRoot)('a folder of the target that refuses writes (read-only) is named entry by entry (exit 3); everything else is restored', async () => {
    const target = join(work, 't-readonly');
    const home = join(target, src, 'home');
    await mkdir(home, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,ro', 'tmpfs', home]);
    mounts.push(home);
    const r = await restore(target);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(new RegExp(`^warning: ${escapeRe(join(home, 'alice'))}: folder not restored, nor anything in it: the target is read-only`, 'm'));
    expect(r.stderr).not.toContain('EROFS');
    const diffs = await diffTrees(src, join(target, src));
    expect(diffs.length).toBeGreaterThan(0);
    for (const d of diffs) expect(d.path === 'home' || d.path.startsWith('home/'), `${d.path}: ${d.message}`).toBe(true);
  });

  it('names that are not UTF-8 are restored byte for byte', async () => {
    const bytesSrc = join(work, 'bytes-src');
    await mkdir(bytesSrc, { recursive: true });
    const fileName = Buffer.concat([Buffer.from(bytesSrc + '/'), Buffer.from([0x78, 0xff])]);
    const dirName = Buffer.concat([Buffer.from(bytesSrc + '/'), Buffer.from([0x64, 0xfe])]);
    await writeFile(fileName, 'x\n');
    await mkdir(dirName);
    await writeFile(Buffer.concat([dirName, Buffer.from('/y')]), 'y\n');
    const bytesRepo = join(work, 'bytes-repo');
    expect((await runEngine(['init', '--repo', bytesRepo], { native })).code).toBe(0);
    expect((await runEngine(['backup', '--repo', bytesRepo, bytesSrc], { native })).code).toBe(0);
    const target = join(work, 't-bytes');
    const r = await runEngine(['restore', 'latest', '--repo', bytesRepo, '--target', target], { native });
    expect(r.code, r.stderr).toBe(0);
    const names = (await readdir(Buffer.from(join(target, bytesSrc)) as unknown as string, { encoding: 'buffer' })).map((b) => b.toString('hex')).sort();
    expect(names).toEqual(['64fe', '78ff']);
    const y = await readFile(Buffer.concat([Buffer.from(join(target, bytesSrc) + '/'), Buffer.from([0x64, 0xfe]), Buffer.from('/y')]), 'utf8');
    expect(y).toBe('y\n');
  });

  it.skipIf(!isRoot)('a full disk: every file is whole or absent and named, the shortfall said once with the space needed (exit 3)', async () => {
    const fullSrc = join(work, 'full-src');
    await mkdir(join(fullSrc, 'small'), { recursive: true });
    for (let i = 0; i < 40; i++) await writeFile(join(fullSrc, 'small', `f${i}`), randomBytes(100_000));
    // Several chunks each (the chunker's minimum is 512 KiB).
    for (let i = 0; i < 3; i++) await writeFile(join(fullSrc, `big${i}`), randomBytes(5_000_000));
    const fullRepo = join(work, 'full-repo');
    expect((await runEngine(['init', '--repo', fullRepo], { native })).code).toBe(0);
    expect((await runEngine(['backup', '--repo', fullRepo, fullSrc], { native })).code).toBe(0);
    const target = join(work, 't-full');
    await mountTmpfs(target, '8m');
    const r = await runEngine(['restore', 'latest', '--repo', fullRepo, '--target', target], { native });
    expect(r.code, r.stderr).toBe(3);
    const named = new Set([...r.stderr.matchAll(/^warning: (.+?): not restored: the target is out of space/gm)].map((m) => m[1]!));
    expect(named.size).toBeGreaterThan(0);
    let whole = 0;
    for (const rel of [...Array.from({ length: 40 }, (_, i) => `small/f${i}`), 'big0', 'big1', 'big2']) {
      const restored = join(target, fullSrc, rel);
      const st = await stat(restored).catch(() => null);
      const same = st !== null && Buffer.compare(await readFile(restored), await readFile(join(fullSrc, rel))) === 0;
      if (same) {
        whole++;
        expect(named.has(restored), `${rel} is whole but named`).toBe(false);
      } else {
        // Not whole: absent (or empty), never at its full size, and named.
        expect(st === null || st.size === 0, `${rel} is partly there (${st?.size} bytes)`).toBe(true);
        expect(named.has(restored), `${rel} is missing but not named`).toBe(true);
      }
    }
    expect(whole).toBeGreaterThan(0);
    // Multi-chunk files are among the named (three 5 MB files cannot all fit in 8 MiB beside the rest).
    expect([...named].some((p) => /big\d$/.test(p))).toBe(true);
    // Said once, with the target and the space needed, never as a raw error code.
    expect(r.stderr.match(/out of space on /g)).toHaveLength(1);
    expect(r.stderr).toMatch(new RegExp(`out of space on ${escapeRe(target)}: \\d+ entr.* not restored .*more space is needed`));
    expect(r.stderr).not.toContain('ENOSPC');
  });

  it('an --include that matches nothing is named; when none matches, the restore fails (exit 1)', async () => {
    const none = await restore(join(work, 't-include-none'), ['--include', 'src/no-such-path']);
    expect(none.code, none.stderr).toBe(1);
    expect(none.stderr).toContain('--include src/no-such-path matches nothing');
    const some = await restore(join(work, 't-include-some'), ['--include', 'src/typo', '--include', 'src/x']);
    expect(some.code, some.stderr).toBe(3);
    expect(some.stderr).toContain('--include src/typo matches nothing');
    expect(await readFile(join(work, 't-include-some', src, 'x'), 'utf8')).toBe('the restored x\n');
  });
});

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
