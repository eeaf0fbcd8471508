// engine, restic and borg, back to back on one generated tree and one machine (run through
// bench/peers.sh). Steps, each run for every tool before the next step starts:
//   init, first backup, no-change backup, [the tree changes by ~2%], backup after the change,
//   full restore (of the last snapshot, into an empty folder), full data check.
// For each step and tool: wall seconds, CPU seconds (user + sys), peak RSS, the time of the `sync`
// that follows the step (the write-back it left behind; tools that fsync pay inside their step),
// and the repository size after the step.
//
// Measurement (bench/harness/process.ts): every command runs under GNU
// `/usr/bin/time -f '%e %U %S %M'`; %U and %S include all the command's threads and waited-for
// children; %M is the maximum resident set size of the largest single process. Wall time is
// hrtime around the spawn. `sync` runs before the first step and after every step (timed
// separately), so no step pays for an earlier one's write-back. The page cache is dropped before
// every step (bench/harness/page-cache.ts: needs root on Linux, else the run says so and stays
// warm); --warm keeps it warm (the tree was just written; 1 GiB fits in RAM).
//
// Settings, chosen to be comparable (bench/harness/tools.ts): encryption on everywhere, zstd
// level 3 or its equivalent (restic >= 0.14: `--compression auto`; restic < 0.14 cannot compress,
// which the report says).
//
// Usage: node dist/bench/peers.js [--size 1G] [--dir /tmp/engine-peers] [--tools engine,restic,borg]
//          [--seed 1] [--keep] [--warm]
// The Markdown table goes to stdout and to DIR/peers.md, the JSON to DIR/peers.json. Without
// --keep, everything else in DIR (tree, repositories, restores, caches) is deleted at the end.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseSize } from '../src/util/bytes.js';
import { readFlags, UsageError } from './harness/flags.js';
import { pageCacheState } from './harness/page-cache.js';
import { duBytes, failureText, hasGnuTime, timedSync } from './harness/process.js';
import { fmtBytes, markdownTable, roundTo, warnIfLoaded } from './harness/report.js';
import { measureStep } from './harness/step.js';
import { ALL_TOOLS, borgAdapter, borgVersion, engineAdapter, engineCommand, engineVersion, findEngineCheckout, resticAdapter, resticVersion } from './harness/tools.js';
import type { Invocation, ToolAdapter, ToolName } from './harness/tools.js';
import { changeTree, type ChangeStats } from './harness/tree-change.js';
import { generateTree, listFiles } from './harness/tree.js';
import { compareRestore, manifest, type Manifest, type RestoreComparison } from './harness/verify.js';

const PASSWORD = 'engine-peers-password';
const CHANGE_FRACTION = 0.02;
/** What this script creates in the work folder; only these are deleted, never anything else there. */
const OWN_ENTRIES = ['tree', 'time.out', 'restic-cache', 'borg-base', 'peers.md', 'peers.json', ...ALL_TOOLS.flatMap((t) => [`${t}-repo`, `${t}-restore`])];
const NOT_OFFERED = 'n/a (the tool offers no such step)';

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
  tools: ToolName[];
  seed: number;
  keep: boolean;
  warm: boolean;
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
  restoreCheck?: RestoreComparison;
  skipped?: string;
  error?: string;
}

function usage(): never {
  process.stdout.write(
    [
      'usage: bench/peers.sh [--size 1G] [--dir /tmp/engine-peers] [--tools engine,restic,borg] [--seed N] [--keep] [--warm]',
      '  --size   size of the generated tree (K/M/G, binary units; default 1G)',
      '  --dir    work folder: tree, repositories, restores, caches, and the results',
      '           (peers.md, peers.json); those entries are replaced, nothing else is touched',
      '  --tools  which tools to run, in this order (default engine,restic,borg);',
      '           a tool that is not installed is skipped with a note',
      '  --seed   seed of the tree and of the 2% change (default 1)',
      '  --keep   keep the tree, repositories and restores (default: delete them, keep the results)',
      '  --warm   keep the page cache warm (default: sync and drop it before every step; needs root)',
      '',
    ].join('\n'),
  );
  process.exit(0);
}

