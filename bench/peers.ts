// engine, restic and borg, back to back on one generated tree and one machine (run through
// bench/peers.sh). Steps, each run for every tool before the next step starts:
//   init, first backup, no-change backup, [the tree changes by ~2%], backup after the change,
//   full restore (of the last snapshot, into an empty folder), full data check.
// For each step and tool: wall seconds, CPU seconds (user + sys), peak RSS, the time of the `sync`
// that follows the step (the write-back it left behind; tools that fsync pay inside their step),
// and the repository size after the step.
//
// Measurement: every command runs under GNU `/usr/bin/time -f '%e %U %S %M'`; %U and %S include
// all the command's threads and waited-for children; %M is the maximum resident set size of the
// largest single process. Wall time is hrtime around the spawn. `sync` runs before the first step
// and after every step (timed separately), so no step pays for an earlier one's write-back. The
// page cache stays warm (the tree was just written; 1 GiB fits in RAM).
//
// Settings, chosen to be comparable: encryption on everywhere (engine: its default,
// XChaCha20-Poly1305 with BLAKE3 ids; restic: always AES-256-CTR + Poly1305-AES; borg:
// `--encryption repokey-blake2`, BLAKE2b-256 MAC + AES-256-CTR). Compression zstd level 3 or its
// equivalent (engine: default level 3; borg: `--compression zstd,3`; restic >= 0.14 with a
// version 2 repository: `--compression auto`, the zstd "default" speed, comparable to level 3;
// restic < 0.14 cannot compress, which the report says).
//
// Usage: node dist/bench/peers.js [--size 1G] [--dir /tmp/engine-peers] [--tools engine,restic,borg]
//          [--seed 1] [--keep]
// The Markdown table goes to stdout and to DIR/peers.md, the JSON to DIR/peers.json. Without
// --keep, everything else in DIR (tree, repositories, restores, caches) is deleted at the end.

import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSize } from '../src/util/bytes.js';
import { makeMixedCorpus } from '../src/benchmark/corpus.js';
import { Prng } from '../src/benchmark/prng.js';

const GNU_TIME = '/usr/bin/time';
const PASSWORD = 'engine-peers-password';
const CHANGE_FRACTION = 0.02;
/** What this script creates in the work folder; only these are deleted, never anything else there. */
const OWN_ENTRIES = ['tree', 'time.out', 'restic-cache', 'borg-base', 'peers.md', 'peers.json', ...['engine', 'restic', 'borg'].flatMap((t) => [`${t}-repo`, `${t}-restore`])];
const NOT_OFFERED = 'n/a (the tool offers no such step)';

type Tool = 'engine' | 'restic' | 'borg';
const ALL_TOOLS: Tool[] = ['engine', 'restic', 'borg'];
type Step = 'init' | 'backup1' | 'backup2' | 'backup3' | 'restore' | 'check';
const STEPS: Step[] = ['init', 'backup1', 'backup2', 'backup3', 'restore', 'check'];
const STEP_LABEL: Record<Step, string> = {
  init: 'init',
  backup1: 'first backup',
  backup2: 'no-change backup',
  backup3: 'backup after 2% change',
  restore: 'full restore',
  check: 'full data check',
};

interface Options {
  size: number;
  dir: string;
  tools: Tool[];
  seed: number;
  keep: boolean;
}

interface StepResult {
  wallSeconds: number;
  userSeconds: number;
  sysSeconds: number;
  cpuSeconds: number;
  peakRssMiB: number;
  /** Wall seconds of the `sync` run right after the step. */
  syncSeconds: number;
  /** Bytes of the tree / wall seconds (10^6 bytes per second), for backups and the restore. */
  mbPerSecond?: number;
  repoBytes: number;
  /** The tool's own JSON summary, when it prints one. */
  summary?: unknown;
  /** Set when the step is not available for the tool. */
  na?: string;
}

interface ToolResult {
  version: string;
  settings: string;
  notes: string[];
  steps: Partial<Record<Step, StepResult>>;
  restoreCheck?: { files: number; bytes: number; ok: boolean; mismatches: string[] };
  skipped?: string;
  error?: string;
}

interface ToolSpec {
  name: Tool;
  cmd: string;
  env: NodeJS.ProcessEnv;
  /** Arguments (and working directory) per step; undefined: not available. */
  step: (s: Step) => { args: string[]; cwd?: string } | undefined;
  /** Where the tree's root ends up under the restore target. */
  restoredRoot: string;
  summary: (stdout: string, stderr: string) => unknown;
}

