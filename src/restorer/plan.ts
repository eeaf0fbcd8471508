// The restore plan: which blobs of which packs go to which file offsets, and in what order they
// are read. Blobs are gathered by pack into batches, handed to the pack reader as they fill (the
// first small, so reading starts at once, each next one up to twice as big); blobs that failed in
// one pack are planned again from their next indexed copy, ahead of the rest. The plan of files
// not yet restored is bounded in bytes, so planning runs only so far ahead of the restored files.
import type { BlobId, PackId } from '../format/ids.js';
import { ByteBudget } from '../util/concurrency.js';
import type { BlobIndex, BlobLocation } from '../repository/blob-index.js';
import type { FileJob, PlanBatch, PlannedBlob } from './jobs.js';
import type { RestoreReport } from './report.js';

/** Share of the read budget for the plan of files not yet restored (it lives on the heap). */
const PLAN_SHARE = 0.25;
/** Measured on Node 20: about 1 KiB of heap per planned file and 200 bytes per planned blob use. */
const PLAN_BYTES_PER_FILE = 1024;
const PLAN_BYTES_PER_BLOB = 200;
/**
 * The first batch goes to the reader once this many bytes are planned, so reading starts at once;
 * each next batch may be twice as big, up to MAX_BATCH_BYTES (bigger batches coalesce more
 * neighbouring blobs into one request).
 */
const FIRST_BATCH_BYTES = 4 * 1024 * 1024;
const MAX_BATCH_BYTES = 256 * 1024 * 1024;

/** Bytes of the plan budget a file of `blobs` blob uses holds until it is complete. */
export function planCost(blobs: number): number {
  return PLAN_BYTES_PER_FILE + PLAN_BYTES_PER_BLOB * blobs;
}

export class RestorePlan {
  private readonly index: BlobIndex;
  private readonly report: RestoreReport;
  private readonly signal: AbortSignal;
  /** The batch being planned, the batches waiting for the reader, and how the reader is woken. */
  private batch: PlanBatch = new Map();
  private batchBytes = 0;
  private batchLimit = FIRST_BATCH_BYTES;
  private readonly batches: PlanBatch[] = [];
  private planning = true;
  private wakeReader: (() => void) | null = null;
  /** The plan of files not yet complete: bounds how far planning runs ahead of the restored files. */
  readonly budget: ByteBudget;
  /** Times planning waited for files to be restored (for tests). */
  planWaits = 0;
  /** Packs that could not be read at all: no blob is planned from them again. */
  private readonly failedPacks = new Set<PackId>();
  /** Ranges being read and written: the reader waits for them (they may plan retries) before it ends. */
  private rangesInFlight = 0;

  constructor(index: BlobIndex, report: RestoreReport, readBudgetBytes: number, signal: AbortSignal) {
    this.index = index;
    this.report = report;
    this.signal = signal;
    this.budget = new ByteBudget('restore plan', Math.floor(readBudgetBytes * PLAN_SHARE));
  }

  /**
   * Takes a file's share of the plan budget. Files complete only once their batch is read, so
   * while planning waits for room the batch being planned goes to the reader as soon as it has
   * nothing else to read (at once if it is waiting already): handing it on at each wait made
   * batches of a file or two once the budget was full, read in as many tiny ranges.
   */
  async reserve(bytes: number): Promise<void> {
    if (this.budget.tryAcquire(bytes)) return;
    if (this.wakeReader !== null) this.flushBatch();
    this.planWaits++;
    await this.budget.acquire(bytes, this.signal);
  }

  /**
   * Plans the blobs of a file at their offsets (from the first location in no pack that failed);
   * a blob the index does not know damages the file.
   */
  addFile(job: FileJob, content: readonly BlobId[]): void {
    let offset = 0;
    for (const id of content) {
      let loc = this.index.lookup(id);
      // A pack that already failed: another location straight away, when the index has one.
      if (loc && this.failedPacks.size > 0 && this.failedPacks.has(loc.packId)) loc = this.index.lookupAll?.(id).find((l) => !this.failedPacks.has(l.packId)) ?? loc;
      if (!loc) {
        this.report.damage(job, `blob ${id} is missing from the repository`);
        continue;
      }
      let pack = this.batch.get(loc.packId);
      if (!pack) {
        pack = new Map();
        this.batch.set(loc.packId, pack);
      }
      let planned = pack.get(id);
      if (!planned) {
        planned = { id, offset: loc.offset, length: loc.length, rawLength: loc.rawLength, targets: [] };
        pack.set(id, planned);
        this.batchBytes += loc.rawLength;
      }
      planned.targets.push({ file: job, offset });
      job.blobs++;
      job.remaining++;
      offset += loc.rawLength;
    }
  }

