// The memory promise of DESIGN.md "Memory whatever the repository size", guarded in CI at a small
// scale: a repository whose index holds 200,000 blobs (synthetic index objects written with the
// real keys and format) is backed up into, restored and listed through the real CLI, each step in
// a fresh process under --mem-budget, by the same harness as `npm run bench:scale` (the 1M and 10M
// figures are in docs/MEMORY.md).
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseArgs, runScale } from '../../bench/scale.js';
import { currentNative } from '../support/cli.js';

const native = currentNative();
const MiB = 1024 * 1024;

describe(`scale (ENGINE_NATIVE=${native})`, () => {
  it('200,000 indexed blobs: every step under the budget, the index resident at about 2 bytes a blob, a warm open reading no index object', async () => {
    const budget = 192 * MiB;
    const args = parseArgs(['--blobs', '200000', '--mem-budget', '192M', '--data', '24M', '--lookups', '5000', '--work-dir', join(tmpdir(), `engine-scale-test-${native}-${process.pid}`)]);
    const r = await runScale(args, () => undefined);
    expect(r.steps.map((s) => s.name)).toEqual(['backup-initial', 'backup-incremental', 'restore', 'snapshots', 'index-open-warm', 'index-open-cold']);
    for (const s of r.steps) {
      expect(s.peakRssBytes, s.name).toBeGreaterThan(32 * MiB);
      expect(s.peakRssBytes, s.name).toBeLessThan(budget);
    }
    const warm = r.steps.find((s) => s.name === 'index-open-warm')!;
    const cold = r.steps.find((s) => s.name === 'index-open-cold')!;
    expect(warm).toMatchObject({ kind: 'warm', indexObjectsRead: 0, indexObjectsLoaded: 0 });
    // A cold open reads each index object once (two are the backups' own, beside the synthetic two).
    expect(cold).toMatchObject({ kind: 'cold', indexObjectsRead: cold.indexObjectsLoaded });
    expect(Number(cold.entries)).toBeGreaterThanOrEqual(200_000);
    // What stays in memory per blob: the filter (2 bytes) and the fences.
    expect(r.indexResidentBytes / 200_000).toBeLessThan(2.5);
    expect(r.indexResidentBytes / 200_000).toBeGreaterThan(1.9);
    // Resident memory measured: far from the hundreds of bytes per blob of an index on the heap
    // (at this small N the bounded parts, a few hundred KiB, still show: 4 bytes is met at 10M).
    expect(r.bytesPerBlob).toBeLessThan(16);
    // The first backup built the cache cold, from every index object.
    const first = r.steps[0]!.index as { open: string; indexObjectsRead: number };
    expect(first).toMatchObject({ open: 'cold', indexObjectsRead: 2 });
    expect(r.lookupsPerSecond.present).toBeGreaterThan(0);
  }, 300_000);
});
