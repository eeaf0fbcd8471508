// Turns --mem-budget into the sizes of everything that holds memory (DESIGN.md "The pipeline").
// The process's resident memory is: a fixed part (Node itself, loaded modules, each worker thread's
// isolate and compression contexts) plus the bytes the pipeline holds in its bounded stages, plus
// garbage not yet collected. The fixed part was measured per Node major on x86_64 (see
// docs/MEMORY.md) and errs on the high side; a budget that leaves no room for the minimum data
// bounds is refused rather than silently exceeded.
import { BudgetError } from '../errors/engine-error.js';
import { formatBytes } from '../util/bytes.js';

const MiB = 1024 * 1024;

export interface PlannerInput {
  budgetBytes: number;
  cpus: number;
  packSizeBytes: number;
  maxChunkBytes: number;
  /** Fallback primitives keep WebAssembly heaps per thread, which never shrink. */
  fallback: boolean;
  /** Argon2id memory of the repository's key (held while the key is derived); KDF_BYTES when unknown. */
  kdfBytes?: number;
  /**
   * The repository index held in memory: the off-heap index's filters and fences (about 2.1 bytes
   * per blob) and its page cache. Known once the index is open; 0 before.
   */
  index?: IndexShare;
  /** The fixed costs to plan with: the running Node's (fixedCostsFor) unless given. */
  fixed?: FixedCosts;
  /**
   * What the plan is for. A backup reads through the segment pool, whose buffers each hold a
   * segment plus room for the largest chunk (the tail carried from the segment before): at least
   * two of them. Other commands (restore, check, prune...) have no segments. Default: backup.
   */
  command?: PlanCommand;
  /**
   * Whether the key was derived before the command's modules were loaded (the CLI on a local
   * repository, src/cli/early-key.ts): then the Argon2id memory sits on the smaller process of
   * `keyProcessBytes`. Default: true.
   */
  keyDerivedEarly?: boolean;
}

export type PlanCommand = 'backup' | 'restore' | 'other';

export interface IndexShare {
  residentBytes: number;
  pageCacheBytes: number;
}

export interface Plan {
  budgetBytes: number;
  workers: number;
  fixedBytes: number;
  /** Segments read and not yet sealed (read → chunk → hash → dedup → seal input). */
  readBytes: number;
  /** Sealed blobs not yet durably stored (open packs and packs being written). */
  sealedBytes: number;
  /** Packs are closed at this size (at most the repository's target). */
  packTargetBytes: number;
  /** Packs written concurrently. */
  writesInFlight: number;
  /** Largest segment (carried tail + fresh data) handed to one pool task. */
  segmentBytes: number;
  /** Files read concurrently. */
  fileConcurrency: number;
  /** Headroom for garbage the collector has not yet returned. */
  headroomBytes: number;
  /** The index's filters and fences, and its page cache (part of fixedBytes). */
  index: IndexShare;
}

/**
 * The fixed part of the process on one Node major (docs/MEMORY.md "Per Node major"): the main
 * thread with its modules and mapped libraries, and per worker its isolate plus the buffers of one
 * task in flight (the segment handed in, the result, and the per-chunk temporaries not yet
 * collected: about 2.5 segments, counted as 4).
 */
