// Property: over random histories of edits, backups, forgets and prunes (any --max-unused), prune
// never drops a blob that a remaining snapshot reaches. After every prune the repository passes
// `check --read-data`, and every remaining snapshot restores the files it was taken of.
// Real classes on an in-memory repository; run `npm run build` first (the pool runs dist/workers).
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadPrimitives } from '../../native-bindings/index.js';
import type { PrimitiveName } from '../../native-bindings/types.js';
import { backupWithRealClasses } from '../../test/support/library-backup.js';
import { MemoryBackend } from '../backend/memory/memory-backend.js';
import { Checker, type Finding } from '../check/checker.js';
import { planMemory, restoreLimits } from '../session/memory-plan.js';
import type { OpenSession } from '../session/open-session.js';
import { startPool } from '../session/worker-pool.js';
import type { SnapshotId } from '../format/ids.js';
import type { Plan } from '../memory/planner.js';
import type { WorkerPool } from '../worker-pool/pool.js';
import { Repository } from '../repository/repository.js';
import { Restorer } from '../restorer/restorer.js';
import { Pruner } from './pruner.js';
import { IndexedRepository } from '../repository/indexed-repository.js';

const SLOTS = 5;
/** Contents a slot can take: shared between slots and generations, so blobs are deduplicated. */
function content(key: number): Buffer {
  // 40 KiB to ~1.4 MiB: one chunk or several (the minimum chunk is 512 KiB); several files share
  // a 4 MiB pack, so forgetting some makes partly used packs.
  const size = 40 * 1024 + ((key * 337_000) % (1400 * 1024));
  const out = Buffer.alloc(size);
  let x = key * 2654435761 + 1;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.writeInt32LE(x | 0, i - (i + 4 > size ? i + 4 - size : 0));
  }
  return out;
}

type Op = { kind: 'edit'; slot: number; key: number | null } | { kind: 'backup' } | { kind: 'forget'; pick: number } | { kind: 'prune'; maxUnused: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('edit' as const), slot: fc.integer({ min: 0, max: SLOTS - 1 }), key: fc.option(fc.integer({ min: 1, max: 8 }), { nil: null }) }) },
  { weight: 3, arbitrary: fc.constant({ kind: 'backup' as const }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('forget' as const), pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('prune' as const), maxUnused: fc.constantFrom(0, 0.05, 0.5) }) },
);

