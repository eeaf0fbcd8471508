// Real directory trees for backup/restore tests: a deterministic generator (makeTree) with every
// kind of entry a backup engine has to get right, and a comparer (compareTrees) that reports, path
// by path, what a restore got wrong.
//
// Timestamps: Node's fs.utimes/lutimes go through libuv, which truncates to whole microseconds
// (the nanosecond part is dropped), and converting a bigint nanosecond time to a double first
// loses the last microsecond about half of the time (1.7e9 s has a ULP of ~0.24 us). So:
//  - makeTree sets most times through Node at microsecond precision, passing
//    `sec + (usec + 0.5) / 1e6`, which lands exactly on the intended microsecond, and sets a
//    handful of special paths to full nanosecond times with GNU `touch -h -d @S.NNNNNNNNN`
//    (falls back to microseconds where touch is not GNU);
//  - compareTrees compares `mtimeNs` (lstat with bigint) truncated to microseconds: that is the
//    finest precision a Node-based restore can reproduce, and it is 1000x stricter than
//    milliseconds, so it still catches a restore that goes through `Date`/`mtimeMs` (ms) or the
//    naive `Number(ns) / 1e9` conversion (off by 1 us half of the time).

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import fs from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { Prng, TextGen } from '../../src/benchmark/prng.js';

const execFileP = promisify(execFile);

const KiB = 1024;
const MiB = 1024 * 1024;

export interface MakeTreeOptions {
  seed: number;
  /** Number of small (0-4 KiB) files spread over ~100 directories under small/. Default 0. */
  smallFiles?: number;
  /** Total bytes of incompressible files under random/. Default 14 MiB x scale. */
  randomBytes?: number;
  /** Multiplier for bulk sizes (text, random). Default 1 (about 35 MiB written in all). */
  scale?: number;
}

/** Relative paths (with '/') of entries worth testing one by one. */
export interface NotablePaths {
  textFiles: string[];
  /** Incompressible files, largest last. */
  randomFiles: string[];
  /** The largest random file (over 8 MiB at the default size). */
  largeRandom: string;
  /** [original, copy] pairs of byte-identical files. */
  duplicates: Array<[string, string]>;
  /** [original, near-copy]: same size, 16 bytes changed in the middle. */
  mutated: [string, string];
  /** Offset of the changed bytes in mutated[1]. */
  mutatedOffset: number;
  sparseFiles: string[];
  emptyFiles: string[];
  /** Deepest of the nested empty folders (empty/a/b/c). */
  emptyDirs: string[];
  symlinks: { relative: string; absolute: string; dangling: string; toDir: string; chain: string };
  /** Three names for one inode, across two directories. */
  hardlinks: [string, string, string];
  modes: Record<string, number>;
  privateDir: string;
  unicodeNames: string[];
  /** Paths whose mtime has a nanosecond part (when GNU touch is available). */
  nanosecondMtimes: string[];
  smallDir: string;
}

export interface TreeStats {
  /** Regular file names (a hardlinked inode counts once per name). */
  files: number;
  /** Directories, not counting the root. */
  dirs: number;
  symlinks: number;
  /** Distinct inodes with more than one name. */
  hardlinkGroups: number;
  /** Sum of apparent sizes of regular files, each inode once. */
  bytes: number;
  /** Bytes actually written (sparse holes excluded), each inode once. */
  dataBytes: number;
  smallFiles: number;
  /** True when mtimes with a nanosecond part could be set (GNU touch found). */
  nanosecondMtimes: boolean;
  paths: NotablePaths;
}

interface Planned {
  /** Relative path → permission bits, applied with chmod after creation (umask-independent). */
  modes: Map<string, number>;
  /** Relative path → mtime in ns; set after all content, directories last and deepest first. */
  mtimes: Map<string, { ns: bigint; kind: 'file' | 'dir' | 'symlink'; exactNs: boolean }>;
}

