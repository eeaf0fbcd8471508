// Data regions of real sparse files from SEEK_DATA/SEEK_HOLE (a 3 GiB file with three islands, on
// whatever filesystem the temp folder is: ext4 here, which reports holes per 4 KiB block), reads that
// skip holes, restore-side zero-block ranges, and hole punching; the fallback reads everything.
import { closeSync, fstatSync, openSync, readSync, writeSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { workdirPerFile } from '../../test/support/workdir.js';
import { loadPosix, NotKeptNotices } from '../../native-bindings/posix/index.js';
import { dataRegions, HoleSkippingReader, looksSparse, nonZeroRanges, punchHole, type Region } from './sparse.js';

const dir = workdirPerFile('engine-sparse-');

const GiB = 2 ** 30;
const MiB = 2 ** 20;

/** A sparse file of `size` with the given islands of non-zero data; returns an open fd. */
function sparseFile(name: string, size: number, islands: Region[]): number {
  const fd = openSync(join(dir, name), 'w+');
  ftruncateSync(fd, size);
  for (const r of islands) writeSync(fd, Buffer.alloc(r.length, 0xa5), 0, r.length, r.offset);
  return fd;
}

describe.each(['auto', 'off'] as const)('sparse files (ENGINE_POSIX=%s)', async (policy) => {
  const { ops } = await loadPosix(policy);
  const seeks = ops.caps.seekData;

  it(`lists the data regions of a 3 GiB sparse file ${seeks ? 'exactly' : '(fallback: unknown, null)'}`, () => {
    const islands = [
      { offset: 0, length: 4096 },
      { offset: GiB + 12 * 4096, length: 64 * 1024 },
      { offset: 3 * GiB - 8192, length: 8192 },
    ];
    const fd = sparseFile(`3g-${policy}`, 3 * GiB, islands);
    try {
      expect(looksSparse(fstatSync(fd, { bigint: true }))).toBe(true);
      const warnings: string[] = [];
      const regions = dataRegions(ops, fd, 3 * GiB, new NotKeptNotices((m) => warnings.push(m)));
      if (!seeks) {
        expect(regions).toBeNull();
        expect(warnings).toHaveLength(1);
        return;
      }
      expect([...regions!]).toEqual(islands);
      // a size smaller than the file clamps the last region
      expect([...dataRegions(ops, fd, GiB + 12 * 4096 + 100)!]).toEqual([islands[0], { offset: GiB + 12 * 4096, length: 100 }]);
    } finally {
      closeSync(fd);
    }
  });

  it('a file with no data has no regions; a dense file is one region; an empty file none', async () => {
    if (!seeks) return;
    const empty = sparseFile(`hole-${policy}`, 100 * MiB, []);
    const dense = sparseFile(`dense-${policy}`, MiB, [{ offset: 0, length: MiB }]);
    const zero = sparseFile(`zero-${policy}`, 0, []);
    try {
      expect([...dataRegions(ops, empty, 100 * MiB)!]).toEqual([]);
      expect([...dataRegions(ops, dense, MiB)!]).toEqual([{ offset: 0, length: MiB }]);
      expect([...dataRegions(ops, zero, 0)!]).toEqual([]);
      expect(await new HoleSkippingReader(ops, zero, 0).readAt(Buffer.alloc(10), 10, 0)).toBe(0);
      // a size larger than the file (it shrank since): regions end at its real end
      expect([...dataRegions(ops, dense, 2 * MiB)!]).toEqual([{ offset: 0, length: MiB }]);
    } finally {
      closeSync(empty);
      closeSync(dense);
      closeSync(zero);
    }
  });

  it(`reads a sparse file byte-identical to a plain read${seeks ? ', never reading its holes' : ''}`, async () => {
    const size = 64 * MiB + 1000;
    const islands = [
      { offset: 3 * MiB, length: 5000 },
      { offset: 40 * MiB, length: MiB },
      { offset: 64 * MiB, length: 1000 },
    ];
    const fd = sparseFile(`read-${policy}`, size, islands);
    try {
      const reader = new HoleSkippingReader(ops, fd, size);
      const buf = Buffer.alloc(3 * MiB + 123); // not aligned with anything
      const plain = Buffer.alloc(buf.length);
      for (let pos = 0; pos < size; pos += buf.length) {
        buf.fill(0xee);
        const n = await reader.readAt(buf, buf.length, pos);
        const m = readSync(fd, plain, 0, plain.length, pos);
        expect(n).toBe(m);
        expect(buf.subarray(0, n).equals(plain.subarray(0, m))).toBe(true);
      }
      // an island ending inside a 4 KiB block makes the whole block data, up to the size
      const dataBlocks = 4096 * 2 + MiB + 1000;
      expect(reader.holeBytes).toBe(seeks ? size - dataBlocks : 0);
      expect(await reader.readAt(buf, 10, size)).toBe(0);
      // grown since: the reader reads on past the size it was given, as a plain read would
      writeSync(fd, Buffer.from('more'), 0, 4, size + 4096);
      const tail = Buffer.alloc(8192, 0xee);
      expect(await reader.readAt(tail, tail.length, size)).toBe(4100);
      expect(tail.subarray(0, 4100).equals(Buffer.concat([Buffer.alloc(4096), Buffer.from('more')]))).toBe(true);
    } finally {
      closeSync(fd);
    }
  });

  it('punches a hole into written data when it can, else says it could not', () => {
    const fd = sparseFile(`punch-${policy}`, 4 * MiB, [{ offset: 0, length: 4 * MiB }]);
    try {
      const before = fstatSync(fd).blocks;
      const punched = punchHole(ops, fd, MiB, 2 * MiB);
      expect(punched).toBe(ops.caps.punchHole);
      const st = fstatSync(fd);
      expect(st.size).toBe(4 * MiB);
      if (!punched) return;
      expect(st.blocks).toBe(before - (2 * MiB) / 512);
      const b = Buffer.alloc(2 * MiB, 1);
      readSync(fd, b, 0, b.length, MiB);
      expect(b.equals(Buffer.alloc(2 * MiB))).toBe(true);
      expect([...dataRegions(ops, fd, 4 * MiB)!]).toEqual([
        { offset: 0, length: MiB },
        { offset: 3 * MiB, length: MiB },
      ]);
    } finally {
      closeSync(fd);
    }
  });
});

describe('nonZeroRanges (restore writes only these, leaving zero blocks as holes)', () => {
  it('skips whole aligned zero blocks, keeps partial ones, aligns on the file offset', () => {
    const buf = Buffer.alloc(5 * 4096);
    buf[10] = 1; // block 0: data
    buf[3 * 4096 + 5] = 1; // block 3: data; blocks 1, 2 and 4 are zeros
    expect(nonZeroRanges(buf, 0)).toEqual([
      { offset: 0, length: 4096 },
      { offset: 3 * 4096, length: 4096 },
    ]);
    // at a file offset of 100, block boundaries fall at buf[3996], buf[8092]...
    expect(nonZeroRanges(buf, 100)).toEqual([
      { offset: 100, length: 3996 },
      { offset: 3 * 4096, length: 4096 },
      { offset: 5 * 4096, length: 100 },
    ]);
    expect(nonZeroRanges(Buffer.alloc(8192), 0)).toEqual([]);
    expect(nonZeroRanges(Buffer.alloc(100), 0)).toEqual([{ offset: 0, length: 100 }]);
    expect(nonZeroRanges(Buffer.alloc(8 * MiB, 7), 0, 65536)).toEqual([{ offset: 0, length: 8 * MiB }]);
  });

  it('writing only those ranges restores the same bytes, sparse', () => {
    const src = Buffer.alloc(8 * MiB);
    src.fill(3, MiB, MiB + 10);
    src.fill(9, 7 * MiB - 1, 7 * MiB + 5);
    const fd = openSync(join(dir, 'restored'), 'w+');
    try {
      const ranges = nonZeroRanges(src, 0, fstatSync(fd).blksize);
      for (const r of ranges) writeSync(fd, src, r.offset, r.length, r.offset);
      ftruncateSync(fd, src.length);
      const back = Buffer.alloc(src.length);
      readSync(fd, back, 0, back.length, 0);
      expect(back.equals(src)).toBe(true);
      expect(fstatSync(fd).blocks * 512).toBeLessThanOrEqual(4 * 4096);
    } finally {
      closeSync(fd);
    }
  });
});
