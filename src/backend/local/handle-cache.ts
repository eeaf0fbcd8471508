// Open files kept for ranged reads. A ranged read of a pack (a tree blob while a backup walks, a
// file's blob in `dump`, a batch in `copy`) took three trips through libuv's thread pool: open,
// read, close, 133 µs on the machine of docs/BENCHMARKS.md against 41 µs for the read alone.
// Keeping the last files read open saves two of them. Packs never change under their name (the
// name is the hash of the content); a file saved again or removed through this backend is dropped
// from the cache all the same, and a file removed by another process stays readable as it was.
// A handle idle for a second is closed (a sweep on an unreferenced timer), so a backend no longer
// used holds no file open: Node warns about a FileHandle closed by the garbage collector.
import { promises as fsp } from 'node:fs';

type FileHandle = fsp.FileHandle;

interface Entry {
  readonly handle: Promise<FileHandle>;
  /** Reads using the handle now: it is closed only when none is left. */
  users: number;
  /** Out of the cache: closed once its last read ends. */
  retired: boolean;
  lastUsed: number;
}

const IDLE_MS = 1000;

export class HandleCache {
  private readonly max: number;
  /** In the order of last use, the oldest first. */
  private readonly entries = new Map<string, Entry>();
  private sweep: NodeJS.Timeout | null = null;

  constructor(max: number) {
    this.max = max;
  }

  /** Runs `read` with an open handle of `path` (opened now when not cached). An open that fails is not cached. */
  async read<T>(path: string, read: (fh: FileHandle) => Promise<T>): Promise<T> {
    let e = this.entries.get(path);
    if (e) {
      this.entries.delete(path);
      this.entries.set(path, e);
    } else {
      e = { handle: fsp.open(path, 'r'), users: 0, retired: false, lastUsed: 0 };
      this.entries.set(path, e);
      const opened = e;
      opened.handle.catch(() => {
        if (this.entries.get(path) === opened) this.entries.delete(path);
      });
      this.evict();
      this.scheduleSweep();
    }
    e.users++;
    try {
      return await read(await e.handle);
    } finally {
      e.users--;
      e.lastUsed = performance.now();
      if (e.retired && e.users === 0) void closeQuietly(e);
    }
  }

  private scheduleSweep(): void {
    if (this.sweep) return;
    this.sweep = setTimeout(() => {
      this.sweep = null;
      const now = performance.now();
      for (const [path, e] of this.entries) {
        if (e.users === 0 && now - e.lastUsed >= IDLE_MS) {
          this.entries.delete(path);
          this.retire(e);
        }
      }
      if (this.entries.size > 0) this.scheduleSweep();
    }, IDLE_MS);
    this.sweep.unref();
  }

  /** Drops `path` from the cache (it is being replaced or removed). */
  forget(path: string): void {
    const e = this.entries.get(path);
    if (!e) return;
    this.entries.delete(path);
    this.retire(e);
  }

  /** Closes every cached handle (those in use once their reads end). */
  async closeAll(): Promise<void> {
    if (this.sweep) clearTimeout(this.sweep);
    this.sweep = null;
    const all = [...this.entries.values()];
    this.entries.clear();
    for (const e of all) this.retire(e);
    await Promise.all(all.filter((e) => e.users === 0).map((e) => e.handle.then((fh) => fh.close()).catch(() => undefined)));
  }

  private evict(): void {
    for (const [path, e] of this.entries) {
      if (this.entries.size <= this.max) return;
      this.entries.delete(path);
      this.retire(e);
    }
  }

  private retire(e: Entry): void {
    if (e.retired) return;
    e.retired = true;
    if (e.users === 0) void closeQuietly(e);
  }
}

async function closeQuietly(e: Entry): Promise<void> {
  try {
    await (await e.handle).close();
  } catch {
    // A handle that never opened, or is closed already: nothing to close.
  }
}