/** Create a deterministic test tree in dir (created if missing; should be empty). */
export async function makeTree(dir: string, opts: MakeTreeOptions): Promise<TreeStats> {
  const scale = opts.scale ?? 1;
  const smallCount = opts.smallFiles ?? 0;
  const randomTotal = Math.max(64 * KiB, Math.round(opts.randomBytes ?? 14 * MiB * scale));
  const textTotal = Math.max(64 * KiB, Math.round(3 * MiB * scale));

  const root = new Prng(opts.seed);
  const rng = root.fork('layout');
  const randomData = root.fork('random');
  const text = new TextGen(root.fork('text'));
  const timeRng = root.fork('times');

  await fs.mkdir(dir, { recursive: true });
  if ((await fs.readdir(dir)).length > 0) throw new Error(`makeTree: ${dir} is not empty`);
  const plan: Planned = { modes: new Map(), mtimes: new Map() };
  const abs = (rel: string): string => path.join(dir, ...rel.split('/'));
  let files = 0;
  let dataBytes = 0;
  let bytes = 0;

  const mkdir = async (rel: string, mode = 0o755): Promise<void> => {
    // Register every ancestor so each directory gets an explicit mode and mtime.
    const parts = rel.split('/');
    for (let i = 1; i <= parts.length; i++) {
      const sub = parts.slice(0, i).join('/');
      if (!plan.modes.has(sub)) {
        plan.modes.set(sub, i === parts.length ? mode : 0o755);
        plan.mtimes.set(sub, { ns: randomMtime(timeRng), kind: 'dir', exactNs: false });
      } else if (i === parts.length) {
        plan.modes.set(sub, mode);
      }
    }
    await fs.mkdir(abs(rel), { recursive: true });
  };
  const parentOf = (rel: string): string => rel.split('/').slice(0, -1).join('/');
  const writeFile = async (rel: string, data: Uint8Array, mode = 0o644, exactNs = false): Promise<void> => {
    const parent = parentOf(rel);
    if (parent && !plan.modes.has(parent)) await mkdir(parent);
    await fs.writeFile(abs(rel), data);
    plan.modes.set(rel, mode);
    plan.mtimes.set(rel, { ns: randomMtime(timeRng), kind: 'file', exactNs });
    files++;
    bytes += data.length;
    dataBytes += data.length;
  };
  const symlink = async (rel: string, target: string, exactNs = false): Promise<void> => {
    const parent = parentOf(rel);
    if (parent && !plan.modes.has(parent)) await mkdir(parent);
    await fs.symlink(target, abs(rel));
    plan.mtimes.set(rel, { ns: randomMtime(timeRng), kind: 'symlink', exactNs });
  };

  // --- text: compressible lines of words -------------------------------------------------------
  const textFiles: string[] = [];
  await mkdir('text');
  await writeFile('text/readme.txt', text.bytes(1234), 0o644, true);
  textFiles.push('text/readme.txt');
  const bigText = text.bytes(Math.round(textTotal * 0.7));
  await writeFile('text/big.txt', bigText);
  textFiles.push('text/big.txt');
  let textLeft = textTotal - 1234 - bigText.length;
  for (let i = 0; textLeft > 0; i++) {
    const n = Math.min(textLeft, rng.logRange(200, Math.max(400, Math.round(textTotal * 0.12))));
    const rel = `text/${i % 2 === 0 ? 'logs' : 'src/lib'}/part-${String(i).padStart(2, '0')}.${i % 2 === 0 ? 'log' : 'ts'}`;
    await writeFile(rel, text.bytes(n));
    textFiles.push(rel);
    textLeft -= n;
  }

  // --- random: incompressible --------------------------------------------------------------------
  const randomFiles: string[] = [];
  for (const n of [1, 4095, 4097, 65539]) {
    const rel = `random/tiny-${n}.bin`;
    await writeFile(rel, randomData.bytes(n));
    randomFiles.push(rel);
  }
  const oneMiBish = Math.max(1, Math.round(randomTotal * 0.1));
  const medium = Math.max(1, Math.round(randomTotal * 0.2));
  const large = Math.max(1, Math.round(randomTotal * 0.65));
  const rest = Math.max(3, randomTotal - oneMiBish - medium - large);
  const restParts = [Math.floor(rest * 0.5), Math.floor(rest * 0.3)];
  restParts.push(rest - restParts[0]! - restParts[1]!);
  for (const [i, n] of restParts.entries()) {
    const rel = `random/odd-${i}.dat`;
    await writeFile(rel, randomData.bytes(n + 7));
    randomFiles.push(rel);
  }
  await writeFile('random/one-mib-ish.bin', randomData.bytes(oneMiBish + 1));
  randomFiles.push('random/one-mib-ish.bin');
  const mediumData = randomData.bytes(medium);
  await writeFile('random/medium.bin', mediumData, 0o644, true);
  randomFiles.push('random/medium.bin');
  const largeData = randomData.bytes(large);
  await writeFile('random/large.bin', largeData);
  randomFiles.push('random/large.bin');

  // --- duplicates ---------------------------------------------------------------------------------
  const duplicates: Array<[string, string]> = [];
  await writeFile('dup/copy-of-medium.bin', mediumData);
  duplicates.push(['random/medium.bin', 'dup/copy-of-medium.bin']);
  await writeFile('dup/deeper/second-copy-of-medium.bin', mediumData);
  duplicates.push(['random/medium.bin', 'dup/deeper/second-copy-of-medium.bin']);
  await writeFile('dup/copy-of-big.txt', bigText);
  duplicates.push(['text/big.txt', 'dup/copy-of-big.txt']);
  const mutatedData = Buffer.from(largeData);
  const mutatedOffset = Math.floor(mutatedData.length / 2) - 8;
  for (let i = 0; i < 16 && mutatedOffset + i < mutatedData.length; i++) {
    const at = mutatedOffset + i;
    if (at >= 0) mutatedData[at] = mutatedData[at]! ^ 0xa5;
  }
  await writeFile('dup/large-mutated.bin', mutatedData);

  // --- sparse files -------------------------------------------------------------------------------
  await mkdir('sparse');
  const sparseFiles = ['sparse/holes-64m.img', 'sparse/trailing-hole.img', 'sparse/all-hole.img'];
  {
    const regions: Array<[number, Buffer]> = [
      [0, text.bytes(4 * KiB)],
      [10 * MiB + 123, randomData.bytes(64 * KiB)],
      [40 * MiB, text.bytes(256 * KiB)],
      [50 * MiB + 4096, randomData.bytes(1 * MiB)],
      [64 * MiB - 100, randomData.bytes(100)],
    ];
    await writeSparse(abs(sparseFiles[0]!), 64 * MiB, regions);
    await writeSparse(abs(sparseFiles[1]!), 16 * MiB, [[0, text.bytes(1 * MiB)]]);
    await writeSparse(abs(sparseFiles[2]!), 8 * MiB, []);
    for (const [i, rel] of sparseFiles.entries()) {
      plan.modes.set(rel, 0o644);
      plan.mtimes.set(rel, { ns: randomMtime(timeRng), kind: 'file', exactNs: i === 0 });
      files++;
    }
    bytes += 64 * MiB + 16 * MiB + 8 * MiB;
    dataBytes += regions.reduce((s, [, b]) => s + b.length, 0) + MiB;
  }

  // --- empty files and nested empty folders -----------------------------------------------------
  const emptyFiles = ['empty/empty.txt', 'empty/.hidden-empty', 'empty/x/also-empty'];
  for (const rel of emptyFiles) await writeFile(rel, new Uint8Array(0));
  const emptyDirs = ['empty/a/b/c', 'empty/lonely', 'empty/x/y'];
  for (const rel of emptyDirs) await mkdir(rel);

  // --- symlinks -----------------------------------------------------------------------------------
  // The absolute targets lie outside the tree so that two trees made from one seed in different
  // places are identical.
  const symlinks = {
    relative: 'links/relative',
    absolute: 'links/absolute',
    dangling: 'links/dangling',
    toDir: 'links/to-dir',
    chain: 'links/chain',
  };
  await symlink(symlinks.relative, '../text/readme.txt', true);
  await symlink(symlinks.absolute, '/dev/null');
  await symlink(symlinks.dangling, '../does/not/exist');
  await symlink(symlinks.toDir, '../text', true);
  await symlink(symlinks.chain, 'relative');
  await symlink('links/absolute-dangling', '/nonexistent/engine-test/target');
  await symlink('links/deep/up-two', '../../random/tiny-1.bin');

  // --- hardlinks: one inode, three names, two directories ----------------------------------------
  const hardlinks: [string, string, string] = ['hard/a/orig.txt', 'hard/a/link1.txt', 'hard/b/link2.txt'];
  await writeFile(hardlinks[0], text.bytes(10 * KiB + 17));
  await mkdir('hard/b');
  await fs.link(abs(hardlinks[0]), abs(hardlinks[1]));
  await fs.link(abs(hardlinks[0]), abs(hardlinks[2]));
  files += 2; // names, not inodes; bytes counted once
  // A second, two-name group of a random file, so groups are not all alike.
  await writeFile('hard/b/pair-1.bin', randomData.bytes(3 * KiB));
  await fs.link(abs('hard/b/pair-1.bin'), abs('hard/pair-2.bin'));
  files += 1;

  // --- unusual modes ------------------------------------------------------------------------------
  const modes: Record<string, number> = {
    'modes/private-0600.txt': 0o600,
    'modes/script-0755.sh': 0o755,
    'modes/readonly-0444.txt': 0o444,
    'modes/exec-only-0711': 0o711,
    'modes/group-0640.txt': 0o640,
    'modes/odd-0604': 0o604,
  };
  for (const [rel, mode] of Object.entries(modes)) {
    const data = rel.endsWith('.sh') ? Buffer.from('#!/bin/sh\necho hello\n') : text.bytes(rng.range(10, 3000));
    await writeFile(rel, data, mode, rel.includes('0444'));
  }
  const privateDir = 'modes/private-dir-0700';
  await mkdir(privateDir, 0o700);
  plan.mtimes.get(privateDir)!.exactNs = true; // a directory with a nanosecond mtime
  await writeFile(`${privateDir}/secret.txt`, text.bytes(500), 0o600);
  modes[privateDir] = 0o700;
  await mkdir('modes/shared-dir-0775', 0o775);
  modes['modes/shared-dir-0775'] = 0o775;

  // --- unusual names ------------------------------------------------------------------------------
  const unicodeNames = [
    'names/with space.txt',
    'names/dir with spaces/inner file.txt',
    'names/ünïcödé-ñame.txt',
    'names/日本語のファイル.txt',
    'names/emoji-🎉.bin',
    'names/caf\u00e9-nfc.txt', // precomposed é
    'names/cafe\u0301-nfd.txt', // e + combining acute: a different name on Linux
    'names/.hidden',
    'names/-leading-dash',
    "names/quote's \"and\" #hash %41 & semi;colon",
    'names/Ελληνικά/κείμενο.txt',
  ];
  for (const rel of unicodeNames) await writeFile(rel, text.bytes(rng.range(0, 2000)), 0o644, rel.includes('日本語'));

  // --- many small files ---------------------------------------------------------------------------
  const smallDir = 'small';
  if (smallCount > 0) {
    const dirCount = Math.min(100, Math.max(1, Math.ceil(smallCount / 10)));
    for (let d = 0; d < dirCount; d++) await mkdir(`${smallDir}/d${String(d).padStart(3, '0')}`);
    const jobs: Array<{ rel: string; data: Buffer; ns: bigint }> = [];
    for (let i = 0; i < smallCount; i++) {
      const d = i % dirCount;
      const size = rng.int(4 * KiB + 1);
      const isText = (i & 1) === 0;
      const rel = `${smallDir}/d${String(d).padStart(3, '0')}/f${String(i).padStart(5, '0')}.${isText ? 'txt' : 'bin'}`;
      jobs.push({ rel, data: isText ? text.bytes(size) : randomData.bytes(size), ns: randomMtime(timeRng) });
    }
    await pool(jobs, 32, async ({ rel, data, ns }) => {
      // Write, mode and times in one go: these are not in the plan, to keep it small.
      const fh = await fs.open(abs(rel), 'w');
      try {
        await fh.write(data, 0, data.length, 0);
        await fh.chmod(0o644);
        const t = nsToUtimes(ns);
        await fh.utimes(t, t);
      } finally {
        await fh.close();
      }
    });
    files += smallCount;
    for (const j of jobs) {
      bytes += j.data.length;
      dataBytes += j.data.length;
    }
  }

  // --- a few extra fixed times: whole seconds, after 2106 (> 2^32 s), the DOS epoch --------------
  setFixed(plan, 'text/big.txt', 1_600_000_000n * 1_000_000_000n); // whole second
  setFixed(plan, 'random/tiny-1.bin', (2n ** 32n + 12_345n) * 1_000_000_000n + 987_654_321n); // year 2106+
  setFixed(plan, 'random/tiny-4095.bin', 315_532_800n * 1_000_000_000n); // 1980-01-01
  setFixed(plan, 'random/tiny-4097.bin', 1_700_000_000n * 1_000_000_000n + 1_000n); // 1 us past a second

  // --- finalize: modes, then file and symlink times, then directory times deepest first ----------
  const gnuTouch = await hasGnuTouch();
  for (const [rel, mode] of plan.modes) await fs.chmod(abs(rel), mode);
  const nanosecondPaths: string[] = [];
  const entries = [...plan.mtimes.entries()];
  const nonDirs = entries.filter(([, m]) => m.kind !== 'dir');
  const dirs = entries
    .filter(([, m]) => m.kind === 'dir')
    .sort(([a], [b]) => b.split('/').length - a.split('/').length || (a < b ? -1 : a > b ? 1 : 0));
  for (const [rel, m] of [...nonDirs, ...dirs]) {
    if (m.exactNs && gnuTouch && m.ns % 1000n === 0n) m.ns += 789n; // make the ns part visible
    if (await setMtime(abs(rel), m.ns, m.kind === 'symlink', m.exactNs && gnuTouch)) nanosecondPaths.push(rel);
  }

  return {
    files,
    dirs: entries.filter(([, m]) => m.kind === 'dir').length,
    symlinks: entries.filter(([, m]) => m.kind === 'symlink').length,
    hardlinkGroups: 2,
    bytes,
    dataBytes,
    smallFiles: smallCount,
    nanosecondMtimes: gnuTouch,
    paths: {
      textFiles,
      randomFiles,
      largeRandom: 'random/large.bin',
      duplicates,
      mutated: ['random/large.bin', 'dup/large-mutated.bin'],
      mutatedOffset,
      sparseFiles,
      emptyFiles,
      emptyDirs,
      symlinks,
      hardlinks,
      modes,
      privateDir,
      unicodeNames,
      nanosecondMtimes: nanosecondPaths,
      smallDir,
    },
  };
}