export interface FixedCosts {
  /** Node's major version these figures were measured on. */
  readonly nodeMajor: number;
  readonly baseProcessBytes: number;
  /**
   * The process while the key is derived early (src/cli/early-key.ts: Node, the CLI, the local
   * storage and one Argon2id implementation), beyond the Argon2id memory itself.
   */
  readonly keyProcessBytes: number;
  /** Per worker thread, before its segments: isolate, primitives, compression contexts. */
  readonly workerBytes: number;
  /** The same with the fallback primitives, whose WebAssembly heaps never shrink. */
  readonly workerFallbackBytes: number;
  /** The fallback's Argon2id runs in a thread of its own: its isolate and code, beyond the Argon2id memory. */
  readonly fallbackKdfBytes: number;
  /**
   * A backup's main thread beyond the shares: tree blobs sealed there (fresh buffers and zstd's
   * context), the reused pack buffers' extra MiB, the sealed arena's slack, and its heap between two
   * collections. Measured on 2 GiB backups at small budgets: up to 11 MiB over the plan on Node 20;
   * on Node 24 a backup at 177M (12 MiB here) peaked 176.2 MiB, so 16 there.
   */
  readonly backupExtraBytes: number;
  /**
   * A restore's process beyond its shares on this major: measured at the minimum on a 2 GiB tree,
   * Node 20 peaked 121 and 131 MiB at 128M, Node 22 141 MiB at 138M, Node 24 142-147 MiB at 138M
   * and 144-154 MiB at 152M, 160 MiB at 158M: the plan at a restore's minimum is the same whatever
   * the extra, and Node 24's restores vary by ~20 MiB (141-160 MiB), so 26 MiB there (minimum 164).
   */
  readonly restoreExtraBytes: number;
}

/**
 * Measured on x86_64 (2 cores; docs/MEMORY.md "Per Node major") and rounded up. Node 20 is the
 * original calibration. Node 22 and 24 map a larger binary (+6 MiB resident), their isolates
 * take 2-4 MiB more per worker (fallback workers on 24 peaked up to 12 MiB more under load), and
 * the fallback's Argon2id thread costs ~15 MiB beyond its memory: with Node 20's figures a
 * backup at the planner's minimum peaked up to 6 MiB over it. A newer major uses the newest row
 * until it is measured (Node 26 stayed 7 MiB under at 24's minimum).
 */
export const FIXED_COSTS: readonly FixedCosts[] = [
  { nodeMajor: 20, baseProcessBytes: 64 * MiB, keyProcessBytes: 62 * MiB, workerBytes: 32 * MiB, workerFallbackBytes: 48 * MiB, fallbackKdfBytes: 10 * MiB, backupExtraBytes: 12 * MiB, restoreExtraBytes: 8 * MiB },
  { nodeMajor: 22, baseProcessBytes: 70 * MiB, keyProcessBytes: 68 * MiB, workerBytes: 36 * MiB, workerFallbackBytes: 52 * MiB, fallbackKdfBytes: 16 * MiB, backupExtraBytes: 12 * MiB, restoreExtraBytes: 8 * MiB },
  { nodeMajor: 24, baseProcessBytes: 70 * MiB, keyProcessBytes: 60 * MiB, workerBytes: 36 * MiB, workerFallbackBytes: 60 * MiB, fallbackKdfBytes: 28 * MiB, backupExtraBytes: 16 * MiB, restoreExtraBytes: 26 * MiB },
];

/**
 * The figures for a Node version: its major's, else the nearest lower major measured (a newer
 * Node than any measured gets the newest figures), else the oldest.
 */
export function fixedCostsFor(nodeVersion: string = process.versions.node): FixedCosts {
  const major = Number.parseInt(nodeVersion.replace(/^v/, ''), 10);
  const sorted = [...FIXED_COSTS].sort((a, b) => a.nodeMajor - b.nodeMajor);
  let pick = sorted[0]!;
  for (const c of sorted) if (Number.isInteger(major) && c.nodeMajor <= major) pick = c;
  return pick;
}

/** The running Node's figures. */
export const FIXED: FixedCosts = fixedCostsFor();
export const BASE_PROCESS_BYTES = FIXED.baseProcessBytes;
export function perWorkerBytes(fallback: boolean, segmentBytes: number, fixed: FixedCosts = FIXED): number {
  // Fallback primitives keep WebAssembly heaps per thread, which never shrink.
  return (fallback ? fixed.workerFallbackBytes : fixed.workerBytes) + 4 * segmentBytes;
}
const HEADROOM_SHARE = 0.25;
const MIN_PACK = 4 * MiB;
/**
 * Packs may be as small as 2 MiB when no worker fits (the smallest budgets): the sealed arena, the
 * open packs and the pack buffers all follow the pack size, and halving it lowers a backup's
 * minimum by 4-6 MiB (more objects in the repository: ~1,000 for 2 GiB; restic's smallest pack
 * size is 4 MiB, and its default 16).
 */
