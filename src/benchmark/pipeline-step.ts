// One step of the pipeline section of `engine bench`, run in a fresh process (so that its peak RSS,
// VmHWM, is its own): spawned by pipeline.ts as `node pipeline-step.js SPEC-JSON`, it prints one
// JSON line (StepResult, step-types.ts) on stdout. Steps: a whole backup or restore with the real
// classes, or the stage ceilings measured one stage at a time on the same corpus (stage-ceilings.ts).
import { loadPrimitives } from '../../native-bindings/index.js';
import type { PrimitiveName, Primitives } from '../../native-bindings/types.js';
import { snapshotSummary } from '../archiver/archiver.js';
import { runBackup } from '../archiver/backup-run.js';
import { LocalBackend } from '../backend/local/local-backend.js';
import { MemoryBackend } from '../backend/memory/memory-backend.js';
import type { Backend } from '../backend/types.js';
import type { WorkerPool } from '../worker-pool/pool.js';
import { Repository } from '../repository/repository.js';
import { Restorer } from '../restorer/restorer.js';
import { restoreLimits } from '../session/memory-plan.js';
import type { OpenSession } from '../session/open-session.js';
import { startPool } from '../session/worker-pool.js';
import { peakRssBytes } from '../util/memory.js';
import { stagesStep } from './stage-ceilings.js';
import { cpuSecondsSince, PASSWORD, planFor, session } from './step-session.js';
import type { RunStepResult, StepSpec } from './step-types.js';
import { IndexedRepository } from '../repository/indexed-repository.js';

/**
 * The pool started and every thread ready before the clock starts, as for the stages alone: the
 * figures compare steady pipelines, and the start (a fixed cost, ~0.1 s) is reported apart.
 */
async function warmPool(s: OpenSession, threads: number, verifyAfterSeal: boolean): Promise<{ pool: WorkerPool; startSeconds: number; warmBusy: number }> {
  const t0 = performance.now();
  const pool = startPool(s, threads, verifyAfterSeal);
  await pool.warmUp();
  return { pool, startSeconds: (performance.now() - t0) / 1000, warmBusy: pool.busy.busyMs('chunkHash') };
}

/** The result of a backup or restore run whose clock started at t0 / c0: wall, CPU and peak RSS now. */
function runResult(t0: number, c0: NodeJS.CpuUsage, r: { startSeconds: number; backend: Backend; workers: number; bytes: number; busyMs: Record<string, number> }): RunStepResult {
  return {
    kind: 'run',
    seconds: (performance.now() - t0) / 1000,
    startSeconds: r.startSeconds,
    cpuSeconds: cpuSecondsSince(c0),
    peakRssBytes: peakRssBytes(),
    backendBytes: r.backend instanceof MemoryBackend ? r.backend.bytes : 0,
    workers: r.workers,
    bytes: r.bytes,
    busyMs: r.busyMs,
  };
}

/** Copies every object of a local repository into a memory backend. */
async function loadIntoMemory(dir: string): Promise<MemoryBackend> {
  const local = new LocalBackend(dir);
  const mem = new MemoryBackend('bench');
  for await (const o of local.list('')) await mem.save(o.name, await local.load(o.name));
  return mem;
}

async function backupStep(spec: StepSpec, p: Primitives, chosen: Record<PrimitiveName, string>): Promise<RunStepResult> {
  const backend: Backend = spec.backend === 'memory' ? new MemoryBackend('bench') : new LocalBackend(spec.repo);
  const repo = await Repository.init(backend, p, PASSWORD, { kdf: spec.kdf });
  const s = session(repo, spec.policy, chosen);
  const plan = planFor(s, spec.budgetBytes);
  const { pool, startSeconds, warmBusy } = await warmPool(s, plan.workers, true);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const index = await repo.loadIndex();
  let busyMs: Record<string, number>;
  let bytesStored: number;
  try {
    const { tree, archiver, uploaded: u } = await runBackup(new IndexedRepository(repo, index), pool, [spec.corpus], null, {
      plan,
      onProblem: (pr) => {
        throw new Error(`${pr.path}: ${pr.message}`);
      },
    });
    const c = archiver.counters;
    bytesStored = u.bytesAddedStored;
    await repo.saveSnapshot({
      version: 1,
      time: new Date().toISOString(),
      tree,
      paths: [spec.corpus],
      hostname: 'bench',
      username: 'bench',
      uid: -1,
      gid: -1,
      tags: [],
      summary: snapshotSummary(c, u, 0, (performance.now() - t0) / 1000),
    });
    busyMs = { read: archiver.readBusy.busyMs(), chunkHash: pool.busy.busyMs('chunkHash') - warmBusy, seal: pool.busy.busyMs('seal'), store: u.storeBusyMs };
  } finally {
    await pool.close();
  }
  return runResult(t0, c0, { startSeconds, backend, workers: plan.workers, bytes: bytesStored, busyMs });
}

async function restoreStep(spec: StepSpec, p: Primitives, chosen: Record<PrimitiveName, string>): Promise<RunStepResult> {
  const backend: Backend = spec.backend === 'memory' ? await loadIntoMemory(spec.repo) : new LocalBackend(spec.repo);
  const repo = await Repository.open(backend, p, PASSWORD);
  const s = session(repo, spec.policy, chosen);
  const plan = planFor(s, spec.budgetBytes);
  const { pool, startSeconds } = await warmPool(s, plan.workers, false);
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const index = await repo.loadIndex();
  const { snapshot } = await repo.resolveSnapshot('latest');
  const root = await repo.loadTree(index, snapshot.tree);
  // With the limits of `engine restore` on a local repository.
  const restorer = new Restorer(new IndexedRepository(repo, index), pool, {
    include: [],
    ...restoreLimits(s, plan),
    restoreOwnership: false,
    onProblem: (pr) => {
      throw new Error(`${pr.path}: ${pr.message}`);
    },
  });
  let busyMs: Record<string, number>;
  try {
    await restorer.run(root, spec.target);
    busyMs = { load: restorer.loadBusy.busyMs(), unseal: pool.busy.busyMs('unseal'), write: restorer.writeBusy.busyMs() };
  } finally {
    await pool.close();
  }
  return runResult(t0, c0, { startSeconds, backend, workers: plan.workers, bytes: restorer.counters.bytesWritten, busyMs });
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '') as StepSpec;
  const { primitives: p, report } = await loadPrimitives(spec.policy);
  const chosen = Object.fromEntries(report.map((r) => [r.primitive, r.chosen])) as Record<PrimitiveName, string>;
  const result = spec.step === 'backup' ? await backupStep(spec, p, chosen) : spec.step === 'restore' ? await restoreStep(spec, p, chosen) : await stagesStep(spec, p, chosen);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
