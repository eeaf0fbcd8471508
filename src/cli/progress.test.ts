// The progress line's text (progress.ts): never wider than the terminal, 100% only once
// everything is stored, the current file cut from its start.
import { describe, expect, it } from 'vitest';
import { columns, type ProgressFigures, progressText } from './progress.js';

const figures = (over: Partial<ProgressFigures> = {}): ProgressFigures => ({
  seconds: 12,
  files: 1234,
  filesTotal: 9824,
  bytes: 700 * 1024 * 1024,
  totalBytes: 1024 * 1024 * 1024,
  stored: 300 * 1024 * 1024,
  current: '/srv/photos/2026/12/a-rather-long-folder-name/IMG_20261207_101112.jpg',
  errors: 2,
  done: false,
  ...over,
});

describe('progress line', () => {
  it('fits every width from 10 to 200 columns', () => {
    for (let width = 10; width <= 200; width++) {
      for (const f of [figures(), figures({ filesTotal: null, totalBytes: null }), figures({ current: null, errors: 0 }), figures({ done: true })]) {
        expect(columns(progressText('backup', f, width)), `width ${width}`).toBeLessThanOrEqual(width);
      }
    }
  });

  it('says 100% only when done; everything read but not stored says so', () => {
    expect(progressText('backup', figures({ bytes: 1024 * 1024 * 1024 }), 200)).toContain('99.9%  storing');
    expect(progressText('backup', figures({ bytes: 1024 * 1024 * 1024 }), 200)).not.toContain('100.0%');
    expect(progressText('backup', figures({ done: true }), 200)).toContain('100.0%');
  });

  it('keeps the most useful parts when narrow, and the end of the current file\'s name', () => {
    const wide = progressText('backup', figures(), 200);
    expect(wide).toContain('1234/9824 files');
    expect(wide).toContain('2 errors');
    expect(wide).toContain('stored 300 MiB');
    expect(wide.endsWith('IMG_20261207_101112.jpg')).toBe(true);
    const narrow = progressText('backup', figures(), 40);
    expect(narrow).toContain('68.4%');
    expect(narrow).toContain('1234/9824 files');
    expect(narrow).not.toContain('stored');
  });

  it('counts wide characters as two columns and never cuts inside one', () => {
    expect(columns('写真/旅行.jpg')).toBe(2 * 4 + 1 + 4);
    expect(columns('😀')).toBe(2);
    const cjk = figures({ current: `/srv/${'写真'.repeat(40)}/😀😀😀.jpg` });
    for (let width = 20; width <= 160; width++) {
      const line = progressText('backup', cjk, width);
      expect(columns(line), `width ${width}`).toBeLessThanOrEqual(width);
      // No lone surrogate: every character is whole.
      expect(line).toBe(Buffer.from(line, 'utf8').toString('utf8'));
    }
  });
});