function parseArgs(argv: string[]): Options {
  const o: Options = { size: 2 ** 30, dir: '/tmp/engine-peers', tools: [...ALL_TOOLS], seed: 1, keep: false, warm: false };
  readFlags(argv, (flag, value, a) => {
    switch (flag) {
      case '--size': o.size = parseSize(value(), '--size'); break;
      case '--dir': o.dir = path.resolve(value()); break;
      case '--tools': {
        const tools = value().split(',').map((t) => t.trim()).filter(Boolean);
        for (const t of tools) if (!ALL_TOOLS.includes(t as ToolName)) throw new UsageError(`unknown tool: ${t} (engine, restic, borg)`);
        o.tools = tools as ToolName[];
        break;
      }
      case '--seed': o.seed = Number(value()); break;
      case '--keep': o.keep = true; break;
      case '--warm': o.warm = true; break;
      case '--help': case '-h': usage(); break;
      default: throw new UsageError(`unknown option: ${a} (try --help)`);
    }
  });
  return o;
}

/** What a tool runs for a step; undefined: the tool offers no such step. */
function invocation(tool: ToolAdapter, step: Step): Invocation | undefined {
  switch (step) {
    case 'init': return tool.init;
    case 'backup1': return tool.backup(1);
    case 'backup2': return tool.backup(2);
    case 'backup3': return tool.backup(3);
    case 'restore': return tool.restore(3);
    case 'check': return tool.check;
  }
}

// --- tools -------------------------------------------------------------------------------------

async function setUpTools(o: Options, tree: string, results: Partial<Record<ToolName, ToolResult>>): Promise<ToolAdapter[]> {
  const tools: ToolAdapter[] = [];
  const work = o.dir;
  for (const tool of o.tools) {
    const folders = { repo: path.join(work, `${tool}-repo`), source: tree, target: path.join(work, `${tool}-restore`), password: PASSWORD };
    if (tool === 'engine') {
      const checkout = findEngineCheckout();
      const command = checkout ? engineCommand(checkout) : undefined;
      const version = command ? await engineVersion(command) : undefined;
      if (!command || version === undefined) {
        results.engine = skipped('engine not found or not built (npm run build)');
        continue;
      }
      results.engine = {
        version: `engine ${version} (${checkout}), node ${process.version}`,
        settings: 'engine init (defaults: XChaCha20-Poly1305, zstd level 3, 16 MiB packs); backup/restore with the default memory budget',
        notes: [],
        steps: {},
      };
      tools.push(engineAdapter(command, folders));
    } else if (tool === 'restic') {
      const v = await resticVersion();
      if (!v) {
        results.restic = skipped('restic is not installed (Debian: apt-get install -y restic)');
        continue;
      }
      const cache = path.join(work, 'restic-cache');
      results.restic = {
        version: v.version,
        settings: v.compresses
          ? 'restic init (repository version 2); backup --compression auto (zstd "default" speed, ~level 3); AES-256-CTR + Poly1305-AES'
          : 'restic init; this restic is older than 0.14 and cannot compress (repository version 1); AES-256-CTR + Poly1305-AES',
        notes: v.compresses ? [] : ['restic < 0.14: no compression, so its repository holds the text uncompressed'],
        steps: {},
      };
      results.restic.notes.push(`restic's local cache (${cache}) is not counted in its repository size`);
      tools.push(resticAdapter(folders, cache, v.compresses));
    } else {
      const version = await borgVersion();
      if (version === undefined) {
        results.borg = skipped('borg is not installed (Debian: apt-get install -y borgbackup)');
        continue;
      }
      const base = path.join(work, 'borg-base');
      results.borg = {
        version,
        settings: 'borg init --encryption repokey-blake2; create --compression zstd,3',
        notes: [`borg's cache and security folders (BORG_BASE_DIR=${base}) are not counted in its repository size`],
        steps: {},
      };
      tools.push(borgAdapter(folders, base));
    }
  }
  return tools;
}

function skipped(why: string): ToolResult {
  process.stderr.write(`note: ${why}; skipped\n`);
  return { version: '-', settings: '-', notes: [], steps: {}, skipped: why };
}

// --- report ------------------------------------------------------------------------------------