  /**
   * Hands the batch on once it is full; and while planning waits for room, whatever is planned
   * goes to a reader with nothing else to read: room comes back only when planned files are
   * restored, and a file left in the batch never would be.
   */
  flushIfDue(): void {
    if (this.batchBytes >= this.batchLimit || (this.budget.waiting > 0 && this.wakeReader !== null)) this.flushBatch();
  }

  /** Planning is over: the last batch goes to the reader, which ends once it has read what is left. */
  end(): void {
    this.planning = false;
    this.flushBatch();
  }

  /** Hands the batch being planned to the reader. */
  private flushBatch(): void {
    if (this.batch.size > 0) {
      this.batches.push(this.batch);
      this.batch = new Map();
      this.batchBytes = 0;
      this.batchLimit = Math.min(MAX_BATCH_BYTES, 2 * this.batchLimit);
    }
    const wake = this.wakeReader;
    this.wakeReader = null;
    wake?.();
  }

  private wake(): void {
    const wake = this.wakeReader;
    this.wakeReader = null;
    wake?.();
  }

  /** The next batch of the plan, waiting for planning to make one; null once planning is over. */
  async nextBatch(): Promise<PlanBatch | null> {
    for (;;) {
      const next = this.batches.shift();
      if (next) return next;
      // Planning waits for files of the batch being planned to be restored: it is read now.
      if (this.budget.waiting > 0 && this.batch.size > 0) {
        this.flushBatch();
        continue;
      }
      // Ranges still being read may yet plan retries from other locations of their blobs.
      if (!this.planning && this.rangesInFlight === 0) return null;
      this.signal.throwIfAborted();
      await new Promise<void>((resolve) => {
        const onAbort = (): void => resolve();
        this.signal.addEventListener('abort', onAbort, { once: true });
        this.wakeReader = () => {
          this.signal.removeEventListener('abort', onAbort);
          resolve();
        };
      });
    }
  }

  /** A range of a batch is being read (its blobs may yet be planned again). */
  rangeStarted(): void {
    this.rangesInFlight++;
  }

  /** A range settled: the reader may be waiting for the last ranges (and the retries they plan). */
  rangeSettled(): void {
    this.rangesInFlight--;
    this.wake();
  }

  /** Records a pack that could not be read at all; true the first time. */
  packFailed(packId: PackId): boolean {
    if (this.failedPacks.has(packId)) return false;
    this.failedPacks.add(packId);
    return true;
  }

  /** The next indexed location of a blob, in no pack that failed for it or for everything. */
  nextLocation(blob: PlannedBlob, failedIn: PackId): BlobLocation | undefined {
    return this.index.lookupAll?.(blob.id).find((l) => l.packId !== failedIn && !this.failedPacks.has(l.packId) && !(blob.tried?.includes(l.packId) ?? false));
  }

  /**
   * Plans a blob that failed in `packId` again, from its next indexed location, for the same
   * files (into `retries`); when no location is left, its files are damaged (exit 4) and false
   * is returned: the blob is then done with.
   */
  replan(blob: PlannedBlob, packId: PackId, why: string, retries: PlanBatch): boolean {
    const next = this.nextLocation(blob, packId);
    if (next === undefined) {
      const others = blob.tried?.length ?? 0;
      const message = others > 0 ? `${why}; the ${others === 1 ? 'other copy' : `${others} other copies`} of blob ${blob.id} failed too` : `${why}; the damaged range was not written`;
      for (const t of blob.targets) this.report.damage(t.file, message);
      return false;
    }
    let pack = retries.get(next.packId);
    if (!pack) {
      pack = new Map();
      retries.set(next.packId, pack);
    }
    const existing = pack.get(blob.id);
    if (existing) existing.targets.push(...blob.targets);
    else pack.set(blob.id, { id: blob.id, offset: next.offset, length: next.length, rawLength: next.rawLength, targets: blob.targets, tried: [...(blob.tried ?? []), packId] });
    this.report.counters.blobRetries++;
    return true;
  }

  /** Hands blobs planned again to the reader (ahead of the rest: their files wait for them). */
  queueRetries(retries: PlanBatch): void {
    if (retries.size === 0) return;
    this.batches.unshift(retries);
    this.wake();
  }
}
