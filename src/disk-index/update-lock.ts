// The cache folder's update lock: only the process holding it changes the runs and the manifest.
import { closeSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const LOCK = 'update.lock';
/** An update lock older than this is taken for abandoned even if its pid looks alive (pid reuse). */
const LOCK_STALE_MS = 30 * 60 * 1000;

/**
 * Takes the cache folder's update lock (a file created exclusively, holding our pid), waiting for
 * another process that updates it; a lock whose process is gone, or that is very old, is taken over.
 */
export async function takeUpdateLock(dir: string, signal?: AbortSignal, onWait?: (m: string) => void): Promise<() => void> {
  const path = join(dir, LOCK);
  let told = false;
  for (;;) {
    signal?.throwIfAborted();
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (lockIsStale(path)) {
      rmSync(path, { force: true });
      continue;
    }
    if (!told) {
      onWait?.('another engine process is updating the local index cache: waiting for it');
      told = true;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function lockIsStale(path: string): boolean {
  try {
    const pid = Number(readFileSync(path, 'utf8'));
    if (Date.now() - statSync(path).mtimeMs > LOCK_STALE_MS) return true;
    if (!Number.isInteger(pid) || pid <= 0) return Date.now() - statSync(path).mtimeMs > 5000;
    process.kill(pid, 0);
    return false;
  } catch (err) {
    // ESRCH: no such process; ENOENT: released meanwhile (then the next try takes it).
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ESRCH' || code === 'ENOENT';
  }
}
