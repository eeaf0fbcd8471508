// The pipeline section of `engine bench` on a tiny corpus: every field present and sane. The steps
// run the compiled dist/ (as the worker pool does): `npm run build` first.
import { describe, expect, it } from 'vitest';
import { formatPipeline } from './report.js';
import { runPipelineBench } from './pipeline.js';
import { BACKUP_STAGES, RESTORE_STAGES, type PipelineStage } from './types.js';

const MiB = 1024 * 1024;
const STAGES: readonly string[] = [...BACKUP_STAGES, ...RESTORE_STAGES, 'cpu'];

describe('pipeline bench', () => {
  it('backs up and restores a tiny corpus and reports efficiency, RSS and stage ceilings', async () => {
    const policy = process.env.ENGINE_NATIVE === 'off' ? 'fallback' : 'auto';
    const started = Date.now();
    const p = await runPipelineBench({ policy, corpusBytes: 8 * MiB, budgetBytes: 256 * MiB });
    expect(Date.now() - started).toBeLessThan(60_000);
    expect(p.corpusBytes).toBeGreaterThan(7 * MiB);
    expect(p.budgetBytes).toBe(256 * MiB);
    expect(p.runs.map((r) => `${r.direction}/${r.backend}`).sort()).toEqual(['backup/local', 'backup/memory', 'restore/local', 'restore/memory']);
    for (const r of p.runs) {
      expect(r.mbps).toBeGreaterThan(0);
      expect(r.cpuSeconds).toBeGreaterThan(0);
      expect(r.peakRssBytes).toBeGreaterThan(0);
      expect(r.peakRssOverBudget).toBeGreaterThan(0);
      expect(r.efficiency).toBeGreaterThan(0);
      // The ceiling is the lower of the slowest stage and the cpu ceiling: never above either.
      expect(r.efficiency).toBeGreaterThanOrEqual(r.stageEfficiency);
      expect(r.cpuCeilingMbps).toBeGreaterThan(0);
      expect(STAGES).toContain(r.limitingStage);
      for (const u of Object.values(r.utilisation)) expect(u).toBeGreaterThanOrEqual(0);
      if (r.direction === 'restore') expect(r.bytes).toBe(p.corpusBytes);
    }
    for (const s of [p.backup, p.restore]) {
      expect(s.efficiency).toBeGreaterThan(0);
      expect(s.efficiency).toBeLessThanOrEqual(1.5);
      expect(STAGES).toContain(s.limitingStage as PipelineStage);
      expect(s.peakRssOverBudget).toBeGreaterThan(0);
    }
    expect([...BACKUP_STAGES, 'cpu']).toContain(p.backup.limitingStage);
    expect([...RESTORE_STAGES, 'cpu']).toContain(p.restore.limitingStage);
    expect(p.cores).toBeGreaterThan(0);
    const ceilings = [p.stages.backup.read, p.stages.backup.chunkHash, p.stages.backup.seal, p.stages.backup.store.memory, p.stages.backup.store.local, p.stages.restore.load.memory, p.stages.restore.load.local, p.stages.restore.unseal, p.stages.restore.write];
    for (const c of ceilings) {
      expect(c.mbps).toBeGreaterThan(0);
      expect(c.cpuSeconds).toBeGreaterThan(0);
    }
    expect(p.restoreOverBackup).toBeGreaterThan(0);
    expect(formatPipeline(p).join('\n')).toContain('stage ceilings');
  });
});
