// `npm run bench:budget -- [--size 2G] [--dir DIR] [--nodes 22,24] [--budgets 256M,128M,min] [--runs 5] [--kdf-memory 64M] [--json]`
//
// The memory ceiling of a first backup and a full restore on each Node major (issue 15): a mixed
// tree of --size (src/benchmark/corpus.ts, seed 1) is backed up into a fresh repository and
// restored, --runs times per Node major and budget, each command in a fresh process with the page
// cache dropped before it (as root on Linux), and its peak resident set (VmHWM, worker threads
// included, reported by engine as it exits) compared with the budget. `min` is the command's own
// minimum on that Node, read from the planner's refusal of a 1M budget (as a user would find it).
// A budget the planner refuses is recorded as refused, with the minimum it named. The first
// restore of each Node major is compared file by file with the source.
//
// Node majors other than the running one come from the registry's `node` package
// (`npx -y -p node@N`), run through bin/engine with ENGINE_NODE.
import { execFile, spawn } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { formatBytes, parseSize } from '../src/util/bytes.js';
import { makeMixedCorpus } from '../src/benchmark/corpus.js';
import { digestTree } from './digest-tree.js';
import { readFlags, UsageError } from './harness/flags.js';
import { dropPageCache } from './harness/page-cache.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
const PASSWORD = 'engine budget benchmark';

interface Args {
  sizeBytes: number;
  dir: string;
  nodes: string[];
  budgets: string[];
  runs: number;
  kdfMemory: string;
  json: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { sizeBytes: parseSize('2G', '--size'), dir: '/tmp/engine-budget', nodes: [String(process.versions.node.split('.')[0])], budgets: ['256M', 'min'], runs: 5, kdfMemory: '64M', json: false };
  readFlags(argv, (flag, value) => {
    switch (flag) {
      case '--size':
        a.sizeBytes = parseSize(value(), '--size');
        break;
      case '--dir':
        a.dir = resolve(value());
        break;
      case '--nodes':
        a.nodes = value().split(',');
        break;
      case '--budgets':
        a.budgets = value().split(',');
        break;
      case '--runs':
        a.runs = Number(value());
        break;
      case '--kdf-memory':
        a.kdfMemory = value();
        break;
      case '--json':
        a.json = true;
        break;
      default:
        throw new UsageError(`unknown option ${flag} (see the header of bench/budget.ts)`);
    }
  });
  return a;
}

function projectRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** The node binary of a major: this one, else the registry's `node` package through npx. */
async function nodeBinary(major: string): Promise<string> {
  if (process.versions.node.split('.')[0] === major) return process.execPath;
  const { stdout } = await run('npx', ['-y', '-p', `node@${major}`, '--', 'node', '-p', 'process.execPath'], { maxBuffer: 1 << 20 });
  return stdout.trim();
}

interface Outcome {
  code: number;
  json: Record<string, unknown> | null;
  stderr: string;
  peakRssBytes: number;
}

function engine(bin: string, node: string, args: string[], peakFile: string): Promise<Outcome> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(bin, args, { env: { ...process.env, ENGINE_NODE: node, ENGINE_PASSWORD: PASSWORD, ENGINE_PEAK_RSS_FILE: peakFile }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout = (stdout + d).slice(-1 << 16)));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-1 << 16)));
    child.on('error', reject);
    child.on('close', (code) => {
      const last = stdout.trim().split('\n').pop() ?? '';
      let json: Record<string, unknown> | null = null;
      try {
        json = last ? (JSON.parse(last) as Record<string, unknown>) : null;
      } catch {
        json = null;
      }
      fsp.readFile(peakFile, 'utf8').then(
        (t) => resolveRun({ code: code ?? -1, json, stderr, peakRssBytes: Number(t.trim()) }),
        () => resolveRun({ code: code ?? -1, json, stderr, peakRssBytes: Number.NaN }),
      );
    });
  });
}

const minimumNamed = (o: Outcome): number | null => {
  const m = /--mem-budget (\d+)M or more/.exec(o.stderr + JSON.stringify(o.json ?? {}));
  return o.code === 2 && m ? Number(m[1]) : null;
};

interface Row {
  node: string;
  budget: string;
  command: 'backup' | 'restore';
  budgetBytes: number;
  peaks: number[];
  seconds: number[];
  workerThreads: number[];
  refused?: string;
  withinBudget: boolean;
}

