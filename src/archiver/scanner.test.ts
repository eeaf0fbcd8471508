import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { workdirPerTest } from '../../test/support/workdir.js';
import { startScan } from './scanner.js';

describe('startScan', () => {
  const work = workdirPerTest('engine-scan-');

  it('counts the files and bytes below the paths, a path inside another (or given twice) once', async () => {
    await mkdir(join(work.path, 'a', 'b'), { recursive: true });
    await writeFile(join(work.path, 'a', 'one'), 'x'.repeat(100));
    await writeFile(join(work.path, 'a', 'b', 'two'), 'y'.repeat(1000));
    const totals = startScan([join(work.path, 'a', 'b'), join(work.path, 'a'), join(work.path, 'a', 'b', 'two'), join(work.path, 'a')]);
    await expect.poll(() => totals.done).toBe(true);
    expect(totals).toMatchObject({ files: 2, bytes: 1100 });
  });
});