function setFixed(plan: Planned, rel: string, ns: bigint): void {
  const m = plan.mtimes.get(rel);
  if (m) m.ns = ns;
}

/** A time between 2001 and 2025, with a sub-second part that is whole seconds, whole us or ns. */
function randomMtime(rng: Prng): bigint {
  const sec = BigInt(978_307_200 + rng.int(757_382_400));
  const kind = rng.int(8);
  const sub = kind === 0 ? 0n : kind < 4 ? BigInt(rng.int(1_000_000)) * 1000n : BigInt(rng.int(1_000_000_000));
  return sec * 1_000_000_000n + sub;
}

/**
 * The number to hand fs.utimes/lutimes so libuv lands exactly on ns's microsecond: libuv computes
 * tv_nsec = (t - floor(t)) * 1e9 and drops the sub-microsecond part, so aim for the middle of it.
 */
export function nsToUtimes(ns: bigint): number {
  const sec = ns / 1_000_000_000n - (ns < 0n && ns % 1_000_000_000n !== 0n ? 1n : 0n);
  const usec = (ns - sec * 1_000_000_000n) / 1000n;
  return Number(sec) + (Number(usec) + 0.5) / 1e6;
}

let gnuTouchCache: Promise<boolean> | undefined;
function hasGnuTouch(): Promise<boolean> {
  gnuTouchCache ??= execFileP('touch', ['--version']).then(
    (r) => /GNU coreutils/.test(r.stdout),
    () => false,
  );
  return gnuTouchCache;
}

