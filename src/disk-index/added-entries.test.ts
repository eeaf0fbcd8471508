// The entries a process adds on the heap (disk-index.ts and scan-index.ts look them up before their runs).
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { type BlobId, BlobType, type PackId } from '../format/ids.js';
import { AddedEntries } from './added-entries.js';

const hex = (n: number): string => randomBytes(n).toString('hex');

describe('AddedEntries', () => {
  it('keeps the first place of a blob added twice, and every pack named', () => {
    const [p1, p2] = [hex(32), hex(32)] as PackId[];
    const [x, y] = [hex(32), hex(32)] as BlobId[];
    const added = new AddedEntries();
    added.add({ supersedes: [], packs: [{ packId: p1!, blobs: [{ type: BlobType.DATA, id: x!, offset: 0, length: 10, rawLength: 9 }] }] });
    added.add({ supersedes: [], packs: [{ packId: p2!, blobs: [{ type: BlobType.TREE, id: y!, offset: 5, length: 20, rawLength: 30 }, { type: BlobType.DATA, id: x!, offset: 7, length: 10, rawLength: 9 }] }] });
    expect(added.get(x!)).toEqual({ packId: p1, type: BlobType.DATA, offset: 0, length: 10, rawLength: 9 });
    expect(added.get(y!)).toEqual({ packId: p2, type: BlobType.TREE, offset: 5, length: 20, rawLength: 30 });
    expect(added.has(x!) && added.has(y!)).toBe(true);
    expect(added.has(hex(32) as BlobId)).toBe(false);
    expect(added.hasPack(p1!) && added.hasPack(p2!)).toBe(true);
    expect(added.hasPack(hex(32) as PackId)).toBe(false);
    expect(added.size).toBe(2);
  });
});
