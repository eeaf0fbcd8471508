// The memory planner: every share positive, the shares add up to exactly the budget, pack and
// worker limits respected, and budgets below the minimum refused with E_BUDGET naming it.
import { describe, expect, it } from 'vitest';
import { ErrorCode, isEngineError } from '../errors/engine-error.js';
import { formatBytes } from '../util/bytes.js';
import { BASE_PROCESS_BYTES, FIXED, FIXED_COSTS, type Plan, type PlannerInput, defaultBudget, describePlan, fixedCostsFor, inlineTaskBytes, kdfFloor, minimumBudget, perWorkerBytes, plan } from './planner.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

type Machine = Omit<PlannerInput, 'budgetBytes'>;

const machine = (cpus: number, fallback: boolean, packSizeBytes = 16 * MiB): Machine => ({ cpus, fallback, packSizeBytes, maxChunkBytes: 8 * MiB });

/** Budgets from `from` to 4 GiB: every MiB for the first 64 MiB, then coarser, plus odd byte counts. */
function budgets(from: number): number[] {
  const out: number[] = [];
  for (let b = from; b < from + 64 * MiB; b += MiB) out.push(b);
  for (let b = from + 64 * MiB; b < 1 * GiB; b += 7 * MiB + 12345) out.push(b);
  for (let b = 1 * GiB; b <= 4 * GiB; b += 97 * MiB + 1) out.push(b);
  out.push(4 * GiB);
  return out;
}

function checkPlan(p: Plan, input: PlannerInput): void {
  const label = `${JSON.stringify({ ...input, budgetMiB: input.budgetBytes / MiB })}`;
  // Every share is positive.
  // No worker is a plan too: the tasks then run on the main thread.
  expect(Number.isInteger(p.workers) && p.workers >= 0, `workers ${label}`).toBe(true);
  for (const k of ['fixedBytes', 'readBytes', 'sealedBytes', 'packTargetBytes', 'writesInFlight', 'segmentBytes', 'fileConcurrency', 'headroomBytes'] as const) {
    expect(p[k], `${k} ${label}`).toBeGreaterThan(0);
    expect(Number.isInteger(p[k]), `${k} ${label}`).toBe(true);
  }
  expect(p.budgetBytes).toBe(input.budgetBytes);
  // The shares add up to exactly the budget: fixed part, read queue, sealed blobs, the copy of each
  // pack being written, and the collector headroom.
  expect(p.fixedBytes + p.readBytes + p.sealedBytes + p.writesInFlight * p.packTargetBytes + p.headroomBytes, label).toBe(input.budgetBytes);
  const costs = input.fixed ?? FIXED;
  const backup = (input.command ?? 'backup') === 'backup';
  const extra = backup ? costs.backupExtraBytes : input.command === 'restore' ? costs.restoreExtraBytes : 0;
  const threads = p.workers === 0 ? inlineTaskBytes(p.segmentBytes, input.maxChunkBytes, input.fallback, input.command) : p.workers * perWorkerBytes(input.fallback, p.segmentBytes, costs);
  expect(p.fixedBytes, label).toBe(costs.baseProcessBytes + extra + threads);
  // Data stages hold at least the minimum bounds: two segments being read (a backup's each with
  // room for the largest chunk), two open packs plus the packs being written.
  expect(p.readBytes, label).toBeGreaterThanOrEqual(2 * p.segmentBytes + (backup ? 2 * input.maxChunkBytes : 0));
  expect(p.sealedBytes, label).toBeGreaterThanOrEqual((2 + p.writesInFlight) * p.packTargetBytes);
  expect(p.packTargetBytes, label).toBeLessThanOrEqual(input.packSizeBytes);
  expect(p.workers, label).toBeLessThanOrEqual(Math.max(1, input.cpus));
  // The collector headroom is a share of what the process and workers leave.
  expect(p.headroomBytes, label).toBeLessThan(input.budgetBytes - p.fixedBytes);
}

