// The folders of the target held open, in a bounded LRU cache; an evicted one is opened again from its parent.
//
// Directory handles are kept in a bounded LRU cache: the restorer creates files out of order as
// their data arrives, so a file's folder must be reachable again later, and a tree of 100k folders
// must not hold 100k descriptors. An evicted folder is opened again by walking from its nearest
// open ancestor (ultimately the target itself). A handle is never closed by an eviction while a
// call that uses it through /proc is still in flight, so a descriptor number cannot be reused for
// another folder underneath it: synchronous calls run inside `use`, asynchronous ones inside
// `useAsync`, which keeps the folder pinned until they settle.
import fs from 'node:fs';
import { type Dir, DIR_FLAGS, DirPaths } from './dir-paths.js';
import type { ObstacleRemover } from './obstacle-remover.js';
import { errCode, TargetEntryError } from './target-entry-error.js';

/** A name that keeps changing under us between attempts is given up on after this many. */
export const ATTEMPTS = 5;

export class DirHandleCache {
  private readonly paths: DirPaths;
  private readonly obstacles: ObstacleRemover;
  private readonly rootDir: Dir;
  private readonly cache = new Map<string, Dir>();
  private readonly maxOpen: number;
  private closed = false;

  constructor(paths: DirPaths, obstacles: ObstacleRemover, rootDir: Dir, maxOpen: number) {
    this.paths = paths;
    this.obstacles = obstacles;
    this.rootDir = rootDir;
    this.maxOpen = maxOpen;
  }

  /**
   * Closes every handle; one that an asynchronous call still uses (useAsync) is closed when that
   * call returns: closed now, its descriptor number could be reused for another folder (or one
   * outside the target) before the call on the threadpool reaches the entry through it.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const d of this.cache.values()) if (!this.inUse(d)) fs.closeSync(d.fd);
    this.cache.clear();
    if (!this.inUse(this.rootDir)) fs.closeSync(this.rootDir.fd);
  }

  /** Whether a call still uses the handle (the root is pinned once for as long as the tree is open). */
  private inUse(d: Dir): boolean {
    return d.pins > (d === this.rootDir ? 1 : 0);
  }

  /** Runs `fn` with folder `rel` open and pinned (an eviction while it runs skips it). */
  use<T>(rel: string, fn: (d: Dir) => T): T {
    const d = this.dir(rel);
    d.pins++;
    try {
      return fn(d);
    } finally {
      d.pins--;
    }
  }

  /**
   * Runs the asynchronous `fn` with folder `rel` open and pinned until its promise settles: a
   * call on the libuv threadpool that reaches an entry through /proc/self/fd/<fd> needs that
   * descriptor open (and not reused for another folder) until it returns, so no eviction closes
   * it meanwhile; the cache may hold more than its bound while many such calls are in flight.
   */
  async useAsync<T>(rel: string, fn: (d: Dir) => Promise<T>): Promise<T> {
    const d = this.dir(rel);
    d.pins++;
    try {
      return await fn(d);
    } finally {
      d.pins--;
      // The tree was closed while this call ran: its handle's close was left to it.
      if (this.closed && !this.inUse(d)) fs.closeSync(d.fd);
    }
  }

  /** The open folder `rel`, from the cache or opened (created where missing) from its parent. */
  dir(rel: string): Dir {
    if (this.closed) throw new Error('DirTree is closed');
    if (rel === '') return this.rootDir;
    const cached = this.cache.get(rel);
    if (cached) {
      // Most recently used last: Map keeps insertion order.
      this.cache.delete(rel);
      this.cache.set(rel, cached);
      return cached;
    }
    const slash = rel.lastIndexOf('/');
    const parentRel = slash < 0 ? '' : rel.slice(0, slash);
    const name = slash < 0 ? rel : rel.slice(slash + 1);
    const child = this.use(parentRel, (p) => this.openChild(p, name, rel));
    this.cache.set(rel, child);
    this.evict(child);
    return child;
  }

  /** Closes the least recently used folders beyond the bound, never a pinned one nor `keep` (just opened for the caller). */
  private evict(keep: Dir): void {
    if (this.cache.size <= this.maxOpen) return;
    for (const [rel, d] of this.cache) {
      if (this.cache.size <= this.maxOpen) break;
      if (d.pins > 0 || d === keep) continue;
      this.cache.delete(rel);
      fs.closeSync(d.fd);
    }
  }

  /** Opens sub-folder `name` of `parent` without following a link, creating it or clearing what is in the way. */
  private openChild(parent: Dir, name: string, rel: string): Dir {
    for (let i = 0; i < ATTEMPTS; i++) {
      const at = this.paths.at(parent, name);
      // Created first: a restore mostly goes into an empty target, where this saves a failed open.
      // mkdir never follows a link at its last component: a symlink there makes it fail (EEXIST).
      try {
        fs.mkdirSync(at, 0o700);
      } catch (e) {
        if (errCode(e) !== 'EEXIST') throw e;
      }
      let fd: number;
      try {
        fd = fs.openSync(at, DIR_FLAGS);
      } catch (err) {
        const code = errCode(err);
        if (code === 'ENOENT') {
          // Removed between the two calls: again.
        } else if (code === 'ENOTDIR' || code === 'ELOOP') {
          // A symlink (O_NOFOLLOW with O_DIRECTORY says ENOTDIR), a file or a special file.
          this.obstacles.removeEntry(parent, name, 'a folder');
        } else {
          throw err;
        }
        continue;
      }
      if (this.paths.viaProc) return { rel, fd, id: null, pins: 0 };
      try {
        // The fallback opened a path: it must lead to the same folder an lstat of it shows now.
        const st = fs.fstatSync(fd, { bigint: true });
        const l = fs.lstatSync(this.paths.at(parent, name), { bigint: true });
        if (l.dev !== st.dev || l.ino !== st.ino) {
          fs.closeSync(fd);
          continue;
        }
        return { rel, fd, id: { dev: st.dev, ino: st.ino }, pins: 0 };
      } catch (err) {
        fs.closeSync(fd);
        throw err;
      }
    }
    throw new TargetEntryError(this.paths.display(rel), 'keeps changing while the restore creates it (something else is writing to the target); left as it is');
  }
}
