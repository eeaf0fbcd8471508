// Counts the files and bytes under the backup paths, next to the backup itself, so the progress
// display can show a percentage and an ETA (as restic's scanner does). Only used on a terminal.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';

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
      st = await fsp.lstat(path);
    } catch {
      return; // the backup itself reports unreadable paths
    }
    if (st.isFile()) {
      totals.files++;
      totals.bytes += st.size;
    } else if (st.isDirectory()) {
      let names: string[] = [];
      try {
        names = await fsp.readdir(path);
      } catch {
        return;
      }
      for (const n of names) await walk(join(path, n));
    }
  };
  void (async () => {
    for (const p of paths) await walk(p);
    totals.done = true;
  })();
  return totals;
}
