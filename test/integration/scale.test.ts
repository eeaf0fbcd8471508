// The memory promise of DESIGN.md "Memory whatever the repository size", guarded in CI at a small
// scale: a repository of 200,000 real synthetic data blobs (bench/scale-synth.ts: real packs, index
// objects, chunked trees and 10 snapshots, written with the real keys and format) is backed up
// into, restored, listed, checked, forgotten from, pruned and repaired through the real CLI, each
// step in a fresh process under --mem-budget, by the same harness as `npm run bench:scale` (the 1M
// and 10M figures are in docs/MEMORY.md).
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseArgs, runScale, type ScaleStep } from '../../bench/scale.js';
import { currentNative } from '../support/cli.js';

const native = currentNative();
const MiB = 1024 * 1024;

/** The steps that ran before the maintenance commands: under the budget since issue 13. */
const PIPELINE_STEPS = ['backup-initial', 'backup-incremental', 'restore', 'restore-delete-verify', 'snapshots', 'index-open-warm', 'index-open-cold'];
/** The maintenance commands on the synthetic history, in the order the harness runs them. */
const MAINTENANCE_STEPS = ['stats', 'ls', 'restore-include-dry-run', 'find', 'rewrite-dry-run', 'dump', 'serve-webdav', 'copy', 'copy-again', 'diff', 'check', 'check-read-data-subset', 'forget', 'prune', 'check-after-prune', 'repair-index', 'backup-after-repair'];
/**
 * The maintenance steps that must be under the budget (240 MiB at 200,000 blobs). Those missing
 * still load every index entry onto the heap (src/repository/master-index.ts) or keep sets of
 * every blob seen (issue 15): add each one here as it moves to the off-heap index.
 */
const MAINTENANCE_STEPS_WITHIN_BUDGET = ['stats', 'ls', 'restore-include-dry-run', 'find', 'rewrite-dry-run', 'dump', 'serve-webdav', 'copy', 'copy-again', 'diff', 'check', 'check-read-data-subset', 'forget', 'prune', 'check-after-prune', 'repair-index', 'backup-after-repair'];