const MIN_PACK_INLINE = 2 * MiB;
/**
 * A restore writes no packs: its share of the plan is half the data share (restoreLimits), for
 * pack ranges and their plaintext, at least 8 MiB. The pack shares are only arithmetic there, so
 * they may be smaller: a restore's minimum is its process plus twice RESTORE_MIN_RANGE.
 */
const MIN_PACK_RESTORE = 1 * MiB;
/** The least restore gives the pack ranges in flight (restoreLimits' minRangeBudgetBytes). */
export const RESTORE_MIN_RANGE = 8 * MiB;

/**
 * How the off-heap index is opened within a budget: its page cache, and the memory a cold build
 * may use (the sort buffers and the index objects read at once; transient, before the pipeline
 * starts, so it borrows from the data shares).
 */
export function indexAllowance(budgetBytes: number, costs: FixedCosts = FIXED): { pageCacheBytes: number; sortMemBytes: number; readBytes: number } {
  const spare = Math.max(0, budgetBytes - costs.baseProcessBytes);
  const clamp = (v: number, lo: number, hi: number): number => Math.max(lo, Math.min(hi, Math.floor(v)));
  return { pageCacheBytes: clamp(budgetBytes / 64, 1 * MiB, 16 * MiB), sortMemBytes: clamp(spare / 6, 4 * MiB, 64 * MiB), readBytes: clamp(spare / 6, 4 * MiB, 64 * MiB) };
}

/** Fresh bytes read from a file per segment (the unit of work of one pool task, with the carried tail). */
export function segmentBytesFor(budgetBytes: number): number {
  // Bigger segments mean fewer round trips to the pool, but each worker holds a few of them.
  if (budgetBytes >= 768 * MiB) return 8 * MiB;
  if (budgetBytes >= 384 * MiB) return 4 * MiB;
  // Below 192 MiB a backup runs its tasks on the main thread (no worker fits): each segment held
  // there is one less MiB for the rest, and the read stage's minimum (two buffers of a segment
  // plus the largest chunk) drops by 2 MiB.
  if (budgetBytes >= 192 * MiB) return 2 * MiB;
  return 1 * MiB;
}

/** The plan for a budget with a given number of workers, or null when it cannot hold the minimum bounds. */
function planWith(input: PlannerInput, workers: number, segmentBytes: number): Plan | null {
  const costs = input.fixed ?? FIXED;
  if (input.budgetBytes < kdfFloor(input.kdfBytes, costs, input.fallback, input.keyDerivedEarly !== false)) return null;
  const index = input.index ?? { residentBytes: 0, pageCacheBytes: 0 };
  const command = input.command ?? 'backup';
  const extra = command === 'backup' ? costs.backupExtraBytes : command === 'restore' ? costs.restoreExtraBytes : 0;
  const threads = workers === 0 ? inlineTaskBytes(segmentBytes, input.maxChunkBytes, input.fallback, command) : workers * perWorkerBytes(input.fallback, segmentBytes, costs);
  const fixed = costs.baseProcessBytes + extra + threads + index.residentBytes + index.pageCacheBytes;
  const data = input.budgetBytes - fixed;
  const headroom = Math.floor(data * HEADROOM_SHARE);
  const usable = data - headroom;
  // Packs: the repository's target unless the budget cannot hold ten of them.
  const minPack = input.command === 'restore' ? MIN_PACK_RESTORE : workers === 0 ? MIN_PACK_INLINE : MIN_PACK;
  const packTarget = Math.min(input.packSizeBytes, Math.max(minPack, Math.floor(usable / 10)));
  let writesInFlight = Math.max(1, Math.min(4, Math.floor((usable * 0.25) / packTarget)));
  const readMin = minimumReadBytes(input, segmentBytes);
  // Fewer writes in flight when the read stage would not get its minimum (small budgets).
  while (writesInFlight > 1 && usable - (2 + 2 * writesInFlight) * packTarget < readMin) writesInFlight--;
  // Sealed blobs waiting in open packs (data and tree) and in packs being written: 40% of what is
  // usable, less when the read stage would get less than its minimum (small budgets), never less
  // than the open packs and the packs being written.
  const sealedMin = 2 * packTarget + writesInFlight * packTarget;
  const sealed = Math.max(sealedMin, Math.min(Math.floor(usable * 0.4), usable - writesInFlight * packTarget - readMin));
  // Each pack being written is also copied once into one contiguous buffer.
  const read = usable - sealed - writesInFlight * packTarget;
  if (read < readMin) return null;
  // A restore reads ranges of at least 8 MiB within half of this (restoreLimits).
  if (input.command === 'restore' && usable < 2 * RESTORE_MIN_RANGE) return null;
  const fileConcurrency = Math.max(2, Math.min(8, Math.floor(read / segmentBytes)));
  return { budgetBytes: input.budgetBytes, workers, fixedBytes: fixed, readBytes: read, sealedBytes: sealed, packTargetBytes: packTarget, writesInFlight, segmentBytes, fileConcurrency, headroomBytes: headroom, index };
}

