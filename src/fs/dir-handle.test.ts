// The directory-handle layer on real files, through /proc/self/fd and through the lstat fallback:
// a bounded number of open folders serves a wide tree visited out of order, nothing is ever
// created through a planted or swapped-in symlink, and obstacles are removed without following
// links inside them.
import { pbkdf2 } from 'node:crypto';
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DirTree } from './dir-handle.js';
import { TargetEntryError } from './target-entry-error.js';

const hasProc = fs.existsSync('/proc/self/fd');

describe.each([
  { label: '/proc/self/fd', procFd: true },
  { label: 'lstat fallback', procFd: false },
])('DirTree ($label)', ({ procFd }) => {
  let work: string;
  let n = 0;
  const fresh = (): string => join(work, `t${n++}`);

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'engine-dir-handle-'));
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it.skipIf(procFd && !hasProc)('uses the mode asked for', () => {
    const t = DirTree.open(fresh(), { procFd });
    expect(t.viaProc).toBe(procFd);
    t.close();
  });

  it('serves 300 folders visited out of order with at most 4 open, creating each file in the right one', () => {
    const root = fresh();
    const t = DirTree.open(root, { procFd, maxOpen: 4 });
    try {
      const dirs = Array.from({ length: 300 }, (_, i) => `a${i % 7}/b${i % 13}/c${i}`);
      for (const d of dirs) t.ensureDir(d);
      // Files land in folders long evicted, in another order than they were made.
      for (const d of [...dirs].reverse()) {
        const fd = t.createFile(d, 'f');
        fs.writeSync(fd, d);
        fs.closeSync(fd);
      }
      for (const d of dirs) expect(fs.readFileSync(join(root, d, 'f'), 'utf8')).toBe(d);
      const open = fs.readdirSync('/proc/self/fd').length;
      expect(open).toBeLessThan(64);
    } finally {
      t.close();
    }
  });

  it('creates files off the main thread in 300 folders at once with at most 4 open: each lands in its own folder', async () => {
    const root = fresh();
    const t = DirTree.open(root, { procFd, maxOpen: 4 });
    try {
      const dirs = Array.from({ length: 300 }, (_, i) => `a${i % 7}/b${i % 13}/c${i}`);
      for (const d of dirs) t.ensureDir(d);
      // Every open is queued before any returns: a folder evicted (its descriptor closed, the
      // number reused by the next folder opened) while its file's open waited would put the
      // file in another folder. Pinned folders are not evicted until their open returns.
      const fds = await Promise.all([...dirs].reverse().map((d) => t.createFileAsync(d, 'f')));
      [...dirs].reverse().forEach((d, i) => {
        fs.writeSync(fds[i]!, d);
        fs.closeSync(fds[i]!);
      });
      for (const d of dirs) expect(fs.readFileSync(join(root, d, 'f'), 'utf8')).toBe(d);
      // Once the opens returned, the cache goes back within its bound at the next use.
      t.ensureDir('a0');
      expect(fs.readdirSync('/proc/self/fd').length).toBeLessThan(64);
    } finally {
      t.close();
    }
  });

  it('closed while creates are in flight, keeps each busy folder open until its create returns, then closes it', async () => {
    const root = fresh();
    const outside = fresh();
    fs.mkdirSync(outside);
    const before = fs.readdirSync('/proc/self/fd').length;
    const t = DirTree.open(root, { procFd, maxOpen: 4 });
    const dirs = Array.from({ length: 64 }, (_, i) => `d${i}`);
    for (const d of dirs) t.ensureDir(d);
    // The threadpool is kept busy first (pbkdf2 runs there), so the opens wait in its queue.
    const busy = Array.from({ length: 16 }, () => new Promise((r) => pbkdf2('x', 'y', 400_000, 32, 'sha256', r)));
    const creating = dirs.map((d) => t.createFileAsync(d, 'f').then((fd) => fs.closeSync(fd), (err: unknown) => err));
    // Closed at once, with the opens queued on the threadpool; folders opened meanwhile (the
    // outside one stands for any other folder the process opens) must not take a busy number.
    t.close();
    const others = Array.from({ length: 16 }, () => fs.openSync(outside, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY));
    await Promise.all(creating);
    await Promise.all(busy);
    for (const fd of others) fs.closeSync(fd);
    expect(fs.readdirSync(outside)).toEqual([]);
    for (const d of dirs) expect(fs.readdirSync(join(root, d)).filter((n) => n !== 'f')).toEqual([]);
    // Every handle of the tree is closed once the last create returned.
    expect(fs.readdirSync('/proc/self/fd').length).toBeLessThanOrEqual(before);
  });

  it('creates off the main thread a file new where a symlink or a hardlink was planted, never writing through it', async () => {
    const root = fresh();
    const outside = fresh();
    fs.mkdirSync(outside);
    fs.writeFileSync(join(outside, 'secret'), 'keep');
    fs.mkdirSync(join(root, 'd'), { recursive: true });
    fs.symlinkSync(join(outside, 'secret'), join(root, 'd', 'link'));
    fs.linkSync(join(outside, 'secret'), join(root, 'd', 'hard'));
    const t = DirTree.open(root, { procFd });
    try {
      for (const name of ['link', 'hard']) {
        const fd = await t.createFileAsync('d', name);
        fs.writeSync(fd, 'restored');
        fs.closeSync(fd);
      }
    } finally {
      t.close();
    }
    expect(fs.readFileSync(join(outside, 'secret'), 'utf8')).toBe('keep');
    for (const name of ['link', 'hard']) {
      expect(fs.lstatSync(join(root, 'd', name)).isFile()).toBe(true);
      expect(fs.readFileSync(join(root, 'd', name), 'utf8')).toBe('restored');
    }
  });

  it('replaces a planted symlink at any level and never creates through it', () => {
    const root = fresh();
    const outside = fresh();
    fs.mkdirSync(outside);
    fs.mkdirSync(join(root, 'home', 'alice'), { recursive: true });
    fs.symlinkSync(outside, join(root, 'home', 'alice', '.ssh'));
    const replaced: string[] = [];
    const t = DirTree.open(root, { procFd, onReplace: (p) => replaced.push(p) });
    try {
      const fd = t.createFile('home/alice/.ssh', 'authorized_keys');
      fs.closeSync(fd);
      t.symlink('home/alice/.ssh', 'l', '/etc');
    } finally {
      t.close();
    }
    expect(fs.readdirSync(outside)).toEqual([]);
    expect(fs.lstatSync(join(root, 'home', 'alice', '.ssh')).isDirectory()).toBe(true);
    expect(fs.readlinkSync(join(root, 'home', 'alice', '.ssh', 'l'))).toBe('/etc');
    expect(replaced).toEqual([join(root, 'home', 'alice', '.ssh')]);
  });

  it('a folder swapped for a symlink after it was opened is never written through', () => {
    const root = fresh();
    const outside = fresh();
    fs.mkdirSync(outside);
    const t = DirTree.open(root, { procFd });
    try {
      t.ensureDir('d/e');
      // Someone renames the folder away and plants a symlink to the outside in its place.
      fs.renameSync(join(root, 'd'), join(root, 'moved'));
      fs.symlinkSync(outside, join(root, 'd'));
      let created = false;
      try {
        fs.closeSync(t.createFile('d/e', 'f'));
        created = true;
      } catch (err) {
        // The fallback notices that the path no longer leads to the folder it opened.
        expect(err).toBeInstanceOf(TargetEntryError);
      }
      // Through /proc the handle still is the folder it opened: the file lands there (moved
      // with it, inside the target).
      if (created) expect(fs.existsSync(join(root, 'moved', 'e', 'f'))).toBe(true);
      expect(fs.readdirSync(outside)).toEqual([]);
    } finally {
      t.close();
    }
  });

  it('removes a non-empty folder in the way without following the symlinks inside it', () => {
    const root = fresh();
    const outside = fresh();
    fs.mkdirSync(outside);
    fs.writeFileSync(join(outside, 'precious'), 'keep');
    fs.mkdirSync(join(root, 'x', 'deep', 'er'), { recursive: true });
    fs.symlinkSync(outside, join(root, 'x', 'deep', 'link'));
    fs.symlinkSync(outside, join(root, 'x', 'deep', 'er', 'link2'));
    fs.writeFileSync(join(root, 'x', 'deep', 'file'), 'gone');
    const t = DirTree.open(root, { procFd });
    try {
      fs.closeSync(t.createFile('', 'x'));
    } finally {
      t.close();
    }
    expect(fs.lstatSync(join(root, 'x')).isFile()).toBe(true);
    expect(fs.readFileSync(join(outside, 'precious'), 'utf8')).toBe('keep');
  });

  it('a hardlink planted at a file path is replaced by a new inode', () => {
    const root = fresh();
    fs.mkdirSync(root);
    const victim = join(work, `victim-${procFd}`);
    fs.writeFileSync(victim, 'secret');
    fs.linkSync(victim, join(root, 'f'));
    const t = DirTree.open(root, { procFd });
    try {
      const fd = t.createFile('', 'f');
      fs.writeSync(fd, 'restored');
      fs.closeSync(fd);
    } finally {
      t.close();
    }
    expect(fs.readFileSync(victim, 'utf8')).toBe('secret');
    expect(fs.readFileSync(join(root, 'f'), 'utf8')).toBe('restored');
    expect(fs.statSync(victim).nlink).toBe(1);
  });

  it('refuses names that would lead out of their folder', () => {
    const root = fresh();
    const t = DirTree.open(root, { procFd });
    try {
      expect(() => t.createFile('', '../escape')).toThrow(TargetEntryError);
      expect(() => t.ensureDir('a/../../escape')).toThrow(TargetEntryError);
      expect(() => t.symlink('', '..', '/etc')).toThrow(TargetEntryError);
    } finally {
      t.close();
    }
    expect(fs.existsSync(join(root, '..', 'escape'))).toBe(false);
  });

  it('withEntry hands the folder handle and the entry path of the folder asked for', () => {
    const root = fresh();
    const t = DirTree.open(root, { procFd, maxOpen: 2 });
    try {
      for (const d of ['p/q', 'p/r', 's']) t.ensureDir(d);
      t.withEntry('p/q', 'e', (dirFd, at) => {
        expect(fs.fstatSync(dirFd).ino).toBe(fs.statSync(join(root, 'p', 'q')).ino);
        fs.symlinkSync('target', at);
      });
    } finally {
      t.close();
    }
    expect(fs.readlinkSync(join(root, 'p', 'q', 'e'))).toBe('target');
  });

  it('creates names that are not UTF-8 byte for byte', () => {
    const root = fresh();
    const t = DirTree.open(root, { procFd });
    try {
      t.ensureDir('d\udcfe');
      fs.closeSync(t.createFile('d\udcfe', 'x\udcff'));
    } finally {
      t.close();
    }
    const [d] = fs.readdirSync(root, { encoding: 'buffer' });
    expect(d!.toString('hex')).toBe('64fe');
    const [x] = fs.readdirSync(Buffer.concat([Buffer.from(`${root}/`), d!]), { encoding: 'buffer' });
    expect(x!.toString('hex')).toBe('78ff');
  });
});
