// Counts the files and bytes under the backup paths, next to the backup itself, so the progress
// display can show a percentage and an ETA (as restic's scanner does). Only used on a terminal.
// Names are read as bytes (src/fs/names.ts), like the backup's own walk: a folder whose name is
// not UTF-8 is counted, not missed as "not found".
import { promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import { decodeName, fsPath } from '../fs/names.js';
import { targetTree, walkedPaths } from './target-tree.js';

export interface ScanTotals {
  files: number;
  bytes: number;
  /** True once every path was walked (the totals are final). */
  done: boolean;
}

export function startScan(paths: string[], signal?: AbortSignal): ScanTotals {
  const totals: ScanTotals = { files: 0, bytes: 0, done: false };
  const walk = async (path: string): Promise<void> => {
    if (signal?.aborted) return;
    let st;
    try {
      st = await fsp.lstat(fsPath(path));
    } catch {
      return; // the backup itself reports unreadable paths
    }
    if (st.isFile()) {
      totals.files++;
      totals.bytes += st.size;
    } else if (st.isDirectory()) {
      let names: Buffer[] = [];
      try {
        names = await fsp.readdir(fsPath(path), { encoding: 'buffer' });
      } catch {
        return;
      }
      for (const n of names) await walk(join(path, decodeName(n)));
    }
  };
  void (async () => {
    // A path inside another is counted once, as it is stored once.
    for (const p of walkedPaths(targetTree(paths.map((x) => resolve(x))))) await walk(p);
    totals.done = true;
  })();
  return totals;
}
