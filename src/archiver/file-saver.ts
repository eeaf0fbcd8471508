// Reading files and storing their content as data blobs: the file saver. Files up to the chunker's
// minimum size are one chunk each and go in batches (up to 128 files or 2 MiB) read into one
// segment; larger files are read segment by segment with the next read started ahead, the tail of
// each segment carried in front of the next, and sparse files' holes given as zeros unread. A file
// that grew since its lstat is read again whole, one that changed while read is stored as read and
// reported, one that vanished is left out and reported. Chunks are deduplicated and sealed by the
// BlobSealer. Bounded by the segment pool (bytes read and not yet sealed) and the file slots.
import { promises as fsp, type BigIntStats } from 'node:fs';
import type { BlobId } from '../format/ids.js';
import { fsPath } from '../fs/names.js';
import { HoleSkippingReader, looksSparse } from '../fs/sparse.js';
import { Concurrency } from '../util/concurrency.js';
import { SegmentPool } from './segment-pool.js';
import type { Plan } from '../memory/planner.js';
import { type WorkerPool } from '../worker-pool/pool.js';
import { BusyMeter } from '../util/busy-meter.js';
import type { Repository } from '../repository/repository.js';
import type { Span } from '../../workers/protocol.js';
import type { BlobSealer } from './blob-sealer.js';
import type { PosixAccess } from './options.js';
import type { RunState } from './run-state.js';

/** A stored file's content: its data blob ids in order, and the bytes read. null: not stored (reported). */
export type FileContent = { ids: BlobId[]; size: number } | null;

/** Files at most this big are one chunk (FastCDC never cuts below the minimum): batched per task. */
interface SmallFile {
  readonly path: string;
  readonly size: number;
  /** null: the file could not be read (reported). */
  readonly resolve: (r: FileContent) => void;
  readonly reject: (err: unknown) => void;
}

const SMALL_BATCH_FILES = 128;
const SMALL_BATCH_BYTES = 2 * 1024 * 1024;

export class FileSaver {
  private readonly repo: Repository;
  private readonly pool: WorkerPool;
  private readonly sealer: BlobSealer;
  private readonly state: RunState;
  private readonly plan: Plan;
  private readonly posix: PosixAccess | undefined;
  /** Segment buffers: the bound of the read stage. */
  readonly segments: SegmentPool;
  private readonly fileLimit: Concurrency;
  private readonly room: number;
  private small: SmallFile[] = [];
  private smallBytes = 0;
  /** Time with at least one file read in flight (for `engine bench`). */
  readonly readBusy = new BusyMeter(1);

  constructor(repo: Repository, pool: WorkerPool, sealer: BlobSealer, state: RunState, plan: Plan, posix: PosixAccess | undefined) {
    this.repo = repo;
    this.pool = pool;
    this.sealer = sealer;
    this.state = state;
    this.plan = plan;
    this.posix = posix;
    // Room in front of the fresh data for the tail carried over from the previous segment.
    this.room = repo.config.chunker.maxSize;
    const segmentCapacity = this.room + plan.segmentBytes;
    this.segments = new SegmentPool(Math.max(2, Math.floor(plan.readBytes / segmentCapacity)), segmentCapacity);
    this.fileLimit = new Concurrency(plan.fileConcurrency);
  }

  /**
   * Stores the content of the file at `path`, `size` bytes at its lstat. A small file joins the
   * batch synchronously, before this function first awaits (the walk relies on it).
   */
  async saveFileContents(path: string, size: number): Promise<FileContent> {
    // The first file to read starts the pool's threads, while it is opened and read.
    this.pool.start();
    if (size <= this.repo.config.chunker.minSize) {
      return new Promise((resolve, reject) => {
        this.small.push({ path, size, resolve, reject });
        this.smallBytes += size;
        if (this.small.length >= SMALL_BATCH_FILES || this.smallBytes >= SMALL_BATCH_BYTES) this.flushSmall();
      });
    }
    return this.fileLimit.run(() => this.saveLargeFile(path));
  }

  /** Sends the waiting small files on as one batch (the walk is over, or someone waits for them). */
  flushSmall(): void {
    if (this.small.length === 0) return;
    const batch = this.small;
    this.small = [];
    this.smallBytes = 0;
    const run = this.fileLimit.run(() => this.saveSmallBatch(batch));
    // A failed batch fails its files too, so no directory waits forever on them.
    this.state.track(run.catch((err: unknown) => {
      for (const f of batch) f.reject(err);
      throw err;
    }));
  }