function usage(): never {
  process.stdout.write(
    [
      'usage: bench/peers.sh [--size 1G] [--dir /tmp/engine-peers] [--tools engine,restic,borg] [--seed N] [--keep]',
      '  --size   size of the generated tree (K/M/G, binary units; default 1G)',
      '  --dir    work folder: tree, repositories, restores, caches, and the results',
      '           (peers.md, peers.json); those entries are replaced, nothing else is touched',
      '  --tools  which tools to run, in this order (default engine,restic,borg);',
      '           a tool that is not installed is skipped with a note',
      '  --seed   seed of the tree and of the 2% change (default 1)',
      '  --keep   keep the tree, repositories and restores (default: delete them, keep the results)',
      '',
    ].join('\n'),
  );
  process.exit(0);
}


function parseArgs(argv: string[]): Options {
  const o: Options = { size: 2 ** 30, dir: '/tmp/engine-peers', tools: [...ALL_TOOLS], seed: 1, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const [flag, inline] = a.startsWith('--') && eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new Error(`${flag} needs a value`);
      return v;
    };
    switch (flag) {
      case '--size': o.size = parseSize(value(), '--size'); break;
      case '--dir': o.dir = path.resolve(value()); break;
      case '--tools': {
        const tools = value().split(',').map((t) => t.trim()).filter(Boolean);
        for (const t of tools) if (!ALL_TOOLS.includes(t as Tool)) throw new Error(`unknown tool: ${t} (engine, restic, borg)`);
        o.tools = tools as Tool[];
        break;
      }
      case '--seed': o.seed = Number(value()); break;
      case '--keep': o.keep = true; break;
      case '--help': case '-h': usage(); break;
      default: throw new Error(`unknown option: ${a} (try --help)`);
    }
  }
  return o;
}

// --- processes ---------------------------------------------------------------------------------

async function output(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', () => resolve({ code: 127, out }));
    child.on('close', (code) => resolve({ code: code ?? 1, out }));
  });
}

/** The last `limit` bytes of a stream. */
function tail(limit: number): { push: (b: Buffer) => void; text: () => string } {
  let chunks: Buffer[] = [];
  let size = 0;
  return {
    push(b) {
      chunks.push(b);
      size += b.length;
      if (size > 2 * limit) {
        const all = Buffer.concat(chunks).subarray(-limit);
        chunks = [all];
        size = all.length;
      }
    },
    text: () => Buffer.concat(chunks).subarray(-limit).toString('utf8'),
  };
}

interface Run {
  exitCode: number;
  wallSeconds: number;
  userSeconds: number;
  sysSeconds: number;
  maxRssKiB: number;
  stdout: string;
  stderr: string;
}