/**
 * The least the read stage may get. A backup's segment pool holds at least two buffers, each a
 * segment plus room for the tail carried from the segment before (up to the largest chunk): at
 * the default 8 MiB chunks and 2 MiB segments, 20 MiB, whatever the budget (the archiver's
 * SegmentPool; before issue 15 the plan counted 4 MiB of it, and a 2 GiB backup at the minimum
 * budget peaked 20 MiB over it). Other commands read no segments.
 */
function minimumReadBytes(input: PlannerInput, segmentBytes: number): number {
  if ((input.command ?? 'backup') !== 'backup') return 2 * segmentBytes;
  return 2 * (input.maxChunkBytes + segmentBytes);
}

/**
 * Workers: one per core, as many as the budget allows while the data stages keep room of their
 * own (at least a quarter of what is left after the fixed part). When not even one worker fits,
 * none: the tasks run on the main thread (src/worker-pool/inline-tasks.ts), one core's speed for
 * a worker's 32-60 MiB of isolate and primitives (a backup's minimum went from 167-181 MiB to
 * 139-149, a restore's to the key's floor: docs/MEMORY.md).
 */
function tryPlan(input: PlannerInput): Plan | null {
  for (let workers = Math.max(1, input.cpus); workers >= 0; workers--) {
    // The budget's segment size, else smaller ones: a plan that fits must not fail for taking the
    // next size up (a larger budget would then be refused where a smaller one plans).
    for (let segmentBytes = segmentBytesFor(input.budgetBytes); segmentBytes >= MiB; segmentBytes /= 2) {
      const p = planWith(input, workers, segmentBytes);
      if (p && (workers <= 1 || p.readBytes + p.sealedBytes >= (input.budgetBytes - p.fixedBytes) / 4)) return p;
    }
  }
  return null;
}

/**
 * What the main thread holds beyond its own when it runs the tasks itself: one task's buffers, as
 * a worker's (perWorkerBytes' segments), and its envelope scratch: a compression and a
 * verification buffer that follow the largest chunk sealed (traced at 14 MiB on a 1 GiB backup at
 * 8 MiB chunks, kept for the run). Counting 4 MiB instead held 1 GiB backups but not 2 GiB ones:
 * at Node 22's minimum then (138M) five 2 GiB backups peaked 136-146 MiB. Its primitives are the
 * ones it loaded for the trees; the fallbacks' WebAssembly heaps there grow to the largest chunk
 * compressed and verified and never shrink: two more of them (without, Node 22 and 24 peaked 3 and
 * 6 MiB over).
 */
export function inlineTaskBytes(segmentBytes: number, maxChunkBytes: number, fallback: boolean, command: PlanCommand = 'backup'): number {
  // Other commands only open blobs, into their callers' buffers: one decryption scratch, and
  // restores at this share peaked 118-128 MiB at their minimums (126-132M) on 2 GiB.
  const scratch = command === 'backup' ? 2 * maxChunkBytes : 4 * MiB;
  return 4 * segmentBytes + scratch + (fallback ? 2 * maxChunkBytes : 0);
}