function budgetError(fn: () => unknown): { code: string; message: string; details: Record<string, unknown> | undefined } {
  try {
    fn();
  } catch (err) {
    expect(isEngineError(err)).toBe(true);
    const e = err as { code: string; message: string; details?: Record<string, unknown> };
    return { code: e.code, message: e.message, details: e.details };
  }
  throw new Error('expected plan() to throw');
}

describe('plan', () => {
  it.each([false, true])('single core (fallback %s): every budget from the minimum to 4 GiB plans within the budget', (fallback) => {
    const m = machine(1, fallback);
    const min = minimumBudget(m);
    for (const budgetBytes of budgets(min)) {
      const input = { ...m, budgetBytes };
      const p = plan(input);
      checkPlan(p, input);
      expect(p.workers).toBeLessThanOrEqual(1);
    }
    // The minimum has no worker: one would not fit.
    expect(plan({ ...m, budgetBytes: min }).workers).toBe(0);
  });

  it.each([
    [2, false],
    [4, false],
    [8, true],
    [16, false],
    [64, true],
  ] as const)('%i cores (fallback %s): budgets from 256 MiB to 4 GiB plan within the budget', (cpus, fallback) => {
    const m = machine(cpus, fallback);
    let maxWorkers = 0;
    for (const budgetBytes of budgets(256 * MiB)) {
      const input = { ...m, budgetBytes };
      const p = plan(input);
      checkPlan(p, input);
      maxWorkers = Math.max(maxWorkers, p.workers);
    }
    // 4 GiB gives a worker to each of up to 16 cores; the minimum budget none (the main thread).
    expect(plan({ ...m, budgetBytes: 4 * GiB }).workers).toBeGreaterThanOrEqual(Math.min(cpus, 16));
    expect(maxWorkers).toBeLessThanOrEqual(cpus);
    expect(plan({ ...m, budgetBytes: minimumBudget(m) }).workers).toBe(0);
  });

  it('packs stay at the repository target for every pack size from 4 MiB to 1 GiB', () => {
    for (const pack of [4 * MiB, 5 * MiB + 3, 16 * MiB, 64 * MiB, 128 * MiB, 1 * GiB]) {
      for (const cpus of [1, 4]) {
        const m = machine(cpus, false, pack);
        for (const budgetBytes of [minimumBudget(m), 512 * MiB, 1 * GiB, 4 * GiB]) {
          const input = { ...m, budgetBytes };
          checkPlan(plan(input), input);
        }
      }
    }
    // The repository target is used as is once the budget holds ten packs.
    expect(plan({ ...machine(1, false, 16 * MiB), budgetBytes: 2 * GiB }).packTargetBytes).toBe(16 * MiB);
  });

  it('describePlan names every share', () => {
    const p = plan({ ...machine(2, false), budgetBytes: 1 * GiB });
    const text = describePlan(p).join('\n');
    expect(text).toContain(formatBytes(p.budgetBytes));
    expect(text).toContain(`${p.workers} worker thread(s)`);
    expect(text).toContain(formatBytes(p.readBytes));
    expect(text).toContain(formatBytes(p.sealedBytes));
    expect(text).toContain(formatBytes(p.headroomBytes));
  });
});

