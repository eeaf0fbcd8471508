import { describe, expect, it } from 'vitest';
import { PathSet } from './path-set.js';

describe('PathSet', () => {
  it('holds what was added and nothing else, across growth and adds after a lookup', () => {
    const set = new PathSet();
    const added: string[] = [];
    for (let i = 0; i < 5000; i++) added.push(`d${i % 97}/file-${i}.txt`);
    for (const p of added.slice(0, 2500)) set.add(p);
    expect(set.has(added[10]!)).toBe(true);
    expect(set.has(added[3000]!)).toBe(false);
    for (const p of added.slice(2500)) set.add(p);
    expect(set.size).toBe(5000);
    expect(added.every((p) => set.has(p))).toBe(true);
    for (let i = 0; i < 5000; i++) expect(set.has(`d${i % 97}/file-${i}.txt.other`)).toBe(false);
    // Names differing in one code unit, in order, or by escaped bytes are told apart.
    set.add('ab');
    expect(set.has('ba')).toBe(false);
    expect(set.has('a\udce9')).toBe(false);
    expect(set.has('')).toBe(false);
  });

  it('costs 8 bytes a path (the hashes are one typed array)', () => {
    const set = new PathSet();
    for (let i = 0; i < 100_000; i++) set.add(`a/rather/long/folder/name/that/repeats/${i}`);
    expect((set as unknown as { hashes: BigUint64Array }).hashes.byteLength).toBeLessThanOrEqual(8 * 2 * 100_000);
  });
});