/** Set atime and mtime; returns true when the mtime was set to the full nanosecond. */
async function setMtime(p: string, ns: bigint, isSymlink: boolean, exactNs: boolean): Promise<boolean> {
  const t = nsToUtimes(ns);
  if (isSymlink) await fs.lutimes(p, t, t);
  else await fs.utimes(p, t, t);
  if (!exactNs) return false;
  const sec = ns / 1_000_000_000n;
  const frac = String(ns % 1_000_000_000n).padStart(9, '0');
  try {
    // -m: mtime only (atime stays as set above); -h: the link itself, not its target.
    await execFileP('touch', ['-h', '-m', '-d', `@${sec}.${frac}`, '--', p]);
    return true;
  } catch {
    return false;
  }
}

async function writeSparse(p: string, size: number, regions: Array<[number, Buffer]>): Promise<void> {
  const fh = await fs.open(p, 'w');
  try {
    await fh.truncate(size);
    for (const [at, data] of regions) await fh.write(data, 0, data.length, at);
    await fh.truncate(size); // a region written past the end would have grown it
  } finally {
    await fh.close();
  }
}

async function pool<T>(items: readonly T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

// ------------------------------------------------------------------------------------------------
// Comparison
// ------------------------------------------------------------------------------------------------

type EntryType = 'file' | 'dir' | 'symlink' | 'other';

interface Entry {
  rel: string;
  abs: string;
  type: EntryType;
  mode: number;
  size: bigint;
  blocks: bigint;
  mtimeNs: bigint;
  inode: string;
  target?: string;
}

export interface CompareOptions {
  /** Also report files that are sparse in a but fully allocated in b. Default false. */
  sparse?: boolean;
}

export interface TreeDiff {
  /** Relative path with '/' separators. */
  path: string;
  kind: 'missing' | 'extra' | 'type' | 'mode' | 'size' | 'content' | 'mtime' | 'target' | 'hardlink' | 'sparse';
  message: string;
}

/**
 * Compare two trees; returns human-readable differences, each starting with the relative path
 * (empty = identical). The roots themselves are not compared (a restore creates its target).
 * mtimes are compared at microsecond precision: see the note at the top of this file.
 */
export async function compareTrees(a: string, b: string, opts: CompareOptions = {}): Promise<string[]> {
  return (await diffTrees(a, b, opts)).map((d) => `${d.path}: ${d.message}`);
}

/** compareTrees with structured results. */
export async function diffTrees(a: string, b: string, opts: CompareOptions = {}): Promise<TreeDiff[]> {
  const [ea, eb] = await Promise.all([walk(a), walk(b)]);
  const diffs: TreeDiff[] = [];
  const both: Array<[Entry, Entry]> = [];
  for (const [rel, x] of ea) {
    const y = eb.get(rel);
    if (!y) diffs.push({ path: rel, kind: 'missing', message: `only in a (${x.type})` });
    else both.push([x, y]);
  }
  for (const [rel, y] of eb) {
    if (!ea.has(rel)) diffs.push({ path: rel, kind: 'extra', message: `only in b (${y.type})` });
  }

  await pool(both, 8, async ([x, y]) => {
    const rel = x.rel;
    if (x.type !== y.type) {
      diffs.push({ path: rel, kind: 'type', message: `type ${x.type} in a, ${y.type} in b` });
      return;
    }
    // Symlink permission bits are meaningless on Linux (always 0777, no lchmod).
    if (x.type !== 'symlink' && x.mode !== y.mode) {
      diffs.push({ path: rel, kind: 'mode', message: `mode ${octal(x.mode)} in a, ${octal(y.mode)} in b` });
    }
    if (x.type === 'file') {
      if (x.size !== y.size) {
        diffs.push({ path: rel, kind: 'size', message: `size ${x.size} in a, ${y.size} in b` });
      } else {
        const at = await firstDifference(x.abs, y.abs);
        if (at !== -1) diffs.push({ path: rel, kind: 'content', message: `contents differ from byte ${at}` });
      }
      if (opts.sparse && isSparseStat(x) && !isSparseStat(y)) {
        diffs.push({
          path: rel,
          kind: 'sparse',
          message: `sparse in a (${x.blocks * 512n} of ${x.size} bytes allocated), not in b (${y.blocks * 512n})`,
        });
      }
    }
    if (x.type === 'symlink' && x.target !== y.target) {
      diffs.push({ path: rel, kind: 'target', message: `symlink to ${JSON.stringify(x.target)} in a, ${JSON.stringify(y.target)} in b` });
    }
    if (x.type !== 'other' && x.mtimeNs / 1000n !== y.mtimeNs / 1000n) {
      diffs.push({ path: rel, kind: 'mtime', message: `mtime ${fmtNs(x.mtimeNs)} in a, ${fmtNs(y.mtimeNs)} in b` });
    }
  });

  diffs.push(...hardlinkDiffs(ea, eb, 'a', 'b'), ...hardlinkDiffs(eb, ea, 'b', 'a'));
  const order: Record<TreeDiff['kind'], number> = {
    missing: 0, extra: 1, type: 2, size: 3, content: 4, mode: 5, mtime: 6, target: 7, hardlink: 8, sparse: 9,
  };
  diffs.sort((p, q) => (p.path < q.path ? -1 : p.path > q.path ? 1 : order[p.kind] - order[q.kind]));
  return diffs;
}

/**
 * Names that share an inode in `from` but not in `to`. In each group of `from`, the names are
 * partitioned by their inode in `to`; when one part is the largest it is taken as kept and every name
 * outside it is reported, otherwise every name is. So breaking one link of a three-name group
 * reports that name only; splitting a pair reports both names.
 */
function hardlinkDiffs(from: Map<string, Entry>, to: Map<string, Entry>, fromName: string, toName: string): TreeDiff[] {
  const groups = new Map<string, string[]>();
  for (const e of from.values()) {
    if (e.type === 'dir') continue;
    const g = groups.get(e.inode);
    if (g) g.push(e.rel);
    else groups.set(e.inode, [e.rel]);
  }
  const out: TreeDiff[] = [];
  for (const names of groups.values()) {
    if (names.length < 2) continue;
    names.sort();
    const parts = new Map<string, string[]>();
    for (const n of names) {
      const t = to.get(n);
      const e = from.get(n);
      if (!t || !e || t.type !== e.type) continue; // reported already
      const p = parts.get(t.inode);
      if (p) p.push(n);
      else parts.set(t.inode, [n]);
    }
    if (parts.size < 2) continue;
    const sorted = [...parts.values()].sort((p, q) => q.length - p.length || (p[0]! < q[0]! ? -1 : 1));
    // With a unique largest part, only the names outside it moved; on a tie, all of them did.
    const tie = sorted[0]!.length === sorted[1]!.length;
    for (const [i, part] of sorted.entries()) {
      if (i === 0 && !tie) continue;
      for (const n of part) {
        const others = names.filter((m) => !part.includes(m));
        out.push({
          path: n,
          kind: 'hardlink',
          message: `hardlinked with ${others.join(', ')} in ${fromName}, not in ${toName}`,
        });
      }
    }
  }
  return out;
}

async function walk(root: string): Promise<Map<string, Entry>> {
  const out = new Map<string, Entry>();
  const visit = async (absDir: string, relDir: string): Promise<void> => {
    const names = await fs.readdir(absDir);
    const subdirs: Array<[string, string]> = [];
    await Promise.all(
      names.map(async (name) => {
        const abs = path.join(absDir, name);
        const rel = relDir ? `${relDir}/${name}` : name;
        const st = await fs.lstat(abs, { bigint: true });
        const type: EntryType = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
        const e: Entry = {
          rel,
          abs,
          type,
          mode: Number(st.mode & 0o7777n),
          size: st.size,
          blocks: st.blocks,
          mtimeNs: st.mtimeNs,
          inode: `${st.dev}:${st.ino}`,
        };
        if (type === 'symlink') e.target = await fs.readlink(abs);
        out.set(rel, e);
        if (type === 'dir') subdirs.push([abs, rel]);
      }),
    );
    for (const [abs, rel] of subdirs) await visit(abs, rel);
  };
  await visit(root, '');
  return out;
}

/** First differing byte offset of two files of equal size, or -1 when identical. */
async function firstDifference(p: string, q: string): Promise<number> {
  const [fp, fq] = await Promise.all([fs.open(p, fsc.O_RDONLY), fs.open(q, fsc.O_RDONLY)]);
  try {
    const size = 1 * MiB;
    const bp = Buffer.allocUnsafeSlow(size);
    const bq = Buffer.allocUnsafeSlow(size);
    let pos = 0;
    for (;;) {
      const [rp, rq] = await Promise.all([readFull(fp, bp, pos), readFull(fq, bq, pos)]);
      const n = Math.min(rp, rq);
      if (!bp.subarray(0, n).equals(bq.subarray(0, n))) {
        for (let i = 0; i < n; i++) if (bp[i] !== bq[i]) return pos + i;
      }
      if (rp !== rq) return pos + n;
      if (rp < size) return -1;
      pos += rp;
    }
  } finally {
    await Promise.all([fp.close(), fq.close()]);
  }
}

async function readFull(fh: FileHandle, buf: Buffer, pos: number): Promise<number> {
  let got = 0;
  while (got < buf.length) {
    const { bytesRead } = await fh.read(buf, got, buf.length - got, pos + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

/** sha256 of a file's contents, hex. */
export async function hashFile(p: string): Promise<string> {
  const h = createHash('sha256');
  const fh = await fs.open(p, fsc.O_RDONLY);
  try {
    const buf = Buffer.allocUnsafeSlow(1 * MiB);
    for (let pos = 0; ; ) {
      const n = await readFull(fh, buf, pos);
      h.update(buf.subarray(0, n));
      if (n < buf.length) break;
      pos += n;
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

function isSparseStat(e: Entry): boolean {
  return e.size > 0n && e.blocks * 512n < e.size;
}

/**
 * True when the file has fewer bytes allocated than its size (blocks * 512 < size), i.e. it has
 * holes. Filesystems that compress (btrfs, zfs) can also report this for files without holes.
 */
export async function isSparse(p: string): Promise<boolean> {
  const st = await fs.lstat(p, { bigint: true });
  return st.isFile() && st.size > 0n && st.blocks * 512n < st.size;
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}

function fmtNs(ns: bigint): string {
  const sec = ns / 1_000_000_000n - (ns < 0n && ns % 1_000_000_000n !== 0n ? 1n : 0n);
  const frac = ns - sec * 1_000_000_000n;
  const iso = new Date(Number(sec) * 1000).toISOString().replace(/\.000Z$/, '');
  return `${iso}.${String(frac).padStart(9, '0')}Z`;
}
