import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compareTrees, diffTrees, isSparse, makeTree, nsToUtimes } from './tree.js';
import type { TreeStats } from './tree.js';

const execFileP = promisify(execFile);

let work: string;
let a: string;
let stats: TreeStats;
let copies = 0;

const SMALL = 500;

beforeAll(async () => {
  work = await fs.mkdtemp(path.join(os.tmpdir(), 'tree-test-'));
  a = path.join(work, 'a');
  stats = await makeTree(a, { seed: 42, smallFiles: SMALL });
});

afterAll(async () => {
  if (work) await fs.rm(work, { recursive: true, force: true });
});

/** A fresh exact copy of tree a (cp -a keeps modes, ns times, hardlinks, symlinks and holes). */
async function copyOfA(extra: string[] = []): Promise<string> {
  const c = path.join(work, `copy-${copies++}`);
  await execFileP('cp', ['-a', ...extra, a, c]);
  return c;
}

const p = (root: string, rel: string): string => path.join(root, ...rel.split('/'));

/** Run fn, then put the parent directory's mtime back (creating/removing entries changes it). */
async function keepingParentMtime(root: string, rel: string, fn: () => Promise<void>): Promise<void> {
  const parent = path.dirname(p(root, rel));
  const before = await fs.lstat(parent, { bigint: true });
  await fn();
  await fs.utimes(parent, nsToUtimes(before.atimeNs), nsToUtimes(before.mtimeNs));
}

/** Set mtime of c/rel to that of a/rel (at microsecond precision). */
async function copyMtime(c: string, rel: string): Promise<void> {
  const st = await fs.lstat(p(a, rel), { bigint: true });
  const t = nsToUtimes(st.mtimeNs);
  if (st.isSymbolicLink()) await fs.lutimes(p(c, rel), t, t);
  else await fs.utimes(p(c, rel), t, t);
}

function pathsOf(diffs: string[]): string[] {
  return [...new Set(diffs.map((d) => d.slice(0, d.lastIndexOf(': '))))];
}

