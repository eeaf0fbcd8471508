import { describe, expect, it } from 'vitest';
import { LEVEL_FLOOR_MBPS, recommend, recommendCipher, recommendLevel } from './recommend.js';
import { CHOSEN, machineRows } from '../../test/support/bench-reports.js';

describe('recommendCipher', () => {
  it('keeps xchacha20-poly1305 unless AES is more than 1.2x faster', () => {
    const close = recommendCipher({ rows: machineRows({ xcSeal: 1000, xcOpen: 1000, aesSeal: 1150, aesOpen: 1190 }), chosen: CHOSEN });
    expect(close.cipher).toBe('xchacha20-poly1305');
    expect(close.scores['aes-256-gcm']).toBe(1150);
    const fast = recommendCipher({ rows: machineRows({ xcSeal: 1000, xcOpen: 900, aesSeal: 3000, aesOpen: 2000 }), chosen: CHOSEN });
    expect(fast.cipher).toBe('aes-256-gcm');
    expect(fast.scores).toEqual({ 'xchacha20-poly1305': 900, 'aes-256-gcm': 2000 });
    expect(fast.reason).toMatch(/2\.22x/);
  });

  it('uses the slower of seal and open, so a slow AES open (no AES instructions) keeps xchacha', () => {
    const r = recommendCipher({ rows: machineRows({ xcSeal: 170, xcOpen: 180, aesSeal: 900, aesOpen: 27 }), chosen: CHOSEN });
    expect(r.cipher).toBe('xchacha20-poly1305');
  });

  it('keeps the default when a cipher was not measured', () => {
    const rows = machineRows({ xcSeal: 100, xcOpen: 100, aesSeal: 1000, aesOpen: 1000 }).filter((r) => r.primitive !== 'xchacha20poly1305');
    expect(recommendCipher({ rows, chosen: CHOSEN }).cipher).toBe('xchacha20-poly1305');
  });
});

describe('recommendLevel', () => {
  const levels = { 1: 500, 3: 300, 9: 60, 19: 4 };

  it('picks the highest level at or above min(100 MB/s, slowest other stage)', () => {
    const m = { rows: machineRows({ xcSeal: 1000, xcOpen: 1000, aesSeal: 1, aesOpen: 1, levels }), chosen: CHOSEN };
    const r = recommendLevel(m, 'xchacha20-poly1305');
    expect(r?.thresholdMBps).toBe(LEVEL_FLOOR_MBPS);
    expect(r?.level).toBe(3);
    expect(r?.levels.map((l) => l.level)).toEqual([1, 3, 9, 19]);
  });

  it('lowers the threshold to the slowest other stage on a slow machine', () => {
    const m = { rows: machineRows({ xcSeal: 50, xcOpen: 60, aesSeal: 10, aesOpen: 10, levels, chunk: 400 }), chosen: CHOSEN };
    const r = recommendLevel(m, 'xchacha20-poly1305');
    expect(r?.thresholdMBps).toBe(50);
    expect(r?.level).toBe(9);
    expect(r?.reason).toMatch(/seal xchacha20-poly1305 50 MB\/s/);
  });

  it('falls back to the lowest level measured when none reaches the threshold, and to null without figures', () => {
    const m = { rows: machineRows({ xcSeal: 1000, xcOpen: 1000, aesSeal: 1, aesOpen: 1, levels: { 3: 40, 9: 10 } }), chosen: CHOSEN };
    expect(recommendLevel(m, 'xchacha20-poly1305')?.level).toBe(3);
    expect(recommendLevel({ rows: machineRows({ xcSeal: 1, xcOpen: 1, aesSeal: 1, aesOpen: 1 }), chosen: CHOSEN }, 'aes-256-gcm')).toBeNull();
  });

  it('reads only the chosen zstd implementation', () => {
    const rows = machineRows({ xcSeal: 1000, xcOpen: 1000, aesSeal: 1, aesOpen: 1, levels: { 3: 300 } });
    const r = recommend({ rows, chosen: { ...CHOSEN, zstd: { impl: 'elsewhere' } } });
    expect(r.compressionLevel).toBeNull();
    expect(r.cipher.cipher).toBe('xchacha20-poly1305');
  });
});
