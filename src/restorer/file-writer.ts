// The file writer of a restore: creates regular files through their folder's handle (new, at
// full size), writes the parts of each blob that are not whole zero blocks at its file offsets,
// so zero blocks stay holes at the target's block size, and completes a file once its last blob
// has settled (metadata, close). A file the target refuses is named, what was written of it
// removed, and the restore goes on; files left open when a restore ends early are removed.
import fs from 'node:fs';
import type { DirTree } from '../fs/dir-handle.js';
import { nonZeroRanges, type Region } from '../fs/sparse.js';
import { Concurrency } from '../util/concurrency.js';
import type { BusyMeter } from '../util/busy-meter.js';
import type { FileJob, PlannedBlob, Target } from './jobs.js';
import type { MetadataWriter } from './metadata.js';
import { describeTargetError, isTargetError } from './not-restored.js';
import type { RestoreCounters } from './options.js';
import type { RestoreReport } from './report.js';

export class FileWriter {
  private readonly tree: DirTree;
  private readonly report: RestoreReport;
  private readonly meta: MetadataWriter;
  private readonly counters: RestoreCounters;
  private readonly writeBusy: BusyMeter;
  /** A file is done with (restored or given up on): its share of the plan budget goes back. */
  private readonly onFileDone: (job: FileJob) => void;
  /** Zero blocks of this size (the target's st_blksize, aligned on file offsets) are not written: they stay holes. */
  blockSize = 4096;
  /** Files with data open for writing (closed by abandonOpenFiles should the restore end early). */
  private readonly openFiles = new Set<FileJob>();
  /** Creations of files of several blobs in flight (quiesce waits for them). */
  private readonly creating = new Set<Promise<number | null>>();
  /** File creation and metadata calls in flight: enough to keep the libuv threadpool busy. */
  private readonly fsLimit = new Concurrency(32);

  constructor(tree: DirTree, report: RestoreReport, meta: MetadataWriter, writeBusy: BusyMeter, onFileDone: (job: FileJob) => void) {
    this.tree = tree;
    this.report = report;
    this.meta = meta;
    this.counters = report.counters;
    this.writeBusy = writeBusy;
    this.onFileDone = onFileDone;
  }

  /**
   * Creates a new file for writing (through its folder's handle, on the libuv threadpool: on a
   * cold cache the create waits for the disk, which held up the main thread a millisecond at a
   * time); null when the target refused it.
   */
  private async createFile(job: FileJob): Promise<number | null> {
    let fd: number;
    try {
      fd = await this.tree.createFileAsync(job.dir, job.name);
    } catch (err) {
      this.report.fileFailed(job, err, 'create');
      job.finished = true;
      return null;
    }
    try {
      if (job.linked) job.ino = fs.fstatSync(fd, { bigint: true }).ino;
      return fd;
    } catch (err) {
      closeQuietly(fd);
      this.discard(job);
      this.report.fileFailed(job, err, 'create');
      job.finished = true;
      return null;
    }
  }

  /** Removes what was written of a file given up on (by name, through its folder's handle). */
  private discard(job: FileJob): void {
    try {
      this.tree.unlink(job.dir, job.name);
    } catch (err) {
      if (!isTargetError(err)) throw err;
      this.report.problem({ path: this.report.display(job.dir, job.name), message: `could not remove the partly written file: ${describeTargetError(err).text}` });
    }
  }

  /**
   * Writes a verified blob (its plaintext) to each of its targets, returning the writes: which
   * parts are written is worked out once per alignment on the block size (most blobs have one target).
   */
  writeBlob(blob: PlannedBlob, plain: Uint8Array): Promise<void>[] {
    const writes: Promise<void>[] = [];
    const byAlign = new Map<number, Region[]>();
    for (const t of blob.targets) {
      const align = t.offset % this.blockSize;
      let ranges = byAlign.get(align);
      if (ranges === undefined) {
        ranges = wholeData(plain, align, this.blockSize) ? [{ offset: align, length: plain.length }] : nonZeroRanges(plain, align, this.blockSize);
        byAlign.set(align, ranges);
      }
      const at = ranges;
      writes.push(this.writeBusy.run(() => this.writeAt(t, plain, at, t.offset - align)));
    }
    return writes;
  }