/**
 * Opening a repository runs Argon2id, whose memory (64 MiB at the default cost) is held while the
 * key is derived, before the pipeline starts: the budget must hold the process plus that too.
 */
export const KDF_BYTES = 64 * MiB;

/**
 * The least budget that derives the key: the process at that moment plus the Argon2id memory (and
 * the fallback's thread). Derived early (the CLI on a local repository), the process is the small
 * one of `keyProcessBytes`; otherwise the whole process, with 8 MiB to spare.
 */
export function kdfFloor(kdfBytes = KDF_BYTES, costs: FixedCosts = FIXED, fallback = false, early = true): number {
  const process = early ? costs.keyProcessBytes : costs.baseProcessBytes + 8 * MiB;
  return process + kdfBytes + (fallback ? costs.fallbackKdfBytes : 0);
}

export function minimumBudget(input: Omit<PlannerInput, 'budgetBytes'>): number {
  let mib = Math.ceil(kdfFloor(input.kdfBytes, input.fixed, input.fallback, input.keyDerivedEarly !== false) / MiB);
  while (!tryPlan({ ...input, budgetBytes: mib * MiB })) mib++;
  return mib * MiB;
}

/**
 * The default budget: half of the memory free now, at most a quarter of the machine and at most
 * 1 GiB (more buys little speed), never below the minimum.
 */
export function defaultBudget(totalMem: number, freeMem: number, input: Omit<PlannerInput, 'budgetBytes'>): number {
  return Math.max(minimumBudget(input), Math.min(1024 * MiB, Math.floor(totalMem / 4), Math.floor(freeMem / 2)));
}

export function plan(input: PlannerInput): Plan {
  const p = tryPlan(input);
  if (!p) {
    const min = minimumBudget(input);
    // When the key's Argon2id memory sets the floor, a key that costs less lowers it.
    const kdfBytes = input.kdfBytes ?? KDF_BYTES;
    const keyBound = min === Math.ceil(kdfFloor(kdfBytes, input.fixed, input.fallback, input.keyDerivedEarly !== false) / MiB) * MiB && kdfBytes > 16 * MiB;
    const lower = `${Math.max(8, Math.floor(kdfBytes / MiB / 2))}M`;
    throw new BudgetError(`--mem-budget ${formatBytes(input.budgetBytes)} is below the minimum of ${formatBytes(min)} this machine needs to run safely${keyBound ? ` (the key's Argon2id memory, ${Math.round(kdfBytes / MiB)} MiB, sets it)` : ''}`, {
      hint: `give --mem-budget ${Math.ceil(min / MiB)}M or more${keyBound ? `, or lower the floor with a cheaper key: \`engine key passwd --kdf-memory ${lower}\`` : ''}`,
      details: { minimumBytes: min },
    });
  }
  return p;
}

export function describePlan(p: Plan): string[] {
  const workersAndProcess = p.fixedBytes - p.index.residentBytes - p.index.pageCacheBytes;
  return [
    `memory budget ${formatBytes(p.budgetBytes)}:`,
    p.workers === 0 ? `  process, tasks on the main thread  ${formatBytes(workersAndProcess)}` : `  process and ${p.workers} worker thread(s)  ${formatBytes(workersAndProcess)}`,
    `  index filter and fences           ${formatBytes(p.index.residentBytes)}`,
    `  index page cache                  ${formatBytes(p.index.pageCacheBytes)}`,
    `  read → chunk → hash → seal queue  ${formatBytes(p.readBytes)} (segments of ${formatBytes(p.segmentBytes)}, ${p.fileConcurrency} files at once)`,
    `  sealed blobs → packs → store      ${formatBytes(p.sealedBytes)} (packs of ${formatBytes(p.packTargetBytes)}, ${p.writesInFlight} writes in flight)`,
    `  collector headroom                ${formatBytes(p.headroomBytes)}`,
  ];
}
