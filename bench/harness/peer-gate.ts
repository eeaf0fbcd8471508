// The peer comparison of `npm run bench:gate`: engine and restic on one small generated tree,
// interleaved round by round, for the gate's peer ratios (peerRatiosOf in src/benchmark/gate.ts).
//
// Each round initialises a fresh repository per tool and runs, step by step, engine then restic
// (restic then engine in every other round and pair, so neither always goes first after a cache
// drop or after the other's write-back): first backup, no-change backup (three pairs), full
// restore into an empty folder, check reading all data (two pairs). Before every step: `sync`, and the page cache dropped when this
// runs as root on Linux (else warm, said once; bench/harness/page-cache.ts). Commands run under
// GNU time (bench/harness/process.ts) for wall and CPU seconds. The same tools and settings as
// bench/peers.ts (bench/harness/tools.ts): encryption everywhere, zstd level 3 or restic's
// `--compression auto`.
//
// Nothing is deleted between rounds: ext4 scans past recently deleted inodes when it creates new
// files (docs/BENCHMARKS.md), which would slow whichever restore runs first after a deletion.

import fs from 'node:fs/promises';
import path from 'node:path';
import { PEER_STEPS, type PeerPair, type PeerStep, type PeerTiming } from '../../src/benchmark/gate.js';
import { foreignCores, machineBusySeconds } from './cpu-load.js';
import { pageCacheState } from './page-cache.js';
import { failureText, hasGnuTime } from './process.js';
import { measureStep } from './step.js';
import { engineAdapter, engineCommand, engineVersion, findEngineCheckout, resticAdapter, resticVersion, type Invocation, type ToolAdapter } from './tools.js';
import { reuseOrGenerateTree } from './tree.js';

const PASSWORD = 'engine-gate-password';
const MiB = 2 ** 20;

export interface PeerGateOptions {
  /** Folder for the tree (kept for the next run) and the rounds (deleted at the end). */
  readonly dir: string;
  readonly sizeBytes?: number;
  readonly rounds?: number;
  readonly seed?: number;
}

export const PEER_GATE_DEFAULTS = { sizeBytes: 128 * MiB, rounds: 3, seed: 7 } as const;

/**
 * Pairs per round of the short steps. On a 128 MiB tree a no-change backup takes about a second,
 * mostly starting up; one pair of them moved by 20% either way on this loaded machine, against
 * 5-10% for the first backup. More pairs make their median steady, for a few seconds.
 */
const PAIRS_PER_ROUND: Readonly<Record<PeerStep, number>> = { 'first backup': 1, 'no-change backup': 3, restore: 1, 'check read-data': 2 };

export type PeerGateOutcome =
  | { readonly kind: 'skipped'; readonly why: string }
  | {
      readonly kind: 'measured';
      readonly peer: 'restic';
      readonly version: string;
      readonly rounds: Partial<Record<PeerStep, PeerPair[]>>;
      readonly notes: string[];
      readonly seconds: number;
      /** Cores other processes kept busy on average during the rounds (undefined off Linux). */
      readonly foreignCores: number | undefined;
    };

/** A step of the peer comparison that exited non-zero: engine or restic failed, not the gate. */
export class PeerStepFailed extends Error {
  override name = 'PeerStepFailed';
}

/** Why the comparison cannot run here, or undefined when it can. */
export async function peerGateUnavailable(): Promise<string | undefined> {
  if ((await resticVersion()) === undefined) return 'restic is not installed (not on PATH)';
  if (!(await hasGnuTime())) return 'GNU time is not at /usr/bin/time (Debian: apt-get install -y time)';
  if (findEngineCheckout() === undefined) return 'the engine checkout was not found';
  return undefined;
}

function invocationOf(tool: ToolAdapter, step: PeerStep): Invocation {
  switch (step) {
    case 'first backup': return tool.backup(1);
    case 'no-change backup': return tool.backup(2);
    case 'restore': return tool.restore(2);
    case 'check read-data': return tool.check;
  }
}

async function timed(tool: ToolAdapter, how: Invocation, timeFile: string, label: string): Promise<PeerTiming> {
  const run = await measureStep(tool, how, timeFile, false);
  if (run.exitCode !== 0) throw new PeerStepFailed(`${tool.name} ${label} failed (exit ${run.exitCode}): ${failureText(run)}`);
  return { wallSeconds: run.wallSeconds, cpuSeconds: run.userSeconds + run.sysSeconds };
}

