// Holes in sparse files. Backup: the data regions of an open file, from lseek SEEK_DATA/SEEK_HOLE,
// so holes are never read (a 3 GiB file with 1 MiB of data reads 1 MiB); the zeros a hole stands for
// still go to the chunker, so a file's content and blob ids do not depend on how it was stored.
// Restore: which parts of a buffer to write so that runs of zero blocks become holes, at the
// filesystem's block size rather than per whole blob; and punching a hole into a range already written.
import { read as readCb } from 'node:fs';
import { promisify } from 'node:util';
import type { NotKeptNotices, PosixOps } from '../../native-bindings/posix/index.js';
import { isNotSupported } from '../../native-bindings/posix/index.js';

const readFd = promisify(readCb);

export interface Region {
  readonly offset: number;
  readonly length: number;
}

/** What st_blocks says: fewer 512-byte blocks than the size needs means the file has holes. */
export function looksSparse(st: { size: bigint | number; blocks: bigint | number }): boolean {
  return BigInt(st.blocks) * 512n < BigInt(st.size);
}

/**
 * The data regions of an open file within [0, size), in order, lazily (a fragmented file may have
 * millions). Null when they cannot be known (fallback, or a filesystem without SEEK_DATA): then
 * everything is to be read. On a filesystem that does not track holes, one region, the whole file.
 */
export function dataRegions(ops: PosixOps, fd: number, size: number, notices?: NotKeptNotices): Iterable<Region> | null {
  if (!ops.caps.seekData) {
    notices?.note('holes', `${ops.impl} has no SEEK_DATA`);
    return null;
  }
  try {
    ops.seekHole(fd, 0); // probe once: EINVAL/ENOTSUP here means no SEEK_DATA on this filesystem
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'ENXIO') return []; // empty now: offset 0 is past its end
    if (isNotSupported(err) || code === 'EINVAL') return null;
    throw err;
  }
  return {
    *[Symbol.iterator]() {
      let pos = 0;
      while (pos < size) {
        const start = ops.seekData(fd, pos);
        if (start === null || start >= size) return;
        // A file that shrank or grew since its size was taken: clamp to the size being backed up;
        // one cut short between the two calls (ENXIO) ends here.
        let hole: number;
        try {
          hole = ops.seekHole(fd, start);
        } catch (err) {
          if ((err as { code?: unknown }).code === 'ENXIO') return;
          throw err;
        }
        const end = Math.min(hole, size);
        if (end > start) yield { offset: start, length: end - start };
        pos = Math.max(end, start + 1);
      }
    },
  };
}

/**
 * Reads a file front to back, filling holes with zeros instead of reading them. With no region map
 * (fallback), it reads everything, as a plain read would. Not for concurrent reads of one file.
 */
export class HoleSkippingReader {
  private readonly fd: number;
  private readonly size: number;
  private readonly regions: Iterator<Region> | null;
  private current: Region | undefined;
  private exhausted = false;
  /** Bytes given as zeros from holes, never read. */
  holeBytes = 0;

  constructor(ops: PosixOps, fd: number, size: number, notices?: NotKeptNotices) {
    this.fd = fd;
    this.size = size;
    const it = dataRegions(ops, fd, size, notices);
    this.regions = it === null ? null : it[Symbol.iterator]();
  }

  /**
   * Fills buf[0, length) with the file's bytes at `position`; positions must not go backwards
   * between calls. Returns how many bytes were filled: less than length only at the end of the
   * file. Below `size` holes are zero-filled unread; from `size` on it reads plainly, so a file
   * that grew since its size was taken reads to its new end, as a plain read would (and a caller
   * comparing sizes and mtimes before and after tells a file that changed meanwhile).
   */
  async readAt(buf: Uint8Array, length: number, position: number): Promise<number> {
    if (this.regions === null) return this.readFully(buf, 0, length, position);
    let done = 0;
    while (done < length) {
      const at = position + done;
      if (at >= this.size) return done + (await this.readFully(buf, done, length - done, at));
      const end = Math.min(position + length, this.size);
      const region = this.regionAtOrAfter(at);
      const holeEnd = region === undefined ? end : Math.min(region.offset, end);
      if (holeEnd > at) {
        buf.fill(0, done, done + (holeEnd - at));
        this.holeBytes += holeEnd - at;
        done += holeEnd - at;
        continue;
      }
      const n = Math.min(region!.offset + region!.length, end) - at;
      const got = await this.readFully(buf, done, n, at);
      done += got;
      if (got < n) return done; // the file shrank: what was read is all there is
    }
    return done;
  }

  private regionAtOrAfter(pos: number): Region | undefined {
    while (!this.exhausted && (this.current === undefined || this.current.offset + this.current.length <= pos)) {
      const next = this.regions!.next();
      if (next.done === true) {
        this.exhausted = true;
        this.current = undefined;
      } else {
        this.current = next.value;
      }
    }
    return this.current;
  }

  private async readFully(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    let done = 0;
    while (done < length) {
      const { bytesRead } = await readFd(this.fd, buf, offset + done, length - done, position + done);
      if (bytesRead === 0) break;
      done += bytesRead;
    }
    return done;
  }
}

/**
 * The parts of `buf` (to be written at file offset `position`) that are not whole zero blocks:
 * blocks of `blockSize` aligned on the file offset. Writing only these into a new file (then
 * setting its size with ftruncate) leaves every zero block a hole, at the filesystem's granularity.
 * Zeros that do not fill an aligned block are written.
 */
export function nonZeroRanges(buf: Uint8Array, position: number, blockSize = 4096): Region[] {
  const out: Region[] = [];
  const zero = zeroBlock(blockSize);
  const bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  let runStart = -1; // start (in buf) of the current run of bytes to write
  let i = 0;
  while (i < bytes.length) {
    const fileOff = position + i;
    const blockEnd = Math.min(bytes.length, i + (blockSize - (fileOff % blockSize)));
    const whole = blockEnd - i === blockSize;
    const isZero = whole && bytes.compare(zero, 0, blockSize, i, blockEnd) === 0;
    if (isZero) {
      if (runStart >= 0) out.push({ offset: position + runStart, length: i - runStart });
      runStart = -1;
    } else if (runStart < 0) {
      runStart = i;
    }
    i = blockEnd;
  }
  if (runStart >= 0) out.push({ offset: position + runStart, length: bytes.length - runStart });
  return out;
}

let zeros: Buffer | undefined;
function zeroBlock(size: number): Buffer {
  if (zeros === undefined || zeros.length < size) zeros = Buffer.alloc(size);
  return zeros;
}

/**
 * Deallocates [offset, offset+length) of an open file, keeping its size: for a range of zeros in a
 * file that already had data there. False when it cannot (fallback, or a filesystem without
 * FALLOC_FL_PUNCH_HOLE): the caller then writes the zeros.
 */
export function punchHole(ops: PosixOps, fd: number, offset: number, length: number, notices?: NotKeptNotices): boolean {
  if (length <= 0) return true;
  if (!ops.caps.punchHole) {
    notices?.note('holes', `${ops.impl} cannot punch holes`);
    return false;
  }
  try {
    ops.punchHole(fd, offset, length);
    return true;
  } catch (err) {
    if (isNotSupported(err)) return false;
    throw err;
  }
}