async function main(a: Args): Promise<void> {
  const root = projectRoot();
  const bin = join(root, 'bin', 'engine');
  const src = join(a.dir, 'tree');
  if (!existsSync(join(a.dir, 'tree.done'))) {
    await fsp.rm(src, { recursive: true, force: true });
    process.stderr.write(`making a ${formatBytes(a.sizeBytes)} mixed tree in ${src}\n`);
    await makeMixedCorpus(src, { seed: 1, totalBytes: a.sizeBytes });
    await fsp.writeFile(join(a.dir, 'tree.done'), '');
  }
  const sourceDigest = await digestTree(src);
  const rows: Row[] = [];
  for (const major of a.nodes) {
    const node = await nodeBinary(major);
    let compared = false;
    for (const budget of a.budgets) {
      for (const command of ['backup', 'restore'] as const) {
        const row: Row = { node: major, budget, command, budgetBytes: 0, peaks: [], seconds: [], workerThreads: [], withinBudget: true };
        rows.push(row);
        for (let r = 0; r < a.runs; r++) {
          const repo = join(a.dir, `repo-${major}-${budget}-${r}`);
          const target = join(a.dir, 'restore');
          if (command === 'backup') {
            await fsp.rm(repo, { recursive: true, force: true });
            const init = await engine(bin, node, ['init', '--repo', repo, '--kdf-memory', a.kdfMemory], join(a.dir, 'peak'));
            if (init.code !== 0) throw new Error(`init: ${init.stderr}`);
          } else {
            await fsp.rm(target, { recursive: true, force: true });
          }
          const args = command === 'backup' ? ['backup', '--repo', repo, '--json', src] : ['restore', 'latest', '--repo', repo, '--json', '--target', target];
          let budgetArg = budget;
          if (budget === 'min') {
            const refused = await engine(bin, node, [...args, '--mem-budget', '1M'], join(a.dir, 'peak'));
            const named = minimumNamed(refused);
            if (named === null) throw new Error(`${command} --mem-budget 1M was not refused with a minimum: ${refused.stderr}`);
            // Refusals name the key's floor first, then the plan's: ask until one runs.
            budgetArg = `${named}M`;
          }
          await dropPageCache();
          let o = await engine(bin, node, [...args, '--mem-budget', budgetArg], join(a.dir, 'peak'));
          for (let tries = 0; budget === 'min' && minimumNamed(o) !== null && tries < 4; tries++) {
            budgetArg = `${minimumNamed(o)}M`;
            await dropPageCache();
            o = await engine(bin, node, [...args, '--mem-budget', budgetArg], join(a.dir, 'peak'));
          }
          row.budgetBytes = parseSize(budgetArg, '--mem-budget');
          const named = minimumNamed(o);
          if (named !== null) {
            row.refused = `refused: the minimum here is ${named}M`;
            row.withinBudget = false;
            // A backup refused leaves nothing to restore: the restores of this budget use a backup at 256M.
            if (command === 'backup') {
              const fallback = await engine(bin, node, [...args, '--mem-budget', '256M'], join(a.dir, 'peak'));
              if (fallback.code !== 0) throw new Error(`backup at 256M: ${fallback.stderr}`);
            }
            continue;
          }
          if (o.code !== 0) throw new Error(`${command} on Node ${major} at ${budgetArg} exited ${o.code}: ${o.stderr}`);
          row.peaks.push(o.peakRssBytes);
          row.seconds.push(Number(o.json?.total_duration ?? o.json?.duration_seconds ?? Number.NaN));
          row.workerThreads.push(Number(o.json?.worker_threads ?? Number.NaN));
          if (!(o.peakRssBytes < row.budgetBytes)) row.withinBudget = false;
          if (command === 'restore' && !compared) {
            const restored = await digestTree(join(target, src));
            const differ = [...sourceDigest].filter(([p, d]) => restored.get(p) !== d).length + [...restored.keys()].filter((p) => !sourceDigest.has(p)).length;
            if (differ !== 0) throw new Error(`the restore on Node ${major} differs from the source in ${differ} path(s)`);
            compared = true;
          }
          process.stderr.write(`node ${major} ${command} at ${budgetArg}: peak ${formatBytes(o.peakRssBytes)}, ${row.seconds.at(-1)?.toFixed(1)} s, ${row.workerThreads.at(-1)} worker(s)\n`);
        }
      }
    }
  }
  const out = { size: a.sizeBytes, runs: a.runs, kdfMemory: a.kdfMemory, rows, allWithinBudget: rows.every((r) => r.withinBudget) };
  if (a.json) process.stdout.write(`${JSON.stringify(out)}\n`);
  else {
    process.stdout.write('| Node | budget | command | peaks (MiB) | seconds | workers | within |\n|---|---|---|---|---|---|---|\n');
    for (const r of rows) {
      const b = r.budget === 'min' ? `min (${r.budgetBytes / MiB}M)` : r.budget;
      process.stdout.write(`| ${r.node} | ${b} | ${r.command} | ${r.refused ?? r.peaks.map((p) => (p / MiB).toFixed(1)).join(', ')} | ${r.seconds.map((s) => s.toFixed(1)).join(', ')} | ${[...new Set(r.workerThreads)].join('/')} | ${r.withinBudget ? 'yes' : '**no**'} |\n`);
    }
  }
  if (!out.allWithinBudget) process.exitCode = 1;
}

main(parseArgs(process.argv.slice(2))).catch((err: unknown) => {
  process.stderr.write(`bench:budget: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 2;
});