/** Runs the comparison, or says why it is skipped (restic or GNU time missing). */
export async function runPeerGate(o: PeerGateOptions, log: (line: string) => void): Promise<PeerGateOutcome> {
  const why = await peerGateUnavailable();
  if (why !== undefined) return { kind: 'skipped', why };
  const started = performance.now();
  const restic = (await resticVersion())!;
  const engine = engineCommand(findEngineCheckout()!);
  if ((await engineVersion(engine)) === undefined) return { kind: 'skipped', why: 'engine does not start (npm run build)' };
  const size = o.sizeBytes ?? PEER_GATE_DEFAULTS.sizeBytes;
  const roundCount = o.rounds ?? PEER_GATE_DEFAULTS.rounds;
  const seed = o.seed ?? PEER_GATE_DEFAULTS.seed;
  await fs.mkdir(o.dir, { recursive: true });
  const tree = path.join(o.dir, 'tree');
  await reuseOrGenerateTree(tree, path.join(o.dir, 'tree.json'), seed, size);
  const roundsDir = path.join(o.dir, 'rounds');
  await fs.rm(roundsDir, { recursive: true, force: true });
  const timeFile = path.join(o.dir, 'time.out');
  const rounds: Partial<Record<PeerStep, PeerPair[]>> = {};
  let ownCpu = 0;
  const measure = async (tool: ToolAdapter, how: Invocation, label: string): Promise<PeerTiming> => {
    const t = await timed(tool, how, timeFile, label);
    ownCpu += t.cpuSeconds;
    return t;
  };
  const busyBefore = await machineBusySeconds();
  const roundsStarted = performance.now();
  let foreign: number | undefined;
  try {
    for (let k = 1; k <= roundCount; k++) {
      const dir = path.join(roundsDir, String(k));
      const folders = (name: string): { repo: string; source: string; target: string; password: string } => ({
        repo: path.join(dir, `${name}-repo`),
        source: tree,
        target: path.join(dir, `${name}-restore`),
        password: PASSWORD,
      });
      const e = engineAdapter(engine, folders('engine'));
      const r = resticAdapter(folders('restic'), path.join(dir, 'restic-cache'), restic.compresses);
      const order = k % 2 === 1 ? [e, r] : [r, e];
      for (const tool of order) {
        await fs.mkdir(dir, { recursive: true });
        await measure(tool, tool.init, 'init');
      }
      for (const step of PEER_STEPS) {
        for (let pair = 0; pair < PAIRS_PER_ROUND[step]; pair++) {
          const got: Partial<Record<'engine' | 'restic', PeerTiming>> = {};
          for (const tool of pair % 2 === 0 ? order : [...order].reverse()) {
            if (step === 'restore') await fs.mkdir(path.join(dir, `${tool.name}-restore`), { recursive: true });
            got[tool.name as 'engine' | 'restic'] = await measure(tool, invocationOf(tool, step), step);
          }
          (rounds[step] ??= []).push({ engine: got.engine!, peer: got.restic! });
          log(`  round ${k} ${step}: engine ${fmt(got.engine!)}, restic ${fmt(got.restic!)}`);
        }
      }
    }
    // Sampled before the deletions below, whose kernel time is no tool's.
    foreign = foreignCores(busyBefore, await machineBusySeconds(), ownCpu, (performance.now() - roundsStarted) / 1000);
  } finally {
    await fs.rm(roundsDir, { recursive: true, force: true });
    await fs.rm(timeFile, { force: true });
  }
  const cache = pageCacheState(false);
  const notes = [
    `${restic.version.split('\n')[0]}; ${roundCount} interleaved rounds (pairs per round: ${PEER_STEPS.map((st) => `${st} ${PAIRS_PER_ROUND[st]}`).join(', ')}) on a ${Math.round(size / MiB)} MiB generated tree (seed ${seed}); ` +
      (cache.dropped ? 'page cache dropped before every step' : `page cache warm (${cache.why})`) +
      (foreign !== undefined ? `; other work kept ${foreign.toFixed(2)} cores busy on average` : ''),
  ];
  return { kind: 'measured', peer: 'restic', version: restic.version, rounds, notes, seconds: (performance.now() - started) / 1000, foreignCores: foreign };
}

function fmt(t: PeerTiming): string {
  return `${t.wallSeconds.toFixed(2)} s wall / ${t.cpuSeconds.toFixed(2)} s CPU`;
}
