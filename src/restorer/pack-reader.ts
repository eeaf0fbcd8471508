// The pack reader of a restore: takes the plan batch by batch, reads each pack's needed blobs in
// coalesced ranges (several in flight, within a byte budget), has the worker pool decrypt,
// decompress and verify them, and hands the good ones to the file writer. A blob that fails, or a
// pack that cannot be read, is planned again from its next indexed copy; with none left, the
// files that need it are named as damaged (exit 4). Storage that does not answer ends the restore.
import type { PackId } from '../format/ids.js';
import { ByteBudget, Concurrency } from '../util/concurrency.js';
import type { WorkerPool } from '../worker-pool/pool.js';
import type { BusyMeter } from '../util/busy-meter.js';
import type { Repository } from '../repository/repository.js';
import { UnsealStatus } from '../../workers/protocol.js';
import { ErrorCode, isEngineError } from '../errors/engine-error.js';
import { isNotFound } from '../backend/errors.js';
import { noteDropped } from '../util/gc.js';
import { SharedArena } from '../util/shared-arena.js';
import type { FileWriter } from './file-writer.js';
import type { PlanBatch, PlannedBlob } from './jobs.js';
import type { RestoreOptions } from './options.js';
import type { RestorePlan } from './plan.js';

const COALESCE_GAP = 1024 * 1024;

export interface PackReaderParts {
  readonly repo: Repository;
  readonly pool: WorkerPool;
  readonly opts: RestoreOptions;
  readonly plan: RestorePlan;
  readonly writer: FileWriter;
  /** Time with at least one pack read in flight (for `engine bench`). */
  readonly loadBusy: BusyMeter;
  readonly signal: AbortSignal;
  /** A range failed: planning, which waits for files to complete, is stopped. */
  readonly fail: (err: unknown) => void;
}

export class PackReader {
  private readonly p: PackReaderParts;
  /** Batches of the plan read (for tests). */
  batchesRead = 0;

  constructor(parts: PackReaderParts) {
    this.p = parts;
  }

  /** Reads every batch of the plan until planning is over and no range is left in flight. */
  async readPacks(): Promise<void> {
    const { opts, plan } = this.p;
    // The ranges in flight get what the plan's share leaves.
    const budget = new ByteBudget('restore', Math.max(opts.minRangeBudgetBytes, opts.readBudgetBytes - plan.budget.capacity));
    // Several ranges fit in the budget at once, so the pool decrypts some while others are written.
    const maxNeed = Math.min(opts.maxRangeBytes, Math.floor(budget.capacity / opts.rangesPerBudget));
    // Where the workers open the blobs: a range's result (its statuses and plaintext) is below its
    // lease on the budget, so an arena as large as the budget holds every result in flight.
    const arena = new SharedArena(budget.capacity);
    const limit = new Concurrency(opts.readsInFlight);
    const jobs = new Set<Promise<void>>();
    let failure: unknown = null;
    try {
      batches: for (let batch = await plan.nextBatch(); batch; batch = await plan.nextBatch()) {
        this.batchesRead++;
        for (const [packId, blobs] of batch) {
          for (const range of coalesce([...blobs.values()], maxNeed)) {
            // The bytes read and their plaintext (larger than the stored bytes when they were compressed).
            const plain = range.blobs.reduce((t, b) => t + b.rawLength, 0);
            const need = range.end - range.start + plain;
            await budget.acquire(need, this.p.signal);
            if (failure) {
              budget.release(need);
              break batches;
            }
            plan.rangeStarted();
            let placed = false;
            const job = limit
              .run(async () => {
                placed = await this.restoreRange(packId, range, arena);
              })
              .catch((err: unknown) => {
                failure ??= err;
                // Planning waits for files to complete, which they no longer will.
                this.p.fail(err);
              })
              .finally(() => {
                budget.release(need);
                // Only the plaintext is garbage here (and not when it was opened into the arena):
                // the bytes read went to a worker, which frees them after its task.
                if (!placed) noteDropped(plain);
                jobs.delete(job);
                // The reader may be waiting for the last ranges (and the retries they plan).
                plan.rangeSettled();
              });
            jobs.add(job);
          }
          batch.delete(packId);
        }
      }
    } finally {
      // Ranges in flight settle before the caller goes on (or reports), even after an abort.
      await Promise.all(jobs);
    }
    if (failure) throw failure;
  }