describe('minimumBudget', () => {
  it.each([
    [1, false],
    [2, false],
    [8, false],
    [1, true],
    [4, true],
  ] as const)('plans at the minimum, and refuses far smaller budgets with E_BUDGET naming it (%i cores, fallback %s)', (cpus, fallback) => {
    const m = machine(cpus, fallback);
    const min = minimumBudget(m);
    expect(min % MiB).toBe(0);
    expect(min).toBeGreaterThan(BASE_PROCESS_BYTES);
    checkPlan(plan({ ...m, budgetBytes: min }), { ...m, budgetBytes: min });
    for (const below of [100 * MiB, 64 * MiB, 1 * MiB, 0]) {
      const e = budgetError(() => plan({ ...m, budgetBytes: below }));
      expect(e.code).toBe(ErrorCode.BUDGET);
      expect(e.message).toContain(formatBytes(min));
      expect(e.message).toContain('minimum');
      expect(e.details?.minimumBytes).toBe(min);
    }
  });

  it.each([
    [1, true],
    [2, true],
    [8, true],
  ] as const)('is the smallest whole-MiB budget that plans: one MiB less is refused (%i cores, fallback %s)', (cpus, fallback) => {
    const m = machine(cpus, fallback);
    const min = minimumBudget(m);
    for (const below of [min - MiB, min - 2 * MiB, min - 16 * MiB]) {
      const e = budgetError(() => plan({ ...m, budgetBytes: below }));
      expect(e.code).toBe(ErrorCode.BUDGET);
      expect(e.message).toContain(formatBytes(min));
      expect(e.details?.minimumBytes).toBe(min);
    }
  });

  it('fallback primitives need at least as much as native ones', () => {
    for (const cpus of [1, 2, 8]) expect(minimumBudget(machine(cpus, true))).toBeGreaterThanOrEqual(minimumBudget(machine(cpus, false)));
  });

  it('defaultBudget is between the minimum and 1 GiB, a quarter of the machine and half the free memory', () => {
    const m = machine(4, false);
    const min = minimumBudget(m);
    expect(defaultBudget(64 * GiB, 32 * GiB, m)).toBe(1 * GiB);
    expect(defaultBudget(2 * GiB, 2 * GiB, m)).toBe(512 * MiB);
    expect(defaultBudget(64 * GiB, 600 * MiB, m)).toBe(300 * MiB);
    expect(defaultBudget(256 * MiB, 100 * MiB, m)).toBe(min);
    for (const [total, free] of [[64 * GiB, 32 * GiB], [2 * GiB, 2 * GiB], [64 * GiB, 600 * MiB], [256 * MiB, 100 * MiB]] as const) {
      const b = defaultBudget(total, free, m);
      expect(b).toBeGreaterThanOrEqual(min);
      expect(b).toBeLessThanOrEqual(Math.max(min, 1 * GiB));
    }
  });
});

describe('planner regressions', () => {
  it('every budget from the minimum up is accepted on a 2-core machine (falling back to one worker)', () => {
    for (const fallback of [false, true]) {
      const m = machine(2, fallback);
      const min = minimumBudget(m);
      for (let b = min; b <= min + 128 * MiB; b += MiB / 4) expect(() => plan({ ...m, budgetBytes: b }), `${b / MiB} MiB`).not.toThrow();
    }
  });

  it('never plans packs larger than the repository pack size', () => {
    const p = plan({ ...machine(2, false, 1 * MiB), budgetBytes: 512 * MiB });
    expect(p.packTargetBytes).toBeLessThanOrEqual(1 * MiB);
  });

  it('refuses budgets below the Argon2id floor on one core too', () => {
    const m = machine(1, false);
    const min = minimumBudget(m);
    expect(() => plan({ ...m, budgetBytes: min - MiB })).toThrow(/below the minimum/);
    expect(min).toBeGreaterThanOrEqual(FIXED.keyProcessBytes + 64 * MiB);
  });

  it("names the key's Argon2id memory, and how to lower it, only when it sets the floor", () => {
    const restore = { ...machine(2, false), command: 'restore' as const, fixed: fixedCostsFor('v20.0.0') };
    // A 64 MiB key: Node 20's restore minimum is the key's floor.
    let keyBound: { message: string; hint?: string } = { message: '' };
    try {
      plan({ ...restore, budgetBytes: 100 * MiB });
    } catch (err) {
      keyBound = err as { message: string; hint?: string };
    }
    expect(keyBound.message).toContain("(the key's Argon2id memory, 64 MiB, sets it)");
    expect(keyBound.message).toMatch(/below the minimum of 126 MiB/);
    expect(keyBound.hint).toBe('give --mem-budget 126M or more, or lower the floor with a cheaper key: `engine key passwd --kdf-memory 32M`');
    // A cheap key: the plan sets the floor, and nothing is said of the key.
    const planBound = budgetError(() => plan({ ...restore, kdfBytes: 8 * MiB, budgetBytes: 60 * MiB }));
    expect(planBound.message).not.toContain('Argon2id');
  });
});