  private async saveSmallBatch(batch: SmallFile[]): Promise<void> {
    // Each file gets one byte more than its size, to detect a file that grew since lstat. A batch
    // is at most 2 MiB and 128 files, far below a segment's capacity.
    const segment = await this.segments.acquire(this.state.signal);
    try {
      const spans: Span[] = [];
      const read: (SmallFile & { start: number; end: number })[] = [];
      let pos = 0;
      await Promise.all(
        batch.map(async (f) => {
          const start = pos;
          pos += f.size + 1;
          try {
            await this.state.beforeOpen(f.path);
            const got = await this.readBusy.track(readInto(f.path, segment, start, f.size + 1));
            if (got > f.size) {
              // It grew since its lstat. Cutting it at the old size would store a state the file
              // never had as a whole (and calling it "left out" would be false): read it again,
              // whole, on the path of large files, which reads to the end whatever the size and
              // tells whether that read saw one consistent state (saveLargeFile). Not awaited
              // here: that read takes a file slot of its own, and this batch holds one.
              const again = this.fileLimit.run(() => this.saveLargeFile(f.path, f.size));
              again.then(f.resolve, f.reject);
              return;
            }
            read.push({ ...f, start, end: start + got });
          } catch (err) {
            this.state.problem(f.path, err);
            f.resolve(null);
          }
        }),
      );
      read.sort((a, b) => a.start - b.start);
      for (const f of read) spans.push({ start: f.start, end: f.end, final: true });
      const out = await this.pool.chunkHash({ segment, spans });
      const ranges: number[] = [];
      const ids: Uint8Array[] = [];
      read.forEach((f, i) => {
        const fileIds: BlobId[] = [];
        this.sealer.claimChunks(out.spans[i]!, f.start, fileIds, ranges, ids);
        this.state.counters.filesRead++;
        this.state.counters.bytesRead += f.end - f.start;
        this.state.counters.filesDone++;
        this.state.counters.bytesDone += f.end - f.start;
        f.resolve({ ids: fileIds, size: f.end - f.start });
      });
      await this.sealer.sealNew(segment, ranges, ids);
    } finally {
      this.segments.release(segment);
    }
  }

  /**
   * Reads a file to its end, whatever its size, and stores it. `grewFrom`: the size at which a
   * small file was first read and found to have grown (it is told as a notice once stored whole).
   *
   * A file that changes while it is read (its size or mtime at the end of the read differ from
   * those at its open, or the bytes read differ from its size) is stored as read, and reported as
   * such (onInconsistent: a warning and exit 3, never "left out"), since the stored content may
   * mix two states of the file. restic likewise stores what it read; engine also says so.
   */
  private async saveLargeFile(path: string, grewFrom?: number): Promise<FileContent> {
    let fh: fsp.FileHandle;
    let before: BigIntStats;
    try {
      await this.state.beforeOpen(path);
      fh = await fsp.open(fsPath(path), 'r');
    } catch (err) {
      this.state.problem(path, err);
      return null;
    }
    try {
      before = await fh.stat({ bigint: true });
    } catch (err) {
      await fh.close().catch(() => undefined);
      this.state.problem(path, err);
      return null;
    }
    // A file with fewer blocks allocated than its size has holes: they are found with
    // SEEK_DATA/SEEK_HOLE and given to the chunker as zeros without being read (a 3 GiB file with
    // 1 MiB of data reads 1 MiB). Same bytes, so the same blob ids as a plain read. Reads are
    // sequential (one in flight, positions only growing), as the reader requires.
    const holes = this.posix && looksSparse(before) ? new HoleSkippingReader(this.posix.ops, fh.fd, Number(before.size), this.posix.notices) : null;
    let position = 0;
    const readAt = async (buf: Uint8Array, offset: number, length: number): Promise<number> => {
      if (!holes) return readFull(fh, buf, offset, length);
      const skipped = holes.holeBytes;
      const n = await holes.readAt(buf.subarray(offset), length, position);
      position += n;
      this.state.counters.holeBytesSkipped += holes.holeBytes - skipped;
      return n;
    };
    let after: BigIntStats | null = null;
    let stored: { ids: BlobId[]; size: number };
    try {
      stored = await this.storeSegments(readAt, async () => {
        // Read to the end: did the file stay as it was at the open all along?
        after = await fh.stat({ bigint: true }).catch(() => null);
      });
    } catch (err) {
      if (!(err instanceof SegmentReadError)) throw err;
      this.state.problem(path, err.cause);
      return null;
    } finally {
      await fh.close().catch(() => undefined);
    }
    const { size } = stored;
    const end = after as BigIntStats | null;
    if (!end || end.size !== before.size || end.mtimeNs !== before.mtimeNs || BigInt(size) !== end.size) {
      this.state.counters.filesChangedWhileRead++;
      this.state.onInconsistent({ path, message: `changed while being read; stored as read (${size} bytes), which may not be one consistent state of the file` });
    } else if (grewFrom !== undefined) {
      this.state.onNotice(`${path}: grew from ${grewFrom} to ${size} bytes while backed up; read again and stored whole`);
    }
    this.state.counters.filesRead++;
    this.state.counters.filesDone++;
    return stored;
  }

  /**
   * Stores the bytes of a stream (backup --stdin, --stdin-from-command) as one file's content, on
   * the same segment, chunk and seal path as a large file: read segment by segment into the
   * segment pool, never held whole. A read error (the stream failed, or the command that writes
   * it failed: `stream` rejects at its end) fails the run, since there is nothing else to store.
   */
  async saveStreamContents(stream: SegmentSource): Promise<{ ids: BlobId[]; size: number }> {
    this.pool.start();
    return this.fileLimit.run(async () => {
      try {
        const stored = await this.storeSegments((buf, offset, length) => stream.read(buf, offset, length));
        this.state.counters.filesRead++;
        this.state.counters.filesDone++;
        return stored;
      } catch (err) {
        throw err instanceof SegmentReadError ? err.cause : err;
      }
    });
  }

