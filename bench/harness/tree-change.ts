// The change between two backups of the peers benchmark: ~2% of the tree's bytes, the same for
// every tool and every run with the same seed.

import fs from 'node:fs/promises';
import path from 'node:path';
import { Prng } from '../../src/benchmark/prng.js';
import { roundTo } from './report.js';
import { listFiles, type FileEntry } from './tree.js';

export interface ChangeStats {
  targetBytes: number;
  changedBytes: number;
  rewrittenFiles: number;
  rewrittenBytes: number;
  appendedFiles: number;
  appendedBytes: number;
  overwrittenFile: string;
  overwrittenRegions: number;
  overwrittenBytes: number;
  seconds: number;
}

/**
 * Change ~2% of the tree's bytes, deterministically from the seed (same tree, same seed: same
 * change). New bytes are random (incompressible, never deduplicated):
 *   ~1/2 by rewriting whole files of 4 KiB .. 1/8 of the budget with new contents of the same size,
 *   ~1/4 by appending to 20 other files,
 *   ~1/4 by overwriting 8 regions in place inside the largest file (like a database or disk image).
 */
export async function changeTree(root: string, seed: number, fraction: number): Promise<ChangeStats> {
  const t0 = performance.now();
  const rng = new Prng(seed).fork('peers-2%-change');
  const files = await listFiles(root);
  const total = files.reduce((s, f) => s + f.size, 0);
  const budget = Math.round(total * fraction);
  const largest = files.reduce((a, b) => (b.size > a.size ? b : a));
  const others = files.filter((f) => f !== largest);
  for (let i = others.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [others[i], others[j]] = [others[j]!, others[i]!];
  }
  const st: ChangeStats = {
    targetBytes: budget,
    changedBytes: 0,
    rewrittenFiles: 0,
    rewrittenBytes: 0,
    appendedFiles: 0,
    appendedBytes: 0,
    overwrittenFile: largest.rel,
    overwrittenRegions: 0,
    overwrittenBytes: 0,
    seconds: 0,
  };
  const used = new Set<FileEntry>();
  // 1. rewrites
  const maxRewrite = Math.max(4096, Math.floor(budget / 8));
  for (const f of others) {
    if (st.rewrittenBytes >= budget / 2) break;
    if (f.size < 4096 || f.size > maxRewrite) continue;
    await fs.writeFile(path.join(root, f.rel), rng.bytes(f.size));
    used.add(f);
    st.rewrittenFiles++;
    st.rewrittenBytes += f.size;
  }
  // 2. appends
  const appendFiles = others.filter((f) => !used.has(f)).slice(0, 20);
  const appendEach = Math.max(1, Math.floor(budget / 4 / Math.max(1, appendFiles.length)));
  for (const f of appendFiles) {
    await fs.appendFile(path.join(root, f.rel), rng.bytes(appendEach));
    st.appendedFiles++;
    st.appendedBytes += appendEach;
  }
  // 3. in-place overwrites in the largest file
  const regions = 8;
  const regionBytes = Math.max(1, Math.min(Math.floor(largest.size / regions), Math.floor((budget - st.rewrittenBytes - st.appendedBytes) / regions)));
  const fh = await fs.open(path.join(root, largest.rel), 'r+');
  try {
    for (let r = 0; r < regions && regionBytes > 0; r++) {
      // One region in each eighth of the file, at a random place inside it.
      const span = Math.floor(largest.size / regions);
      const offset = r * span + rng.int(Math.max(1, span - regionBytes));
      await fh.write(rng.bytes(regionBytes), 0, regionBytes, offset);
      st.overwrittenRegions++;
      st.overwrittenBytes += regionBytes;
    }
  } finally {
    await fh.close();
  }
  st.changedBytes = st.rewrittenBytes + st.appendedBytes + st.overwrittenBytes;
  st.seconds = roundTo((performance.now() - t0) / 1000, 2);
  return st;
}
