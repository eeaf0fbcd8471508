import { describe, expect, it } from 'vitest';
import { BitSet } from './bitset.js';

describe('BitSet', () => {
  it('holds exactly the numbers added, at the edges of bytes too, in one bit each', () => {
    const s = new BitSet(1001);
    expect(s.byteLength).toBe(126);
    const added = [0, 7, 8, 9, 63, 64, 500, 999, 1000];
    for (const i of added) expect(s.addNew(i)).toBe(true);
    expect(s.addNew(8)).toBe(false);
    for (let i = 0; i < 1001; i++) expect(s.has(i)).toBe(added.includes(i));
    expect(() => s.add(1001)).toThrow(RangeError);
    expect(() => s.add(-1)).toThrow(RangeError);
  });
});