  /**
   * The segment loop shared by files and streams: `readAt(buf, offset, length)` fills `length`
   * bytes of `buf` from `offset` (fewer only at the end). Each segment is chunked and hashed on
   * the pool while the next one is read, its tail carried in front of the next, and its new chunks
   * sealed. `atEnd` runs once the last byte is read, before waiting for the seals. A read that
   * fails throws SegmentReadError (its cause: the read's error), after the seals started settle.
   */
  private async storeSegments(readAt: (buf: Uint8Array, offset: number, length: number) => Promise<number>, atEnd?: () => Promise<void>): Promise<{ ids: BlobId[]; size: number }> {
    const ids: BlobId[] = [];
    // The tail of the previous segment: already copied in front of the next segment's fresh data
    // (carryLen bytes), or, when that segment was not read yet, kept aside until it is (pendingCarry).
    let carryLen = 0;
    let pendingCarry: Uint8Array | null = null;
    let size = 0;
    const seals: Promise<void>[] = [];
    const want = this.plan.segmentBytes;
    // Fresh data is read behind room for the tail carried over from the previous segment (always
    // shorter than the largest chunk), so the next read can start before this segment's tail is known.
    const room = this.room;
    const readAhead = async (): Promise<{ segment: Uint8Array; n: number }> => {
      const segment = await this.segments.acquire(this.state.signal);
      try {
        return { segment, n: await this.readBusy.track(readAt(segment, room, want)) };
      } catch (err) {
        this.segments.release(segment);
        throw err;
      }
    };
    let nextReady: { segment: Uint8Array; n: number } | null = null;
    const startRead = (): Promise<{ segment: Uint8Array; n: number }> => {
      nextReady = null;
      const p = readAhead();
      p.then((r) => (nextReady = r), () => undefined);
      return p;
    };
    let next: Promise<{ segment: Uint8Array; n: number }> | null = startRead();
    try {
      for (;;) {
        this.state.check();
        let got: { segment: Uint8Array; n: number };
        try {
          got = await next!;
        } catch (err) {
          next = null;
          await Promise.allSettled(seals);
          throw new SegmentReadError(err);
        }
        const { n, segment } = got;
        if (pendingCarry) {
          segment.set(pendingCarry, room - pendingCarry.length);
          carryLen = pendingCarry.length;
          pendingCarry = null;
        }
        const final = n < want;
        nextReady = null;
        next = final ? null : startRead();
        let released = false;
        const release = (): void => {
          if (!released) this.segments.release(segment);
          released = true;
        };
        try {
          size += n;
          this.state.counters.bytesRead += n;
          this.state.counters.bytesDone += n;
          const start = room - carryLen;
          const end = room + n;
          const out = await this.pool.chunkHash({ segment, spans: [{ start, end, final }] });
          const s = out.spans[0]!;
          const ranges: number[] = [];
          const newIds: Uint8Array[] = [];
          this.sealer.claimChunks(s, start, ids, ranges, newIds);
          if (!final) {
            // The tail must leave this segment before the segment goes to the sealer.
            const tail = segment.subarray(s.tailStart, end);
            const ahead = nextReady as { segment: Uint8Array; n: number } | null;
            if (ahead) {
              ahead.segment.set(tail, room - tail.length);
              carryLen = tail.length;
            } else {
              pendingCarry = tail.slice();
            }
          }
          // Sealing runs on while the next segment is chunked; the segment's lease goes with it.
          const sealing = this.sealer.sealNew(segment, ranges, newIds).finally(release);
          sealing.catch(() => undefined);
          seals.push(sealing);
          if (final) break;
        } catch (err) {
          release();
          throw err;
        }
      }
      await atEnd?.();
      await Promise.all(seals);
    } finally {
      // A read still running (after an error) must end before its source is closed.
      if (next) await next.then((r) => this.segments.release(r.segment), () => undefined);
    }
    return { ids, size };
  }
}

/** Where a stream's bytes come from: `read` fills `length` bytes of `buf` from `offset`, fewer only at the end. */
export interface SegmentSource {
  read(buf: Uint8Array, offset: number, length: number): Promise<number>;
}

/** A read of the segment loop failed: told apart from a failure of chunking or sealing, which fails the run. */
class SegmentReadError extends Error {
  override readonly cause: unknown;
  constructor(cause: unknown) {
    super('read failed');
    this.cause = cause;
  }
}

async function readFull(fh: fsp.FileHandle, buf: Uint8Array, offset: number, length: number): Promise<number> {
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, offset + got, length - got, null);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got;
}

async function readInto(path: string, buf: Uint8Array, offset: number, length: number): Promise<number> {
  const fh = await fsp.open(fsPath(path), 'r');
  try {
    return await readFull(fh, buf, offset, length);
  } finally {
    await fh.close();
  }
}