describe(`scale (ENGINE_NATIVE=${native})`, () => {
  it('200,000 synthetic blobs: every command runs, the budgeted steps stay under it, the index resident at about 2 bytes a blob, prune deletes and repacks', async () => {
    // Above every Node major's and both primitives' backup minimum (206 MiB: Node 24 with the
    // fallbacks, docs/MEMORY.md "Per Node major"), so that every step runs everywhere CI runs.
    const budget = 240 * MiB;
    const args = parseArgs(['--blobs', '200000', '--mem-budget', '240M', '--data', '24M', '--lookups', '5000', '--work-dir', join(tmpdir(), `engine-scale-test-${native}-${process.pid}`)]);
    const r = await runScale(args, () => undefined);
    expect(r.steps.map((s) => s.name)).toEqual([...PIPELINE_STEPS, ...MAINTENANCE_STEPS]);
    const step = (name: string): ScaleStep => r.steps.find((s) => s.name === name)!;
    for (const s of r.steps) {
      // Every command exited 0 (the harness throws on any other exit but a planner's refusal).
      expect(s, s.name).not.toHaveProperty('refused');
      expect(s, s.name).not.toHaveProperty('skipped');
      expect(s.exitCode ?? 0, s.name).toBe(0);
      expect(s.peakRssBytes, s.name).toBeGreaterThan(32 * MiB);
    }
    for (const name of [...PIPELINE_STEPS, ...MAINTENANCE_STEPS_WITHIN_BUDGET]) expect(step(name).peakRssBytes, name).toBeLessThan(budget);

    const warm = step('index-open-warm');
    const cold = step('index-open-cold');
    expect(warm).toMatchObject({ kind: 'warm', indexObjectsRead: 0, indexObjectsLoaded: 0 });
    // A cold open reads each index object once (the synthesis's and the two backups').
    expect(cold).toMatchObject({ kind: 'cold', indexObjectsRead: r.synthetic.indexObjects + 2, indexObjectsLoaded: r.synthetic.indexObjects + 2 });
    expect(Number(cold.entries)).toBeGreaterThan(200_000);
    // What stays in memory per blob: the filter (2 bytes) and the fences.
    expect(r.indexResidentBytes / Number(cold.entries)).toBeLessThan(2.5);
    expect(r.indexResidentBytes / Number(cold.entries)).toBeGreaterThan(1.9);
    // Resident memory measured: far from the hundreds of bytes per blob of an index on the heap
    // (at this small N the bounded parts, a few hundred KiB, still show: 4 bytes is met at 10M).
    // It is the difference of two processes' peaks, 3-4 MiB here, so the collector's timing moves
    // it by a few bytes a blob: 18.3 once in CI with the suite running beside it. The bound keeps
    // an order of magnitude below a heap index (~330 bytes a blob); the exact 2 bytes a blob of
    // the filter is checked just above, from the index's own count.
    expect(r.bytesPerBlob).toBeLessThan(32);
    // The first backup built the cache cold, from every index object of the synthesis.
    expect(step('backup-initial').index).toMatchObject({ open: 'cold', index_objects_read: r.synthetic.indexObjects });
    expect(r.lookupsPerSecond.present).toBeGreaterThan(0);

    // The synthetic history as the commands see it: 10 snapshots beside the two backups.
    expect(r.synthetic.layout).toMatchObject({ blobs: 200_000, files: 2000, dirs: 12 });
    expect(step('snapshots').snapshots).toBe(12);
    expect(step('stats')).toMatchObject({ snapshots_count: 12 });
    expect(Number(step('stats').data_blobs)).toBeGreaterThan(200_000);
    expect(step('ls').lines).toBeGreaterThan(1000);
    // '*7' matches the names ending in 7: a tenth of the synthetic files, give or take.
    expect(Number(step('restore-include-dry-run').files)).toBeGreaterThan(50);
    expect(Number(step('restore-include-dry-run').files)).toBeLessThan(1000);
    // '*77': a hundredth of the files, in each of the 12 snapshots that hold them.
    expect(Number(step('find').hits)).toBeGreaterThan(0);
    expect(Number(step('rewrite-dry-run').rewritten)).toBeGreaterThan(0);
    expect(Number(step('dump').tarBytes)).toBeGreaterThan(1024 * 1024);
    // serve --webdav while a client lists every folder of a snapshot and reads a tenth of its files.
    expect(Number(step('serve-webdav').folders)).toBeGreaterThan(10);
    expect(Number(step('serve-webdav').files)).toBeGreaterThan(100);
    expect(Number(step('serve-webdav').bytes)).toBeGreaterThan(0);
    // copy into a repository with its own keys: every blob of the snapshot named again and stored.
    expect(step('copy')).toMatchObject({ copied: 1 });
    expect(Number(step('copy').blobsAdded)).toBeGreaterThan(10_000);
    expect(step('copy-again')).toMatchObject({ copied: 0, blobsAdded: 0 });
    expect(Number(step('diff').added)).toBeGreaterThan(0);
    expect(Number(step('diff').removed)).toBeGreaterThan(0);
    expect(step('check')).toMatchObject({ num_errors: 0, num_warnings: 0, snapshots: 12 });
    expect(Number(step('check-read-data-subset').packs_read)).toBeGreaterThan(0);
    expect(step('check-read-data-subset')).toMatchObject({ num_errors: 0 });
    expect(step('forget').removed).toBe(3);
    // Prune deletes the wholly unused packs and repacks the half-used ones.
    const prune = step('prune');
    expect(Number(prune.packsDeleted)).toBeGreaterThan(0);
    expect(Number(prune.packsRepacked)).toBeGreaterThan(0);
    expect(Number(prune.blobsRepacked)).toBeGreaterThan(0);
    expect(step('check-after-prune')).toMatchObject({ num_errors: 0, num_warnings: 0, snapshots: 9 });
    expect(Number(step('repair-index').blobs)).toBeGreaterThan(0);
    expect(['warm', 'incremental', 'cold']).toContain((step('backup-after-repair').index as { open: string }).open);
  }, 300_000);
});