describe('the minimum per command', () => {
  const m = machine(2, false);

  it("a backup's read stage holds two segment buffers with room for the largest chunk, at every budget", () => {
    for (const maxChunkBytes of [1 * MiB, 8 * MiB, 16 * MiB]) {
      const input = { ...m, maxChunkBytes, command: 'backup' as const };
      const min = minimumBudget(input);
      for (let b = min; b <= min + 64 * MiB; b += MiB) {
        const p = plan({ ...input, budgetBytes: b });
        expect(p.readBytes).toBeGreaterThanOrEqual(2 * (maxChunkBytes + p.segmentBytes));
      }
    }
    // A larger chunk raises the backup's minimum.
    expect(minimumBudget({ ...m, maxChunkBytes: 16 * MiB })).toBeGreaterThan(minimumBudget({ ...m, maxChunkBytes: 8 * MiB }));
  });

  it('a restore needs no more than a backup, and every budget from its minimum plans', () => {
    for (const fallback of [false, true]) {
      const restore = { ...machine(2, fallback), command: 'restore' as const };
      const min = minimumBudget(restore);
      // Both may sit at the key's floor (the Argon2id phase), which is then the larger peak.
      expect(min).toBeLessThanOrEqual(minimumBudget({ ...machine(2, fallback), command: 'backup' }));
      expect(minimumBudget({ ...restore, kdfBytes: 8 * MiB })).toBeLessThan(minimumBudget({ ...machine(2, fallback), command: 'backup', kdfBytes: 8 * MiB }));
      expect(() => plan({ ...restore, budgetBytes: min - MiB })).toThrow(/below the minimum/);
      for (let b = min; b <= min + 64 * MiB; b += MiB) checkPlan(plan({ ...restore, budgetBytes: b }), { ...restore, budgetBytes: b });
    }
  });

  it('a key derived late (a remote repository: the whole process is loaded first) raises the floor', () => {
    for (const fixed of FIXED_COSTS) {
      expect(kdfFloor(64 * MiB, fixed, false, false)).toBeGreaterThan(kdfFloor(64 * MiB, fixed, false, true));
      const early = minimumBudget({ ...m, fixed, command: 'restore' });
      const late = minimumBudget({ ...m, fixed, command: 'restore', keyDerivedEarly: false, kdfBytes: 256 * MiB });
      expect(late).toBeGreaterThanOrEqual(fixed.baseProcessBytes + 8 * MiB + 256 * MiB);
      expect(late).toBeGreaterThan(early);
    }
  });
});

describe('the index share and the key derivation floor', () => {
  const base = { cpus: 2, packSizeBytes: 16 * MiB, maxChunkBytes: 8 * MiB, fallback: false };

  it('the index filters and page cache come out of the budget before the data shares, and are printed', () => {
    const without = plan({ ...base, budgetBytes: 512 * MiB });
    const index = { residentBytes: 21 * MiB, pageCacheBytes: 8 * MiB };
    const withIndex = plan({ ...base, budgetBytes: 512 * MiB, index });
    expect(withIndex.fixedBytes).toBe(without.fixedBytes + 29 * MiB);
    expect(withIndex.readBytes + withIndex.sealedBytes + withIndex.headroomBytes).toBeLessThan(without.readBytes + without.sealedBytes + without.headroomBytes);
    expect(withIndex.index).toEqual(index);
    const text = describePlan(withIndex).join('\n');
    expect(text).toContain('index filter and fences           21.0 MiB');
    expect(text).toContain('index page cache                  8.0 MiB');
    // A larger index raises the minimum (by less when fewer workers then fit), and the minimum plans.
    const min = minimumBudget({ ...base, index });
    expect(min).toBeGreaterThan(minimumBudget(base));
    expect(plan({ ...base, index, budgetBytes: min }).fixedBytes).toBeLessThan(min);
  });

  it("the floor follows the opening key's Argon2id memory", () => {
    const light = minimumBudget({ ...base, kdfBytes: 16 * MiB });
    const heavy = minimumBudget({ ...base, kdfBytes: 256 * MiB });
    expect(heavy).toBeGreaterThanOrEqual(FIXED.keyProcessBytes + 256 * MiB);
    expect(light).toBeLessThan(heavy);
    expect(() => plan({ ...base, kdfBytes: 256 * MiB, budgetBytes: heavy - MiB })).toThrow(/below the minimum/);
  });
});