  /** Restores one range; true when its plaintext was opened into the arena (no garbage left). */
  private async restoreRange(packId: PackId, range: { start: number; end: number; blobs: PlannedBlob[] }, arena: SharedArena): Promise<boolean> {
    const { plan, writer, opts } = this.p;
    let bytes: Uint8Array;
    try {
      bytes = await this.p.loadBusy.track(this.p.repo.packs.loadRange(packId, { offset: range.start, length: range.end - range.start }));
    } catch (err) {
      // A pack that is gone or shorter than the index says is damage to the repository: the
      // files that need it are named (exit 4). Storage that does not answer (after the retries)
      // ends the restore instead (exit 13): running it again may well succeed.
      // Before that, each blob is read from its next indexed copy, if any.
      if (!isNotFound(err) && !isEngineError(err, ErrorCode.INTEGRITY)) throw err;
      const why = `cannot read pack ${packId}: ${err instanceof Error ? err.message : String(err)}`;
      if (plan.packFailed(packId)) {
        if (range.blobs.some((b) => plan.nextLocation(b, packId) !== undefined)) opts.onRepositoryNotice?.(`${why}; its blobs are read from the other packs that hold them`);
      }
      const retries: PlanBatch = new Map();
      const done = range.blobs.filter((b) => !plan.replan(b, packId, why, retries));
      plan.queueRetries(retries);
      await writer.settle(done);
      return false;
    }
    const input = {
      packBytes: bytes,
      blobs: range.blobs.map((b) => ({ offset: b.offset - range.start, length: b.length, rawLength: b.rawLength, id: b.id })),
    };
    const region = arena.alloc(4 + 8 * input.blobs.length + input.blobs.reduce((t, b) => t + b.rawLength, 0));
    try {
      let out: Uint8Array;
      if (region) {
        await this.p.pool.unsealInto(input, region.bytes);
        out = region.bytes;
      } else {
        out = new Uint8Array(await this.p.pool.unseal(input));
      }
      await this.writeOpened(packId, range, out);
    } finally {
      // The files' writes have all settled (writeOpened waits for them): the plaintext is free.
      if (region) arena.release(region.offset, region.bytes.length);
    }
    return region !== null;
  }

  /** Hands the blobs an unseal opened (`out`: its result layout) to the writer, or plans them again. */
  private async writeOpened(packId: PackId, range: { blobs: PlannedBlob[] }, out: Uint8Array): Promise<void> {
    const { plan, writer, opts } = this.p;
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    const n = view.getUint32(0, true);
    let pos = 4 + 8 * n;
    const writes: Promise<void>[] = [];
    const retries: PlanBatch = new Map();
    const done: PlannedBlob[] = [];
    for (let i = 0; i < n; i++) {
      const status = view.getUint32(4 + 8 * i, true);
      const len = view.getUint32(8 + 8 * i, true);
      const blob = range.blobs[i]!;
      if (status !== UnsealStatus.OK) {
        const why = `blob ${blob.id} in pack ${packId} is damaged (${status === UnsealStatus.AUTH_FAILED ? 'authentication failed' : status === UnsealStatus.ID_MISMATCH ? 'content does not match its id' : 'cannot be decoded'})`;
        if (plan.replan(blob, packId, why, retries)) opts.onRepositoryNotice?.(`${why}; it is read from another pack that holds it`);
        else done.push(blob);
        continue;
      }
      done.push(blob);
      const plain = out.subarray(pos, pos + len);
      pos += len;
      writes.push(...writer.writeBlob(blob, plain));
    }
    plan.queueRetries(retries);
    // Every write settles before the range does, even when one fails: the restore closes the
    // files' descriptors once the ranges are settled, and a write still in flight on a closed
    // descriptor could land in whatever file reuses its number.
    const settled = await Promise.allSettled(writes);
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    await writer.settle(done);
  }
}

/**
 * Groups a pack's needed blobs into ranges that are cheaper to read in one request than apart,
 * each holding at most `maxNeed` bytes in flight: the bytes read plus their plaintext (what the
 * reader acquires for it). Bounding the bytes read alone let one range of compressible data take
 * most of a small budget, so that ranges were read, decrypted and written one at a time.
 */
export function coalesce(blobs: PlannedBlob[], maxNeed: number): { start: number; end: number; blobs: PlannedBlob[] }[] {
  const sorted = [...blobs].sort((a, b) => a.offset - b.offset);
  const out: { start: number; end: number; blobs: PlannedBlob[] }[] = [];
  let plain = 0;
  for (const b of sorted) {
    const last = out[out.length - 1];
    if (last && b.offset - last.end <= COALESCE_GAP && Math.max(last.end, b.offset + b.length) - last.start + plain + b.rawLength <= maxNeed) {
      last.end = Math.max(last.end, b.offset + b.length);
      last.blobs.push(b);
      plain += b.rawLength;
    } else {
      out.push({ start: b.offset, end: b.offset + b.length, blobs: [b] });
      plain = b.rawLength;
    }
  }
  return out;
}