  /**
   * Writes the parts of a blob that are not whole zero blocks (`ranges`: offsets in the blob plus
   * `shift`, so `shift + r.offset` is the file offset) into a file created at its full size: the
   * zero blocks are never written, so they stay holes, at the filesystem's block size.
   */
  private async writeAt(t: Target, data: Uint8Array, ranges: readonly Region[], shift: number): Promise<void> {
    const job = t.file;
    if (job.damaged || job.failed) return;
    if (job.blobs === 1) {
      // Most files of a tree are small: one blob, written with its metadata in one go, with
      // synchronous calls instead of trips through the libuv threadpool. Measured on the 1 GiB
      // tree (9.8k files, 2 cores): creating and writing them on the threadpool freed the main
      // thread but cost 0.5-0.9 s more system CPU and no wall time.
      this.writeWholeFileSync(job, data, ranges);
      return;
    }
    // The file is created (at full size) even when this blob is all zeros: holes stay holes.
    const fd = await this.handle(job);
    if (fd === null) return;
    try {
      for (const r of ranges) {
        const from = r.offset + shift - t.offset;
        await writeFully(fd, data.subarray(from, from + r.length), r.offset + shift);
      }
      this.counters.bytesWritten += data.length;
    } catch (err) {
      if (job.failed) return;
      this.report.fileFailed(job, err, 'write');
      // The space it held goes back at once, for the files still to come; the file itself is
      // removed once its last blob has settled (writes in flight still use the descriptor).
      try {
        fs.ftruncateSync(fd, 0);
      } catch {
        // Removed at completion anyway.
      }
    }
  }

  /** How a file written in one go ended: counted, or named (and removed when its data is not all there). */
  private wholeFileDone(job: FileJob, bytes: number, failure: unknown, stage: 'write' | 'metadata'): void {
    job.finished = true;
    if (failure === null) {
      this.counters.files++;
      this.counters.bytesWritten += bytes;
      this.report.item('restored', job.dir, job.name, job.node.size ?? 0);
      return;
    }
    if (stage === 'write') this.discard(job);
    this.report.fileFailed(job, failure, stage);
  }

  /** A file of one blob (or none): `ranges` are the parts of `data` to write (offsets in the file), the rest stays holes. */
  writeWholeFileSync(job: FileJob, data: Uint8Array, ranges: readonly Region[]): void {
    let fd: number;
    try {
      fd = this.tree.createFile(job.dir, job.name);
    } catch (err) {
      this.report.fileFailed(job, err, 'create');
      job.finished = true;
      return;
    }
    try {
      if (job.linked) job.ino = fs.fstatSync(fd, { bigint: true }).ino;
    } catch (err) {
      closeQuietly(fd);
      this.discard(job);
      this.report.fileFailed(job, err, 'create');
      job.finished = true;
      return;
    }
    let stage: 'write' | 'metadata' = 'write';
    let failure: unknown = null;
    try {
      let end = 0;
      for (const r of ranges) {
        for (let done = 0; done < r.length; ) done += fs.writeSync(fd, data, r.offset + done, r.length - done, r.offset + done);
        end = r.offset + r.length;
      }
      // Zero blocks at the end were not written: the size makes them holes.
      if (end < data.length) fs.ftruncateSync(fd, data.length);
      stage = 'metadata';
      this.meta.setMeta(fd, job.node, job.dir, () => this.report.display(job.dir, job.name));
    } catch (err) {
      failure = err;
    }
    try {
      fs.closeSync(fd);
    } catch (err) {
      // A network filesystem may report a failed write only at close.
      if (failure === null) {
        failure = err;
        stage = 'write';
      }
    }
    this.wholeFileDone(job, data.length, failure, stage);
  }

  /**
   * The descriptor of a file that takes several blobs, created at full size on first use (the
   * blobs that arrive meanwhile wait for the same creation); null when refused.
   */
  private handle(job: FileJob): Promise<number | null> {
    if (job.fd !== null) return Promise.resolve(job.fd);
    if (job.failed) return Promise.resolve(null);
    if (!job.opening) {
      const opening = this.open(job);
      job.opening = opening;
      this.creating.add(opening);
      void opening.finally(() => this.creating.delete(opening)).catch(() => undefined);
    }
    return job.opening;
  }

  /**
   * Waits for the file creations in flight (on the threadpool): after a failure, the restore
   * abandons open files and closes its folders only once none can still produce a descriptor
   * (a file created after that would stay behind, empty, looking restored).
   */
  async quiesce(): Promise<void> {
    while (this.creating.size > 0) await Promise.allSettled([...this.creating]);
  }