describe('prune over random histories', () => {
  let work: string;
  let pool: WorkerPool;
  let plan: Plan;
  let base: Omit<OpenSession, 'repo' | 'remote'> & { remote: false };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'engine-prune-prop-'));
    const policy = process.env.ENGINE_NATIVE === 'off' ? 'fallback' : 'auto';
    const { primitives, report } = await loadPrimitives(policy);
    const chosen = Object.fromEntries(report.map((r) => [r.primitive, r.chosen])) as Record<PrimitiveName, string>;
    base = { remote: false, chosen, fallback: policy === 'fallback', indexCacheDir: null };
    // One pool for every history: its keys must be the repository's, so each history's repository
    // is created from one master key (a fresh MemoryBackend each time, the same password and key file).
    templateBackend = new MemoryBackend('prop');
    const repo = await Repository.init(templateBackend, primitives, new TextEncoder().encode('pw'), { kdf: { t: 1, mKiB: 8, p: 1 }, packSizeBytes: 4 * 1024 * 1024 });
    const session = { repo, ...base };
    plan = planMemory(session, 256 * 1024 * 1024);
    pool = startPool(session, plan.workers, true);
    template = repo;
  }, 60_000);

  let template: Repository;
  let templateBackend: MemoryBackend;

  afterAll(async () => {
    await pool?.close();
    await rm(work, { recursive: true, force: true });
  });

  /** A fresh repository sharing the template's keys (a copy of its config and key file). */
  async function freshRepository(): Promise<Repository> {
    const backend = new MemoryBackend('history');
    for (const prefix of ['keys/']) for await (const o of templateBackend.list(prefix)) await backend.save(o.name, await templateBackend.load(o.name));
    await backend.save('config', await templateBackend.load('config'));
    return Repository.open(backend, template.p, new TextEncoder().encode('pw'));
  }

  it('never loses a blob a remaining snapshot reaches', async () => {
    let run = 0;
    // The histories must exercise prune for real: deletions, repacks and restores, summed over runs.
    const seen = { deleted: 0, repacked: 0, restored: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 4, maxLength: 14 }), async (ops) => {
        run++;
        const repo = await freshRepository();
        const session = { repo, ...base };
        const src = join(work, `run-${run}`, 'src');
        await mkdir(src, { recursive: true });
        const slots: (number | null)[] = Array.from({ length: SLOTS }, () => null);
        const snapshots: { id: SnapshotId; files: Map<string, string> }[] = [];
        let time = Date.parse('2026-01-01T00:00:00Z');
        // Every history starts with a backup of every slot (one pack holding several files), so that
        // later edits and forgets leave packs partly used: the case repacking exists for.
        const start: Op[] = [...Array.from({ length: SLOTS }, (_, slot): Op => ({ kind: 'edit', slot, key: slot + 1 })), { kind: 'backup' }];
        for (const op of [...start, ...ops, { kind: 'prune', maxUnused: 0 } as Op]) {
          if (op.kind === 'edit') {
            slots[op.slot] = op.key;
            const path = join(src, `slot-${op.slot}`);
            if (op.key === null) await rm(path, { force: true });
            else await writeFile(path, content(op.key));
          } else if (op.kind === 'backup') {
            time += 3_600_000;
            const id = await backupWithRealClasses(session, pool, plan, [src], { time: new Date(time) });
            const files = new Map<string, string>();
            for (const name of await readdir(src)) files.set(name, sha(await readFile(join(src, name))));
            snapshots.push({ id, files });
          } else if (op.kind === 'forget') {
            if (snapshots.length === 0) continue;
            const [gone] = snapshots.splice(op.pick % snapshots.length, 1);
            await repo.removeSnapshot(gone!.id);
          } else {
            const st = await new Pruner(repo, { maxUnused: op.maxUnused, dryRun: false, pool: () => pool, packTargetBytes: plan.packTargetBytes, sealedBytes: plan.sealedBytes, writesInFlight: plan.writesInFlight }).run();
            seen.deleted += st.packsDeleted;
            seen.repacked += st.packsRepacked;
            const findings: Finding[] = [];
            await new Checker(repo, { readData: { kind: 'all' }, pool, onFinding: (f) => findings.push(f) }).run();
            expect(findings.filter((f) => f.severity === 'error')).toEqual([]);
          }
        }
        // Every remaining snapshot restores what it was taken of.
        const index = await repo.loadIndex();
        for (const [i, s] of snapshots.entries()) {
          const target = join(work, `run-${run}`, `restore-${i}`);
          const snap = await repo.loadSnapshot(s.id);
          const restorer = new Restorer(new IndexedRepository(repo, index), pool, { include: [], ...restoreLimits(session, plan), restoreOwnership: false, onProblem: (pr) => expect.fail(`${pr.path}: ${pr.message}`) });
          await restorer.run(await repo.loadTree(index, snap.tree), target);
          const got = new Map<string, string>();
          for (const name of await readdir(join(target, src))) got.set(name, sha(await readFile(join(target, src, name))));
          expect(got).toEqual(s.files);
          seen.restored++;
        }
        // After the final prune at 0%, nothing unused is left but pack headers.
        const final = await new Pruner(repo, { maxUnused: 0, dryRun: true, pool: () => pool, packTargetBytes: plan.packTargetBytes, sealedBytes: plan.sealedBytes, writesInFlight: plan.writesInFlight }).run();
        expect(final.packsDeleted + final.packsRepacked + final.strayPacksDeleted).toBe(0);
        await rm(join(work, `run-${run}`), { recursive: true, force: true });
      }),
      { numRuns: 25 },
    );
    expect(seen, 'packs deleted, repacked and snapshots restored over all histories').toMatchObject({ deleted: expect.any(Number) as number });
    expect(seen.deleted, 'packs deleted').toBeGreaterThan(0);
    expect(seen.repacked, 'packs repacked').toBeGreaterThan(0);
    expect(seen.restored, 'snapshots restored').toBeGreaterThan(10);
  }, 300_000);
});

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}