function markdown(o: Options, results: Partial<Record<ToolName, ToolResult>>, header: string[]): string {
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
  const head = ['step', 'tool', 'wall s', 'MB/s', 'CPU s (user+sys)', 'peak RSS MiB', 'sync after s', 'repository size'];
  lines.push(...markdownTable(head, ['---', '---', '--:', '--:', '--:', '--:', '--:', '--:'], rows));
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

  if (!(await hasGnuTime())) {
    process.stderr.write('peers: needs GNU time at /usr/bin/time (Debian: apt-get install -y time)\n');
    process.exit(2);
  }

  const work = o.dir;
  await fs.mkdir(work, { recursive: true });
  for (const e of OWN_ENTRIES) await fs.rm(path.join(work, e), { recursive: true, force: true });
  const tree = path.join(work, 'tree');
  const results: Partial<Record<ToolName, ToolResult>> = {};
  const tools = await setUpTools(o, tree, results);

  const corpus = await generateTree(tree, o.seed, o.size, 'tree');
  const load = warnIfLoaded();

  const timeFile = path.join(work, 'time.out');
  let treeBytes = corpus.bytes;
  let change: ChangeStats | undefined;
  let expected: Manifest | undefined;
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
    for (const tool of tools) {
      const res = results[tool.name]!;
      if (res.error) continue;
      const repo = path.join(work, `${tool.name}-repo`);
      const how = invocation(tool, step);
      if (!how) {
        res.steps[step] = { wallSeconds: 0, userSeconds: 0, sysSeconds: 0, cpuSeconds: 0, peakRssMiB: 0, syncSeconds: 0, repoBytes: await duBytes(repo), na: NOT_OFFERED };
        process.stderr.write(`  ${tool.name}: ${NOT_OFFERED}\n`);
        continue;
      }
      if (step === 'restore') await fs.mkdir(path.join(work, `${tool.name}-restore`), { recursive: true });
      process.stderr.write(`  ${tool.name}... `);
      const run = await measureStep(tool, how, timeFile, o.warm);
      const syncSeconds = await timedSync();
      if (run.exitCode !== 0) {
        res.error = `${STEP_LABEL[step]} failed (exit ${run.exitCode}): ${failureText(run)}`;
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
      const summary = step.startsWith('backup') || step === 'restore' ? tool.summary(run.stdout) : undefined;
      if (summary !== undefined) r.summary = summary;
      res.steps[step] = r;
      process.stderr.write(
        `${r.wallSeconds.toFixed(1)} s wall, ${r.cpuSeconds.toFixed(1)} s CPU, ${r.peakRssMiB.toFixed(0)} MiB RSS, ` +
          `sync ${r.syncSeconds.toFixed(1)} s, repository ${fmtBytes(r.repoBytes)}\n`,
      );
      if (step === 'restore') {
        res.restoreCheck = await compareRestore(expected!, tool.restoredRoot);
        if (!res.restoreCheck.ok) process.stderr.write(`    restore differs: ${res.restoreCheck.mismatches.slice(0, 5).join('; ')}\n`);
        if (!o.keep) await fs.rm(path.join(work, `${tool.name}-restore`), { recursive: true, force: true });
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
  const cache = pageCacheState(o.warm);
  const header = [
    `Tree: ${corpus.files} files, ${fmtBytes(corpus.bytes)} (src/benchmark/corpus.ts, seed ${o.seed}); ` +
      (change ? `the 2% change: ${fmtBytes(change.changedBytes)} (${change.rewrittenFiles} files rewritten, ${change.appendedFiles} appended to, ${change.overwrittenRegions} regions overwritten in the largest file). ` : '') +
      `Machine: ${machine.cpu}, ${machine.cpus} CPUs, ${fmtBytes(machine.totalMemBytes)} RAM, ${machine.platform}. ` +
      `MB/s = tree bytes / wall, 10^6 bytes; repository size after the step (du -sb); "sync after" is the \`sync\` run after the step, not counted in its wall time. ` +
      `Page cache ${cache.dropped ? 'dropped before every step' : `warm (${cache.why})`}. ` +
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
      pageCache: cache.dropped ? 'dropped before every step (sync; 3 > /proc/sys/vm/drop_caches)' : `warm (not dropped: ${cache.why})`,
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
