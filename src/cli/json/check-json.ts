// `engine check --json` in restic's shapes (cmd/restic/cmd_check.go): each problem one line on
// stderr, {"message_type":"error","message":...} (a warning: "warning"), and one summary line on
// stdout, {"message_type":"summary","num_errors","broken_packs","suggest_repair_index",
// "suggest_prune"}, followed by engine's own figures in snake_case. The schema is
// docs/json/check.schema.json; docs/json/check.md says what differs from restic.
import type { CheckSummary, Finding } from '../../check/checker.js';
import type { PackId } from '../../format/ids.js';

/** What the findings add up to for the summary: the damaged packs and restic's two hints. */
export class CheckVerdict {
  private readonly broken = new Set<PackId>();
  suggestRepairIndex = false;
  suggestPrune = false;

  add(f: Finding): void {
    if (f.brokenPack) this.broken.add(f.brokenPack);
    if (f.hint === 'repair-index') this.suggestRepairIndex = true;
    if (f.hint === 'prune') this.suggestPrune = true;
  }

  /** The damaged packs' ids, sorted. */
  get brokenPacks(): PackId[] {
    return [...this.broken].sort();
  }
}

/** A finding as restic's error line (a warning as engine's warning line), with the object at fault. */
export function findingJson(f: Finding): Record<string, unknown> {
  return { message_type: f.severity, message: `${f.object}: ${f.message}`, object: f.object };
}

/** restic's check summary, then engine's own figures. */
export function checkSummaryJson(s: CheckSummary, verdict: CheckVerdict, durationSeconds: number): Record<string, unknown> {
  return {
    message_type: 'summary',
    num_errors: s.errors,
    broken_packs: verdict.brokenPacks,
    suggest_repair_index: verdict.suggestRepairIndex,
    suggest_prune: verdict.suggestPrune,
    // engine's own
    num_warnings: s.warnings,
    keys: s.keys,
    index_objects: s.indexObjects,
    packs: s.packs,
    unreferenced_packs: s.unreferencedPacks,
    snapshots: s.snapshots,
    trees: s.trees,
    data_blobs: s.dataBlobs,
    packs_read: s.packsRead,
    blobs_read: s.blobsRead,
    bytes_read: s.bytesRead,
    duration_seconds: durationSeconds,
  };
}