async function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd: string | undefined, timeFile: string): Promise<Run> {
  const start = process.hrtime.bigint();
  const child = spawn(GNU_TIME, ['-f', '%e %U %S %M', '-o', timeFile, cmd, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = tail(1024 * 1024);
  const err = tail(64 * 1024);
  child.stdout.on('data', out.push);
  child.stderr.on('data', err.push);
  const exitCode = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
  const wallSeconds = Number(process.hrtime.bigint() - start) / 1e9;
  // On failure GNU time writes "Command exited with non-zero status N" before the format line.
  const lines = (await fs.readFile(timeFile, 'utf8')).trim().split('\n');
  const [, user, sys, rss] = (lines[lines.length - 1] ?? '').split(' ').map(Number);
  return { exitCode, wallSeconds, userSeconds: user ?? NaN, sysSeconds: sys ?? NaN, maxRssKiB: rss ?? NaN, stdout: out.text(), stderr: err.text() };
}

async function timedSync(): Promise<number> {
  const t0 = process.hrtime.bigint();
  await output('sync', []);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

function lastJson(text: string, pick?: (o: Record<string, unknown>) => boolean): unknown {
  // A whole-text JSON document first (borg create --json), else the last matching JSON line.
  try {
    const o = JSON.parse(text) as Record<string, unknown>;
    if (o && typeof o === 'object' && (!pick || pick(o))) return o;
  } catch {
    // not one document
  }
  for (const l of text.split('\n').map((x) => x.trim()).reverse()) {
    if (!l.startsWith('{')) continue;
    try {
      const o = JSON.parse(l) as Record<string, unknown>;
      if (!pick || pick(o)) return o;
    } catch {
      // not JSON
    }
  }
  return undefined;
}

async function duBytes(p: string): Promise<number> {
  if (!existsSync(p)) return 0;
  const r = await output('du', ['-sb', p]);
  if (r.code !== 0) throw new Error(`du -sb ${p} failed: ${r.out}`);
  return Number(r.out.split(/\s/)[0]);
}

// --- the tree ----------------------------------------------------------------------------------

interface FileEntry {
  rel: string;
  size: number;
}

async function listFiles(root: string): Promise<FileEntry[]> {
  const files: FileEntry[] = [];
  const visit = async (d: string): Promise<void> => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const q = path.join(d, e.name);
      if (e.isDirectory()) await visit(q);
      else if (e.isFile()) files.push({ rel: path.relative(root, q), size: (await fs.lstat(q)).size });
    }
  };
  await visit(root);
  return files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
}

interface ChangeStats {
  targetBytes: number;
  changedBytes: number;
  rewrittenFiles: number;
  rewrittenBytes: number;
  appendedFiles: number;
  appendedBytes: number;
  overwrittenFile: string;
  overwrittenRegions: number;
  overwrittenBytes: number;
  seconds: number;
}

/**
 * Change ~2% of the tree's bytes, deterministically from the seed (same tree, same seed: same
 * change). New bytes are random (incompressible, never deduplicated):
 *   ~1/2 by rewriting whole files of 4 KiB .. 1/8 of the budget with new contents of the same size,
 *   ~1/4 by appending to 20 other files,
 *   ~1/4 by overwriting 8 regions in place inside the largest file (like a database or disk image).
 */
async function changeTree(root: string, seed: number, fraction: number): Promise<ChangeStats> {
  const t0 = performance.now();
  const rng = new Prng(seed).fork('peers-2%-change');
  const files = await listFiles(root);
  const total = files.reduce((s, f) => s + f.size, 0);
  const budget = Math.round(total * fraction);
  const largest = files.reduce((a, b) => (b.size > a.size ? b : a));
  const others = files.filter((f) => f !== largest);
  for (let i = others.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [others[i], others[j]] = [others[j]!, others[i]!];
  }
  const st: ChangeStats = {
    targetBytes: budget,
    changedBytes: 0,
    rewrittenFiles: 0,
    rewrittenBytes: 0,
    appendedFiles: 0,
    appendedBytes: 0,
    overwrittenFile: largest.rel,
    overwrittenRegions: 0,
    overwrittenBytes: 0,
    seconds: 0,
  };
  const used = new Set<FileEntry>();
  // 1. rewrites
  const maxRewrite = Math.max(4096, Math.floor(budget / 8));
  for (const f of others) {
    if (st.rewrittenBytes >= budget / 2) break;
    if (f.size < 4096 || f.size > maxRewrite) continue;
    await fs.writeFile(path.join(root, f.rel), rng.bytes(f.size));
    used.add(f);
    st.rewrittenFiles++;
    st.rewrittenBytes += f.size;
  }
  // 2. appends
  const appendFiles = others.filter((f) => !used.has(f)).slice(0, 20);
  const appendEach = Math.max(1, Math.floor(budget / 4 / Math.max(1, appendFiles.length)));
  for (const f of appendFiles) {
    await fs.appendFile(path.join(root, f.rel), rng.bytes(appendEach));
    st.appendedFiles++;
    st.appendedBytes += appendEach;
  }
  // 3. in-place overwrites in the largest file
  const regions = 8;
  const regionBytes = Math.max(1, Math.min(Math.floor(largest.size / regions), Math.floor((budget - st.rewrittenBytes - st.appendedBytes) / regions)));
  const fh = await fs.open(path.join(root, largest.rel), 'r+');
  try {
    for (let r = 0; r < regions && regionBytes > 0; r++) {
      // One region in each eighth of the file, at a random place inside it.
      const span = Math.floor(largest.size / regions);
      const offset = r * span + rng.int(Math.max(1, span - regionBytes));
      await fh.write(rng.bytes(regionBytes), 0, regionBytes, offset);
      st.overwrittenRegions++;
      st.overwrittenBytes += regionBytes;
    }
  } finally {
    await fh.close();
  }
  st.changedBytes = st.rewrittenBytes + st.appendedBytes + st.overwrittenBytes;
  st.seconds = roundTo((performance.now() - t0) / 1000, 2);
  return st;
}

async function sha256File(p: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(p, { highWaterMark: 1024 * 1024 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Relative path -> size and SHA-256 of every regular file. */
async function manifest(root: string): Promise<Map<string, { size: number; sha256: string }>> {
  const m = new Map<string, { size: number; sha256: string }>();
  for (const f of await listFiles(root)) m.set(f.rel, { size: f.size, sha256: await sha256File(path.join(root, f.rel)) });
  return m;
}

async function compareRestore(expected: Map<string, { size: number; sha256: string }>, root: string): Promise<NonNullable<ToolResult['restoreCheck']>> {
  const mismatches: string[] = [];
  if (!existsSync(root)) return { files: 0, bytes: 0, ok: false, mismatches: [`restored tree not found at ${root}`] };
  const got = await manifest(root);
  let bytes = 0;
  for (const [rel, g] of got) {
    bytes += g.size;
    const e = expected.get(rel);
    if (!e) mismatches.push(`unexpected file ${rel}`);
    else if (e.size !== g.size || e.sha256 !== g.sha256) mismatches.push(`content differs: ${rel}`);
  }
  for (const rel of expected.keys()) if (!got.has(rel)) mismatches.push(`missing file ${rel}`);
  return { files: got.size, bytes, ok: mismatches.length === 0, mismatches: mismatches.slice(0, 20) };
}

// --- tools -------------------------------------------------------------------------------------

function findEngineCheckout(): string | undefined {
  for (const start of [path.dirname(fileURLToPath(import.meta.url)), process.cwd()]) {
    for (let d = start; ; d = path.dirname(d)) {
      if (existsSync(path.join(d, 'package.json')) && existsSync(path.join(d, 'bin', 'engine'))) return d;
      if (path.dirname(d) === d) break;
    }
  }
  return undefined;
}

async function makeSpecs(o: Options, tree: string, results: Partial<Record<Tool, ToolResult>>): Promise<ToolSpec[]> {
  const specs: ToolSpec[] = [];
  const work = o.dir;
  for (const tool of o.tools) {
    const repo = path.join(work, `${tool}-repo`);
    const target = path.join(work, `${tool}-restore`);
    if (tool === 'engine') {
      const checkout = findEngineCheckout();
      const launcher = checkout ? path.join(checkout, 'bin', 'engine') : undefined;
      const v = launcher ? await output(launcher, ['--version']) : { code: 127, out: '' };
      if (!launcher || v.code !== 0) {
        results.engine = skipped('engine not found or not built (npm run build)');
        continue;
      }
      results.engine = {
        version: `engine ${v.out.trim()} (${checkout}), node ${process.version}`,
        settings: 'engine init (defaults: XChaCha20-Poly1305, zstd level 3, 16 MiB packs); backup/restore with the default memory budget',
        notes: [],
        steps: {},
      };
      specs.push({
        name: 'engine',
        cmd: launcher,
        env: { ...process.env, ENGINE_PASSWORD: PASSWORD },
        step: (s) => {
          switch (s) {
            case 'init': return { args: ['init', '--repo', repo] };
            case 'backup1': case 'backup2': case 'backup3': return { args: ['backup', '--repo', repo, '--json', tree] };
            case 'restore': return { args: ['restore', 'latest', '--repo', repo, '--target', target, '--json'] };
            case 'check': return { args: ['check', '--repo', repo, '--read-data'] };
          }
        },
        restoredRoot: path.join(target, path.basename(tree)),
        summary: (out) => lastJson(out),
      });
    } else if (tool === 'restic') {
      const v = await output('restic', ['version']);
      if (v.code !== 0) {
        results.restic = skipped('restic is not installed (Debian: apt-get install -y restic)');
        continue;
      }
      const version = v.out.trim();
      const m = /restic (\d+)\.(\d+)/.exec(version);
      const compresses = m ? Number(m[1]) > 0 || Number(m[2]) >= 14 : false;
      const cache = path.join(work, 'restic-cache');
      const g = ['-r', repo, '--cache-dir', cache];
      const comp = compresses ? ['--compression', 'auto'] : [];
      results.restic = {
        version,
        settings: compresses
          ? 'restic init (repository version 2); backup --compression auto (zstd "default" speed, ~level 3); AES-256-CTR + Poly1305-AES'
          : 'restic init; this restic is older than 0.14 and cannot compress (repository version 1); AES-256-CTR + Poly1305-AES',
        notes: compresses ? [] : ['restic < 0.14: no compression, so its repository holds the text uncompressed'],
        steps: {},
      };
      results.restic.notes.push(`restic's local cache (${cache}) is not counted in its repository size`);
      specs.push({
        name: 'restic',
        cmd: 'restic',
        env: { ...process.env, RESTIC_PASSWORD: PASSWORD },
        step: (s) => {
          switch (s) {
            case 'init': return { args: [...g, 'init'] };
            case 'backup1': case 'backup2': case 'backup3': return { args: [...g, 'backup', '--json', ...comp, tree] };
            case 'restore': return { args: [...g, 'restore', 'latest', '--target', target] };
            case 'check': return { args: [...g, 'check', '--read-data'] };
          }
        },
        restoredRoot: path.join(target, tree),
        summary: (out) => lastJson(out, (x) => x['message_type'] === 'summary'),
      });
    } else {
      const v = await output('borg', ['--version']);
      if (v.code !== 0) {
        results.borg = skipped('borg is not installed (Debian: apt-get install -y borgbackup)');
        continue;
      }
      const base = path.join(work, 'borg-base');
      results.borg = {
        version: v.out.trim(),
        settings: 'borg init --encryption repokey-blake2; create --compression zstd,3',
        notes: [`borg's cache and security folders (BORG_BASE_DIR=${base}) are not counted in its repository size`],
        steps: {},
      };
      const archive = (n: number): string => `${repo}::peers-${n}`;
      specs.push({
        name: 'borg',
        cmd: 'borg',
        env: { ...process.env, BORG_PASSPHRASE: PASSWORD, BORG_BASE_DIR: base, BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes' },
        step: (s) => {
          switch (s) {
            case 'init': return { args: ['init', '--encryption', 'repokey-blake2', repo] };
            case 'backup1': return { args: ['create', '--json', '--compression', 'zstd,3', archive(1), tree] };
            case 'backup2': return { args: ['create', '--json', '--compression', 'zstd,3', archive(2), tree] };
            case 'backup3': return { args: ['create', '--json', '--compression', 'zstd,3', archive(3), tree] };
            // borg extracts into the working directory, paths without their leading '/'.
            case 'restore': return { args: ['extract', archive(3)], cwd: target };
            case 'check': return { args: ['check', '--verify-data', repo] };
          }
        },
        restoredRoot: path.join(target, tree.replace(/^\/+/, '')),
        summary: (out) => lastJson(out),
      });
    }
  }
  return specs;
}

function skipped(why: string): ToolResult {
  process.stderr.write(`note: ${why}; skipped\n`);
  return { version: '-', settings: '-', notes: [], steps: {}, skipped: why };
}

// --- report ------------------------------------------------------------------------------------

function roundTo(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

function fmtBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
}

function markdown(o: Options, results: Partial<Record<Tool, ToolResult>>, header: string[]): string {
  const rows: string[][] = [];
  for (const step of STEPS) {
    if (step === 'init') continue;
    for (const tool of o.tools) {
      const r = results[tool];
      if (!r || r.skipped) continue;
      const s = r.steps[step];
      if (s?.na) {
        rows.push([STEP_LABEL[step], tool, s.na, '', '', '', '', '']);
        continue;
      }
      if (!s) {
        rows.push([STEP_LABEL[step], tool, r.error ? 'failed (see below)' : '-', '', '', '', '', '']);
        continue;
      }
      rows.push([
        STEP_LABEL[step],
        tool,
        s.wallSeconds.toFixed(1),
        s.mbPerSecond !== undefined ? s.mbPerSecond.toFixed(1) : '',
        s.cpuSeconds.toFixed(1),
        s.peakRssMiB.toFixed(0),
        s.syncSeconds.toFixed(1),
        fmtBytes(s.repoBytes),
      ]);
    }
  }
  const lines = [...header, ''];
  lines.push('| step | tool | wall s | MB/s | CPU s (user+sys) | peak RSS MiB | sync after s | repository size |');
  lines.push('|---|---|--:|--:|--:|--:|--:|--:|');
  for (const row of rows) lines.push(`| ${row.join(' | ')} |`);
  lines.push('');
  for (const tool of o.tools) {
    const r = results[tool];
    if (!r) continue;
    if (r.skipped) {
      lines.push(`- ${tool}: skipped: ${r.skipped}`);
      continue;
    }
    const rc = r.restoreCheck
      ? r.restoreCheck.ok
        ? `restore verified (${r.restoreCheck.files} files, SHA-256 of every file)`
        : `RESTORE DIFFERS: ${r.restoreCheck.mismatches.slice(0, 3).join('; ')}`
      : 'restore not verified';
    lines.push(`- ${tool}: ${r.version.split('\n')[0]}; ${r.settings}; ${rc}${r.error ? `; ERROR: ${r.error}` : ''}`);
    for (const n of r.notes) lines.push(`  - ${n}`);
  }
  return `${lines.join('\n')}\n`;
}

// --- main --------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const t0 = performance.now();

  const gnuTime = await output(GNU_TIME, ['--version']);
  if (gnuTime.code !== 0 || !/GNU/.test(gnuTime.out)) {
    process.stderr.write('peers: needs GNU time at /usr/bin/time (Debian: apt-get install -y time)\n');
    process.exit(2);
  }

  const work = o.dir;
  await fs.mkdir(work, { recursive: true });
  for (const e of OWN_ENTRIES) await fs.rm(path.join(work, e), { recursive: true, force: true });
  const tree = path.join(work, 'tree');
  const results: Partial<Record<Tool, ToolResult>> = {};
  const specs = await makeSpecs(o, tree, results);

  process.stderr.write(`generating a ${fmtBytes(o.size)} tree in ${tree} (seed ${o.seed})...\n`);
  const corpus = await makeMixedCorpus(tree, {
    seed: o.seed,
    totalBytes: o.size,
    onProgress: (done, total) => process.stderr.write(`\r  ${fmtBytes(done)} / ${fmtBytes(total)}   `),
  });
  process.stderr.write(`\n  ${corpus.files} files, ${fmtBytes(corpus.bytes)} in ${corpus.seconds.toFixed(1)} s\n`);

  const load = os.loadavg()[0]!;
  if (load > 0.5) process.stderr.write(`warning: load average ${load.toFixed(2)}: other processes use the machine; figures will be noisy\n`);

  const timeFile = path.join(work, 'time.out');
  let treeBytes = corpus.bytes;
  let change: ChangeStats | undefined;
  let expected: Map<string, { size: number; sha256: string }> | undefined;
  await timedSync();
  for (const step of STEPS) {
    if (step === 'backup3') {
      process.stderr.write(`\nchanging ~${CHANGE_FRACTION * 100}% of the tree's bytes (seed ${o.seed})...\n`);
      change = await changeTree(tree, o.seed, CHANGE_FRACTION);
      treeBytes = (await listFiles(tree)).reduce((s, f) => s + f.size, 0);
      process.stderr.write(
        `  ${fmtBytes(change.changedBytes)}: ${change.rewrittenFiles} files rewritten, ${change.appendedFiles} appended to, ` +
          `${change.overwrittenRegions} regions overwritten in ${change.overwrittenFile}\n`,
      );
      await timedSync();
    }
    if (step === 'restore') expected = await manifest(tree); // read before any restore: same cache state for all
    process.stderr.write(`\n== ${STEP_LABEL[step]}\n`);
    for (const spec of specs) {
      const res = results[spec.name]!;
      if (res.error) continue;
      const repo = path.join(work, `${spec.name}-repo`);
      const how = spec.step(step);
      if (!how) {
        res.steps[step] = { wallSeconds: 0, userSeconds: 0, sysSeconds: 0, cpuSeconds: 0, peakRssMiB: 0, syncSeconds: 0, repoBytes: await duBytes(repo), na: NOT_OFFERED };
        process.stderr.write(`  ${spec.name}: ${NOT_OFFERED}\n`);
        continue;
      }
      if (step === 'restore') await fs.mkdir(path.join(work, `${spec.name}-restore`), { recursive: true });
      process.stderr.write(`  ${spec.name}... `);
      const run = await timed(spec.cmd, how.args, spec.env, how.cwd, timeFile);
      const syncSeconds = await timedSync();
      if (run.exitCode !== 0) {
        const why = (run.stderr || run.stdout).trim().split('\n').slice(-5).join(' | ');
        res.error = `${STEP_LABEL[step]} failed (exit ${run.exitCode}): ${why}`;
        process.stderr.write(`FAILED\n    ${res.error}\n`);
        continue;
      }
      const r: StepResult = {
        wallSeconds: roundTo(run.wallSeconds, 3),
        userSeconds: run.userSeconds,
        sysSeconds: run.sysSeconds,
        cpuSeconds: roundTo(run.userSeconds + run.sysSeconds, 2),
        peakRssMiB: roundTo(run.maxRssKiB / 1024, 1),
        syncSeconds: roundTo(syncSeconds, 3),
        repoBytes: await duBytes(repo),
      };
      if (step.startsWith('backup') || step === 'restore') r.mbPerSecond = roundTo(treeBytes / 1e6 / run.wallSeconds, 1);
      const summary = step.startsWith('backup') || step === 'restore' ? spec.summary(run.stdout, run.stderr) : undefined;
      if (summary !== undefined) r.summary = summary;
      res.steps[step] = r;
      process.stderr.write(
        `${r.wallSeconds.toFixed(1)} s wall, ${r.cpuSeconds.toFixed(1)} s CPU, ${r.peakRssMiB.toFixed(0)} MiB RSS, ` +
          `sync ${r.syncSeconds.toFixed(1)} s, repository ${fmtBytes(r.repoBytes)}\n`,
      );
      if (step === 'restore') {
        res.restoreCheck = await compareRestore(expected!, spec.restoredRoot);
        if (!res.restoreCheck.ok) process.stderr.write(`    restore differs: ${res.restoreCheck.mismatches.slice(0, 5).join('; ')}\n`);
        if (!o.keep) await fs.rm(path.join(work, `${spec.name}-restore`), { recursive: true, force: true });
      }
    }
  }
  const totalSeconds = roundTo((performance.now() - t0) / 1000, 1);

  const machine = {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cpus: os.cpus().length,
    totalMemBytes: os.totalmem(),
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    loadAvg1AtStart: roundTo(load, 2),
    loadAvg1AtEnd: roundTo(os.loadavg()[0]!, 2),
  };
  const header = [
    `Tree: ${corpus.files} files, ${fmtBytes(corpus.bytes)} (src/benchmark/corpus.ts, seed ${o.seed}); ` +
      (change ? `the 2% change: ${fmtBytes(change.changedBytes)} (${change.rewrittenFiles} files rewritten, ${change.appendedFiles} appended to, ${change.overwrittenRegions} regions overwritten in the largest file). ` : '') +
      `Machine: ${machine.cpu}, ${machine.cpus} CPUs, ${fmtBytes(machine.totalMemBytes)} RAM, ${machine.platform}. ` +
      `MB/s = tree bytes / wall, 10^6 bytes; repository size after the step (du -sb); "sync after" is the \`sync\` run after the step, not counted in its wall time. ` +
      `Load average (1 min) ${machine.loadAvg1AtStart} at the start, ${machine.loadAvg1AtEnd} at the end. Whole run: ${totalSeconds} s.`,
  ];
  const md = markdown(o, results, header);
  process.stdout.write(`\n${md}`);
  await fs.writeFile(path.join(work, 'peers.md'), md);
  const json = {
    date: new Date().toISOString(),
    options: { size: o.size, seed: o.seed, tools: o.tools },
    tree: { ...corpus, bytesAfterChange: treeBytes },
    change,
    machine,
    method: {
      wall: 'hrtime around the spawned command',
      cpu: 'GNU time %U + %S (all threads, waited-for children)',
      rss: 'GNU time %M (max resident set size of the largest process, KiB)',
      sync: '`sync` before the first step and after every step; its time is syncSeconds, not in wallSeconds',
      pageCache: 'warm (not dropped)',
      order: 'step by step: every tool runs a step before the next step starts',
      repoBytes: 'du -sb of the repository folder after the step',
    },
    results,
    totalSeconds,
  };
  await fs.writeFile(path.join(work, 'peers.json'), `${JSON.stringify(json, null, 2)}\n`);
  process.stderr.write(`\nwrote ${path.join(work, 'peers.md')} and ${path.join(work, 'peers.json')}\n`);

  if (!o.keep) {
    for (const e of OWN_ENTRIES) if (e !== 'peers.md' && e !== 'peers.json') await fs.rm(path.join(work, e), { recursive: true, force: true });
  }
  if (Object.values(results).some((r) => r.error || (r.restoreCheck && !r.restoreCheck.ok))) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`peers: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exit(1);
});