describe('fixed costs per Node major', () => {
  const major = (v: string): number => fixedCostsFor(v).nodeMajor;

  it('a known major gets its own figures; an unknown one the nearest lower major measured, a newer one the newest, an older one the oldest', () => {
    const known = FIXED_COSTS.map((c) => c.nodeMajor).sort((a, b) => a - b);
    expect(known).toEqual([20, 22, 24]);
    expect(major('20.20.2')).toBe(20);
    expect(major('v22.15.0')).toBe(22);
    expect(major('24.21.0')).toBe(24);
    expect(major('21.7.3')).toBe(20);
    expect(major('23.11.1')).toBe(22);
    expect(major('26.10.0')).toBe(24);
    expect(major('31.0.0')).toBe(24);
    expect(major('18.20.0')).toBe(20);
    expect(FIXED).toBe(fixedCostsFor(process.versions.node));
    expect(BASE_PROCESS_BYTES).toBe(FIXED.baseProcessBytes);
  });

  it('newer majors cost at least as much as Node 20 in every part (measured in docs/MEMORY.md)', () => {
    const n20 = fixedCostsFor('20.0.0');
    for (const c of FIXED_COSTS) {
      // (Not keyProcessBytes: Node 24 derives the key with its own Argon2id, loading no library.)
      expect(c.baseProcessBytes).toBeGreaterThanOrEqual(n20.baseProcessBytes);
      expect(c.workerBytes).toBeGreaterThanOrEqual(n20.workerBytes);
      expect(c.workerFallbackBytes).toBeGreaterThan(c.workerBytes);
      expect(c.fallbackKdfBytes).toBeGreaterThanOrEqual(n20.fallbackKdfBytes);
    }
  });

  it.each(FIXED_COSTS.map((c) => [c.nodeMajor, c] as const))('Node %i: every budget from the minimum plans within it, with that major\'s fixed part; one MiB less is refused', (_major, fixed) => {
    for (const fallback of [false, true]) {
      for (const cpus of [1, 2]) {
        const m = { ...machine(cpus, fallback), fixed };
        const min = minimumBudget(m);
        // The floor holds the process, the key's Argon2id memory and, for the fallback, its thread.
        expect(min).toBeGreaterThanOrEqual(fixed.keyProcessBytes + 64 * MiB + (fallback ? fixed.fallbackKdfBytes : 0));
        expect(min).toBeGreaterThanOrEqual(kdfFloor(64 * MiB, fixed, fallback));
        expect(() => plan({ ...m, budgetBytes: min - MiB })).toThrow(/below the minimum/);
        for (let b = min; b <= min + 96 * MiB; b += MiB) {
          const input = { ...m, budgetBytes: b };
          checkPlan(plan(input), input);
        }
      }
    }
  });

  it("Node 24's minimum is above Node 20's (the 20 figures overshot it by up to 6 MiB there)", () => {
    for (const fallback of [false, true]) {
      const at = (v: string): number => minimumBudget({ ...machine(2, fallback), fixed: fixedCostsFor(v) });
      expect(at('24.0.0')).toBeGreaterThanOrEqual(at('20.0.0') + 6 * MiB);
      expect(at('22.0.0')).toBeGreaterThanOrEqual(at('20.0.0') + 6 * MiB);
    }
  });
});