describe('makeTree', () => {
  it('creates every kind of entry', async () => {
    const P = stats.paths;
    // Random files: one over 8 MiB.
    expect((await fs.stat(p(a, P.largeRandom))).size).toBeGreaterThan(8 * 1024 * 1024);
    // Duplicates are byte-identical; the mutated copy differs in 16 bytes in the middle only.
    for (const [x, y] of P.duplicates) {
      expect((await fs.readFile(p(a, x))).equals(await fs.readFile(p(a, y)))).toBe(true);
    }
    const [orig, mut] = await Promise.all(P.mutated.map((r) => fs.readFile(p(a, r))));
    expect(orig!.length).toBe(mut!.length);
    let changed = 0;
    for (let i = 0; i < orig!.length; i++) if (orig![i] !== mut![i]) changed++;
    expect(changed).toBeGreaterThan(12);
    expect(changed).toBeLessThanOrEqual(16);
    expect(orig!.subarray(0, P.mutatedOffset).equals(mut!.subarray(0, P.mutatedOffset))).toBe(true);
    // Sparse files have holes.
    for (const rel of P.sparseFiles) expect(await isSparse(p(a, rel))).toBe(true);
    expect((await fs.stat(p(a, P.sparseFiles[0]!))).size).toBe(64 * 1024 * 1024);
    expect(await isSparse(p(a, P.largeRandom))).toBe(false);
    // Empty files and folders.
    for (const rel of P.emptyFiles) expect((await fs.stat(p(a, rel))).size).toBe(0);
    for (const rel of P.emptyDirs) expect(await fs.readdir(p(a, rel))).toEqual([]);
    expect(P.emptyDirs).toContain('empty/a/b/c');
    // Symlinks.
    expect(await fs.readlink(p(a, P.symlinks.relative))).toBe('../text/readme.txt');
    expect(path.isAbsolute(await fs.readlink(p(a, P.symlinks.absolute)))).toBe(true);
    await expect(fs.stat(p(a, P.symlinks.dangling))).rejects.toThrow();
    expect((await fs.stat(p(a, P.symlinks.toDir))).isDirectory()).toBe(true);
    expect((await fs.lstat(p(a, P.symlinks.toDir))).isSymbolicLink()).toBe(true);
    // Hardlinks: three names, one inode, two directories.
    const hs = await Promise.all(P.hardlinks.map((r) => fs.lstat(p(a, r))));
    expect(new Set(hs.map((s) => s.ino)).size).toBe(1);
    expect(hs[0]!.nlink).toBe(3);
    expect(new Set(P.hardlinks.map((r) => path.dirname(r))).size).toBe(2);
    // Modes.
    for (const [rel, mode] of Object.entries(P.modes)) {
      expect(((await fs.lstat(p(a, rel))).mode & 0o7777).toString(8)).toBe(mode.toString(8));
    }
    expect((await fs.lstat(p(a, P.privateDir))).mode & 0o7777).toBe(0o700);
    // Unusual names exist as given (NFC and NFD spellings are two files).
    for (const rel of P.unicodeNames) await fs.lstat(p(a, rel));
    // Small files: count, size range, ~100 directories at most.
    const smallDirs = await fs.readdir(p(a, P.smallDir));
    let n = 0;
    for (const d of smallDirs) {
      for (const f of await fs.readdir(p(a, `${P.smallDir}/${d}`))) {
        n++;
        expect((await fs.stat(p(a, `${P.smallDir}/${d}/${f}`))).size).toBeLessThanOrEqual(4096);
      }
    }
    expect(n).toBe(SMALL);
    expect(smallDirs.length).toBeLessThanOrEqual(100);
    expect(stats.smallFiles).toBe(SMALL);
  });

  it('sets explicit, varied mtimes with sub-second parts', async () => {
    const P = stats.paths;
    const times = await Promise.all(
      [...P.textFiles, ...P.randomFiles, P.symlinks.relative, P.privateDir, 'text', 'empty/a/b/c'].map(
        async (r) => (await fs.lstat(p(a, r), { bigint: true })).mtimeNs,
      ),
    );
    expect(new Set(times).size).toBe(times.length);
    expect(times.filter((t) => t % 1_000_000_000n !== 0n).length).toBeGreaterThan(times.length / 2);
    // Nothing was left with "now": every planned time is before 2025 or the fixed post-2106 one.
    for (const t of times) expect(t < 1_735_689_600n * 1_000_000_000n || t > 2n ** 32n * 1_000_000_000n).toBe(true);
    if (stats.nanosecondMtimes) {
      expect(P.nanosecondMtimes.length).toBeGreaterThanOrEqual(5);
      for (const r of P.nanosecondMtimes) {
        expect((await fs.lstat(p(a, r), { bigint: true })).mtimeNs % 1000n).not.toBe(0n);
      }
      expect(P.nanosecondMtimes).toContain(P.privateDir);
      expect(P.nanosecondMtimes).toContain(P.symlinks.relative);
    }
    // Directory times survive the creation of their children (set last, deepest first).
    const smallDir = (await fs.lstat(p(a, P.smallDir), { bigint: true })).mtimeNs;
    expect(smallDir < 1_735_689_600n * 1_000_000_000n).toBe(true);
  });

  it('is deterministic: the same seed elsewhere gives an identical tree, another seed does not', async () => {
    const b = path.join(work, 'same-seed');
    const stB = await makeTree(b, { seed: 42, smallFiles: SMALL });
    expect(stB.bytes).toBe(stats.bytes);
    expect(await compareTrees(a, b)).toEqual([]);
    const c = path.join(work, 'other-seed');
    await makeTree(c, { seed: 43 });
    const d = await compareTrees(a, c);
    expect(d.some((x) => x.includes('contents differ'))).toBe(true);
    await fs.rm(b, { recursive: true });
    await fs.rm(c, { recursive: true });
  });

  it('honours scale and randomBytes', async () => {
    const b = path.join(work, 'scaled');
    const st = await makeTree(b, { seed: 7, scale: 0.25, randomBytes: 2 * 1024 * 1024 });
    const large = (await fs.stat(p(b, st.paths.largeRandom))).size;
    expect(large).toBeGreaterThan(1.2 * 1024 * 1024);
    expect(large).toBeLessThan(1.4 * 1024 * 1024);
    expect(st.dataBytes).toBeLessThan(stats.dataBytes);
    await fs.rm(b, { recursive: true });
  });
});