  private async open(job: FileJob): Promise<number | null> {
    const fd = await this.createFile(job);
    if (fd === null) return null;
    try {
      // At full size from the start: ranges never written (zero blobs) stay holes.
      fs.ftruncateSync(fd, job.node.size ?? 0);
    } catch (err) {
      closeQuietly(fd);
      this.discard(job);
      this.report.fileFailed(job, err, 'write');
      job.finished = true;
      return null;
    }
    job.fd = fd;
    this.openFiles.add(job);
    return fd;
  }

  /** Counts the blobs of a range as done for each of their files, finishing files that are complete. */
  async settle(blobs: PlannedBlob[]): Promise<void> {
    const done: Promise<void>[] = [];
    for (const b of blobs) {
      for (const t of b.targets) {
        t.file.remaining--;
        if (t.file.remaining === 0) done.push(this.complete(t.file));
      }
    }
    await Promise.all(done);
  }

  /** Completes a file (see completeFile) within the bound on file creation and metadata calls in flight. */
  complete(job: FileJob): Promise<void> {
    return this.fsLimit.run(() => this.completeFile(job));
  }

  private async completeFile(job: FileJob): Promise<void> {
    try {
      await this.completeFileContents(job);
    } finally {
      this.onFileDone(job);
    }
  }

  private async completeFileContents(job: FileJob): Promise<void> {
    if (job.finished) return;
    // A file none of whose blobs was written (empty, or all damaged) is created now, at its size:
    // a damaged file still exists, holding zeros where data was lost, to be named.
    const fd = job.fd ?? (job.failed ? null : await this.handle(job));
    job.fd = null;
    job.opening = null;
    this.openFiles.delete(job);
    job.finished = true;
    // Null: the target refused the file, and whatever was created of it is already removed.
    if (fd === null) return;
    let failure: unknown = null;
    let stage: 'write' | 'metadata' = 'metadata';
    if (!job.failed) {
      try {
        this.meta.setMeta(fd, job.node, job.dir, () => this.report.display(job.dir, job.name));
      } catch (err) {
        failure = err;
      }
    }
    try {
      await closeFile(fd);
    } catch (err) {
      if (!job.failed) {
        failure = err;
        stage = 'write';
      }
    }
    if (job.failed || stage === 'write') this.discard(job);
    if (failure !== null) this.report.fileFailed(job, failure, stage);
    else if (!job.failed && !job.damaged) {
      this.counters.files++;
      this.report.item('restored', job.dir, job.name, job.node.size ?? 0);
    }
  }

  /**
   * After a failure or an abort, files still open are incomplete (they were created at full
   * size): closed and removed, so none is left looking complete. Nothing writes to them any more.
   */
  abandonOpenFiles(): void {
    for (const job of this.openFiles) {
      if (job.fd !== null) closeQuietly(job.fd);
      job.fd = null;
      try {
        this.tree.unlink(job.dir, job.name);
      } catch {
        // The restore already ends with an error; a resumed restore replaces the file.
      }
    }
    this.openFiles.clear();
  }
}

/**
 * True when no whole block of `buf` (at file offset `position`, blocks aligned on the file) can be
 * all zeros, because each has a non-zero byte among three sampled: then all of it is written, and
 * no block needs comparing. A few loads per 4 KiB against nonZeroRanges' compare of each block
 * (a millisecond per 8 MiB of data, the main cost of a restore from a local disk otherwise).
 */
export function wholeData(buf: Uint8Array, position: number, blockSize: number): boolean {
  const half = blockSize >> 1;
  for (let i = (blockSize - (position % blockSize)) % blockSize; i + blockSize <= buf.length; i += blockSize) {
    if (buf[i] === 0 && buf[i + half] === 0 && buf[i + blockSize - 1] === 0) return false;
  }
  return true;
}

/**
 * The block size holes are made at: st_blksize of the target (4 KiB on most filesystems; ZFS says
 * its record size), kept to a power of two between 512 B and 1 MiB.
 */
export function holeBlockSize(blksize: number): number {
  if (!Number.isInteger(blksize) || blksize < 512 || blksize > 1 << 20 || (blksize & (blksize - 1)) !== 0) return 4096;
  return blksize;
}

function closeQuietly(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // Already reported, or nothing more to lose.
  }
}

function closeFile(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.close(fd, (err) => (err ? reject(err) : resolve())));
}

/** Writes all of `data` at `position` (fs.write may write less than asked). */
function writeFully(fd: number, data: Uint8Array, position: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (done: number): void => {
      if (done >= data.length) return resolve();
      fs.write(fd, data, done, data.length - done, position + done, (err, n) => (err ? reject(err) : step(done + n)));
    };
    step(0);
  });
}
