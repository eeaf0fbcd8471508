import { describe, expect, it } from 'vitest';
import { SharedArena } from './shared-arena.js';

describe('SharedArena', () => {
  it('hands out disjoint regions of one shared buffer, first fit', () => {
    const a = new SharedArena(100);
    const r1 = a.alloc(30)!;
    const r2 = a.alloc(50)!;
    expect(r1.offset).toBe(0);
    expect(r2.offset).toBe(30);
    expect(r1.bytes.buffer).toBe(r2.bytes.buffer);
    expect(r1.bytes.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(r2.bytes.length).toBe(50);
    expect(a.inUse).toBe(80);
    expect(a.alloc(21)).toBeNull();
    expect(a.alloc(20)!.offset).toBe(80);
  });

  it('takes a region back piece by piece and merges free neighbours, so a whole-arena region fits again', () => {
    const a = new SharedArena(64);
    const r = a.alloc(64)!;
    // Pieces in any order, as blobs are packed out of order.
    a.release(r.offset + 10, 20);
    a.release(r.offset, 10);
    expect(a.alloc(31)).toBeNull();
    a.release(r.offset + 40, 24);
    a.release(r.offset + 30, 10);
    expect(a.inUse).toBe(0);
    expect(a.alloc(64)!.offset).toBe(0);
  });

  it('refuses a byte released twice or outside the arena', () => {
    const a = new SharedArena(32);
    const r = a.alloc(16)!;
    a.release(r.offset, 8);
    expect(() => a.release(r.offset + 4, 8)).toThrow(/twice/);
    expect(() => a.release(30, 8)).toThrow(/outside/);
  });

  it('survives random alloc/release traffic without overlap or leak', () => {
    const a = new SharedArena(4096);
    const live: { offset: number; length: number }[] = [];
    let seed = 7;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    for (let step = 0; step < 5000; step++) {
      if (live.length > 0 && rnd(2) === 0) {
        const [x] = live.splice(rnd(live.length), 1);
        // Give it back in two pieces, the later one first.
        const cut = rnd(x!.length + 1);
        a.release(x!.offset + cut, x!.length - cut);
        a.release(x!.offset, cut);
      } else {
        const len = 1 + rnd(300);
        const r = a.alloc(len);
        if (!r) continue;
        for (const l of live) expect(r.offset + r.bytes.length <= l.offset || l.offset + l.length <= r.offset).toBe(true);
        live.push({ offset: r.offset, length: r.bytes.length });
      }
      expect(a.inUse).toBe(live.reduce((n, l) => n + l.length, 0));
    }
    for (const l of live) a.release(l.offset, l.length);
    expect(a.inUse).toBe(0);
    expect(a.alloc(4096)).not.toBeNull();
  });
});