describe('compareTrees', () => {
  it('finds a tree identical to itself and to a cp -a copy', async () => {
    expect(await compareTrees(a, a)).toEqual([]);
    const c = await copyOfA();
    expect(await compareTrees(a, c)).toEqual([]);
    expect(await compareTrees(c, a, { sparse: true })).toEqual([]);
  });

  it('reports exactly the path whose byte changed', async () => {
    const c = await copyOfA();
    const rel = stats.paths.largeRandom;
    const fh = await fs.open(p(c, rel), 'r+');
    const at = 5 * 1024 * 1024 + 3;
    const one = Buffer.alloc(1);
    await fh.read(one, 0, 1, at);
    one[0] = one[0]! ^ 1;
    await fh.write(one, 0, 1, at);
    await fh.close();
    await copyMtime(c, rel);
    const d = await compareTrees(a, c);
    expect(d).toEqual([`${rel}: contents differ from byte ${at}`]);
  });

  it('reports exactly the path whose size changed', async () => {
    const c = await copyOfA();
    const rel = 'names/with space.txt';
    await fs.appendFile(p(c, rel), 'x');
    await copyMtime(c, rel);
    expect(pathsOf(await compareTrees(a, c))).toEqual([rel]);
  });

  it('reports exactly the path whose mode changed', async () => {
    const c = await copyOfA();
    const rel = 'modes/readonly-0444.txt';
    await fs.chmod(p(c, rel), 0o644);
    expect(await compareTrees(a, c)).toEqual([`${rel}: mode 0444 in a, 0644 in b`]);
    await fs.chmod(p(c, stats.paths.privateDir), 0o755);
    expect(pathsOf(await compareTrees(a, c))).toEqual([rel, stats.paths.privateDir].sort());
  });

  it('reports exactly the path whose mtime changed, at microsecond precision', async () => {
    const c = await copyOfA();
    const rel = 'text/big.txt';
    const st = await fs.lstat(p(c, rel), { bigint: true });
    await fs.utimes(p(c, rel), nsToUtimes(st.atimeNs), nsToUtimes(st.mtimeNs + 1000n)); // +1 us
    const d = await diffTrees(a, c);
    expect(d.map((x) => [x.path, x.kind])).toEqual([[rel, 'mtime']]);
    // Directory and symlink mtimes count too.
    const dir = 'empty/a/b';
    await fs.utimes(p(c, dir), 1_000_000_000, 1_000_000_000);
    const link = stats.paths.symlinks.dangling;
    await fs.lutimes(p(c, link), 1_000_000_000, 1_000_000_000);
    expect(pathsOf(await compareTrees(a, c))).toEqual([dir, link, rel].sort());
  });

  it('ignores sub-microsecond mtime differences', async () => {
    const c = await copyOfA();
    const rel = 'text/big.txt'; // whole-second mtime
    const st = await fs.lstat(p(c, rel), { bigint: true });
    try {
      await execFileP('touch', ['-m', '-d', `@${st.mtimeNs / 1_000_000_000n}.000000999`, p(c, rel)]);
    } catch {
      return; // no GNU touch: cannot set nanoseconds from here
    }
    expect((await fs.lstat(p(c, rel), { bigint: true })).mtimeNs).not.toBe(st.mtimeNs);
    expect(await compareTrees(a, c)).toEqual([]);
  });

  it('reports exactly the name whose hardlink was broken', async () => {
    const c = await copyOfA();
    const [, , link2] = stats.paths.hardlinks;
    await keepingParentMtime(c, link2, async () => {
      await fs.rm(p(c, link2));
      await fs.copyFile(p(a, link2), p(c, link2));
      await fs.chmod(p(c, link2), 0o644);
    });
    await copyMtime(c, link2);
    const d = await diffTrees(a, c);
    expect(d.map((x) => [x.path, x.kind])).toEqual([[link2, 'hardlink']]);
    // And the other way round: separate files that became one inode.
    expect((await diffTrees(c, a)).map((x) => [x.path, x.kind])).toEqual([[link2, 'hardlink']]);
  });

  it('reports files that became hardlinked', async () => {
    const c = await copyOfA();
    const [x, y] = stats.paths.duplicates[0]!; // identical contents, separate inodes
    await keepingParentMtime(c, y, async () => {
      await fs.rm(p(c, y));
      await fs.link(p(c, x), p(c, y));
    });
    const d = await diffTrees(a, c);
    // A pair that formed (or split) has no majority: both names are reported.
    expect(d.filter((e) => e.kind === 'hardlink').map((e) => e.path)).toEqual([y, x].sort());
    expect(d.filter((e) => e.kind !== 'hardlink').map((e) => [e.path, e.kind])).toEqual([[y, 'mtime']]);
  });

  it('reports exactly the symlink that was retargeted', async () => {
    const c = await copyOfA();
    const rel = stats.paths.symlinks.relative;
    await keepingParentMtime(c, rel, async () => {
      await fs.rm(p(c, rel));
      await fs.symlink('../text/big.txt', p(c, rel));
    });
    await copyMtime(c, rel);
    expect(await compareTrees(a, c)).toEqual([`${rel}: symlink to "../text/readme.txt" in a, "../text/big.txt" in b`]);
  });

  it('reports missing, extra and retyped paths', async () => {
    const c = await copyOfA();
    const gone = 'names/日本語のファイル.txt';
    const extra = 'empty/a/b/c/new.txt';
    const retyped = stats.paths.symlinks.toDir;
    await keepingParentMtime(c, gone, () => fs.rm(p(c, gone)));
    await keepingParentMtime(c, extra, () => fs.writeFile(p(c, extra), 'new'));
    await keepingParentMtime(c, retyped, async () => {
      await fs.rm(p(c, retyped));
      await fs.mkdir(p(c, retyped));
    });
    expect(await compareTrees(a, c)).toEqual([
      `${extra}: only in b (file)`,
      `${retyped}: type symlink in a, dir in b`,
      `${gone}: only in a (file)`,
    ]);
  });

  it('detects the loss of holes only when asked', async () => {
    const c = await copyOfA(['--sparse=never']);
    for (const rel of stats.paths.sparseFiles) expect(await isSparse(p(c, rel))).toBe(false);
    expect(await compareTrees(a, c)).toEqual([]);
    const d = await diffTrees(a, c, { sparse: true });
    expect(d.map((x) => x.path)).toEqual([...stats.paths.sparseFiles].sort());
    expect(d.every((x) => x.kind === 'sparse')).toBe(true);
  });
});
