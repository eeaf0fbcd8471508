import { Checker, type PackSelection } from '../../check/checker.js';
import { UsageError } from '../../errors/engine-error.js';
import { formatBytes } from '../../util/bytes.js';
import { systemClock } from '../../util/clock.js';
import type { GlobalOptions } from '../context.js';
import { ExitCode } from '../exit-codes.js';
import { CheckVerdict, checkSummaryJson, findingJson } from '../json/check-json.js';
import type { Output } from '../output.js';
import { memoryPlan, openRepository } from '../session.js';
import { scratchFor } from '../scratch.js';
import { startPool } from '../../session/worker-pool.js';

export interface CheckFlags extends GlobalOptions {
  readData?: boolean;
  readDataSubset?: string;
  memBudget?: string;
}

/** `--read-data-subset`: `n/t` (the n-th of t groups of packs, by pack id) or `x%` (a random x% of them). */
export function parseSubset(text: string): PackSelection {
  const group = /^(\d+)\/(\d+)$/.exec(text);
  if (group) {
    const n = Number(group[1]);
    const of = Number(group[2]);
    if (of >= 1 && n >= 1 && n <= of) return { kind: 'group', n, of };
  }
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(text);
  if (pct) {
    const percent = Number(pct[1]);
    if (percent > 0 && percent <= 100) return { kind: 'percent', percent };
  }
  throw new UsageError(`--read-data-subset "${text}" is neither n/t nor x%`, { hint: 'give for example 1/5 (the first of five groups of packs: run 2/5 ... 5/5 on the next days) or 10% (a random tenth of the packs)' });
}

/**
 * The maintenance commands' test hook, inert unless ENGINE_TEST_HOOKS holds it (beside those of
 * cli/context.ts and backup's): `maint-pause=STAGE:MS` (several may be given, `;`-separated)
 * prints "test hook: paused at STAGE" and waits MS ms, deaf to signals like a slow step, the
 * first time the command reaches STAGE: check-index (the index loaded), check-read (a pack of
 * --read-data downloaded, not yet verified), prune-planned (what to delete and repack decided),
 * prune-repack (a pack to repack downloaded), prune-delete (the new index written, nothing
 * deleted yet), repair-index-scan (a pack header read), repair-snapshot (a rewritten snapshot's
 * trees stored, the snapshot not yet saved). Tests send a signal then (test/integration/abort-maintenance.test.ts).
 */
export function maintenancePause(): ((stage: string) => Promise<void>) | undefined {
  const pauses = new Map<string, number>();
  for (const h of process.env.ENGINE_TEST_HOOKS?.split(';') ?? []) {
    if (!h.startsWith('maint-pause=')) continue;
    const [stage, ms] = h.slice('maint-pause='.length).split(':');
    pauses.set(stage!, Number(ms));
  }
  if (pauses.size === 0) return undefined;
  return async (stage: string): Promise<void> => {
    const ms = pauses.get(stage);
    if (ms === undefined) return;
    // Once per stage: a stage reached in a loop pauses the first time only.
    pauses.delete(stage);
    process.stderr.write(`test hook: paused at ${stage}\n`);
    await new Promise((r) => setTimeout(r, ms));
  };
}

export async function checkCommand(flags: CheckFlags, out: Output, signal: AbortSignal): Promise<number> {
  if (flags.readData && flags.readDataSubset !== undefined) throw new UsageError('--read-data and --read-data-subset exclude each other', { hint: 'give one of them' });
  const readData: PackSelection | undefined = flags.readData ? { kind: 'all' } : flags.readDataSubset !== undefined ? parseSubset(flags.readDataSubset) : undefined;
  const started = systemClock.monotonicMs();
  // Without the local metadata cache: a good cached copy must not hide a damaged stored one.
  const session = await openRepository({ ...flags, cache: false }, out, { exclusive: false, command: 'check', signal });
  const plan = memoryPlan(session, flags.memBudget, out);
  const pool = readData ? startPool(session, plan.workers, false) : undefined;
  // --json: each finding one line on stderr (restic's error lines), the summary on stdout.
  const verdict = new CheckVerdict();
  const pause = maintenancePause();
  const checker = new Checker(session.repo, {
    ...(readData ? { readData } : {}),
    ...(pool ? { pool } : {}),
    // Each pack is held whole, and its plaintext, while the worker verifies it.
    packsInFlight: Math.max(1, Math.min(plan.workers + 1, Math.floor((plan.readBytes + plan.sealedBytes) / (3 * session.repo.config.packSizeBytes)))),
    signal,
    scratch: scratchFor(flags, plan.budgetBytes),
    ...(pause ? { pause } : {}),
    onProgress: (what) => out.info(what),
    onFinding: (f) => {
      verdict.add(f);
      if (out.json) process.stderr.write(`${JSON.stringify(findingJson(f))}\n`);
      else if (f.severity === 'error') out.result(`error: ${f.object}: ${f.message}`);
      else out.warn(`${f.object}: ${f.message}`);
    },
  });
  let summary;
  try {
    summary = await checker.run();
  } finally {
    await pool?.close();
  }
  const secs = (systemClock.monotonicMs() - started) / 1000;
  if (out.json) {
    out.data(checkSummaryJson(summary, verdict, secs));
  } else {
    const read = readData ? `, read ${summary.packsRead} pack(s), ${summary.blobsRead} blob(s), ${formatBytes(summary.bytesRead)}` : '';
    out.info(`checked ${summary.snapshots} snapshot(s), ${summary.trees} tree(s), ${summary.dataBlobs} data blob(s), ${summary.packs} pack(s), ${summary.indexObjects} index object(s), ${summary.keys} key file(s)${read} in ${secs.toFixed(1)} s`);
    out.result(summary.errors > 0 ? `${summary.errors} error(s) found${summary.warnings ? `, ${summary.warnings} warning(s)` : ''}: the repository is damaged` : `no errors were found${summary.warnings ? ` (${summary.warnings} warning(s))` : ''}`);
  }
  return summary.errors > 0 ? ExitCode.INTEGRITY : ExitCode.OK;
}
