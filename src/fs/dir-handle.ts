// Writing inside a folder tree that may be hostile (DESIGN.md "Reliability": restore never follows
// a link it did not create and never writes outside its target). Restore runs as root into targets
// that may already hold folders owned by other local users, who can plant symlinks or hardlinks at
// any level (`ln -s /etc T/home/alice/.ssh`) and swap them while the restore runs. O_NOFOLLOW and
// the l* calls protect only the last component of a path, so every directory below the target is
// opened relative to its parent's open handle, one component at a time, never following a link.
//
// Node has no openat(2). On Linux `/proc/self/fd/<fd>/<name>` gives the same thing: the kernel
// resolves the magic link `/proc/self/fd/<fd>` to exactly the directory the fd refers to (wherever
// it has been moved since, whatever now stands at its old path), and only `<name>` is looked up in
// it; that last component is never followed (O_NOFOLLOW, O_EXCL, lstat, lchown, lutimes, unlink,
// rmdir, mkdir, symlink and link do not follow it). Where /proc is not mounted (macOS, a chroot),
// each operation checks with lstat that the directory's path still leads to the directory held
// open (same device and inode: directories have no hardlinks, so that proves the path is ours at
// that moment) and then uses the path; a swap in the microseconds between the check and the call
// is the window this fallback leaves, and `viaProc` tells which one is in use.
//
// Directory handles are kept in a bounded LRU cache: the restorer creates files out of order as
// their data arrives, so a file's folder must be reachable again later, and a tree of 100k folders
// must not hold 100k descriptors. An evicted folder is opened again by walking from its nearest
// open ancestor (ultimately the target itself). Every operation here is synchronous: a handle is
// never closed by an eviction while a call that uses it through /proc is still in flight, and a
// descriptor number cannot be reused for another folder underneath it.
//
// Paths here are relative to the target, in the escaped form of src/fs/names.ts ('' is the target
// itself, 'a/b' a folder two levels down); they reach the filesystem only through fsPath.
import fs from 'node:fs';
import { EngineError, ErrorCode, type EngineErrorOptions } from '../errors/engine-error.js';
import { mkdirpSync } from './mkdirp.js';
import { decodeName, fsPath } from './names.js';

const C = fs.constants;
const DIR_FLAGS = C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW;
const FILE_FLAGS = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW;
/** A name that keeps changing under us between attempts is given up on after this many. */
const ATTEMPTS = 5;

/**
 * An entry of the target that is left as it is: something stands in the way that must not or
 * cannot be removed (a mount point, a folder that keeps changing). Per entry: the rest goes on.
 */
export class TargetEntryError extends EngineError {
  readonly path: string;
  constructor(path: string, message: string, opts: EngineErrorOptions = {}) {
    super(ErrorCode.PARTIAL, message, opts);
    this.path = path;
  }
}

interface Dir {
  readonly rel: string;
  readonly fd: number;
  /**
   * Device and inode (bigint: inodes pass 2^53), checked before each use of the path in the
   * fallback; through /proc only needed when an obstacle is removed or a hardlink made, so read
   * then (an fstat per folder less on the common path).
   */
  id: { dev: bigint; ino: bigint } | null;
  pins: number;
}

export interface DirTreeOptions {
  /** Folders kept open at once (the LRU bound). */
  maxOpen?: number;
  /** Use /proc/self/fd when it works (default); false forces the lstat fallback (tests). */
  procFd?: boolean;
  /** Told when something of the wrong type was removed to make room (the path, what stood there). */
  onReplace?: (path: string, what: string) => void;
}

export class DirTree {
  /** The target as the user named it (messages, and the fallback's paths). */
  readonly root: string;
  readonly viaProc: boolean;
  private readonly rootDir: Dir;
  private readonly cache = new Map<string, Dir>();
  private readonly maxOpen: number;
  private readonly onReplace: (path: string, what: string) => void;
  private closed = false;

  private constructor(root: string, rootDir: Dir, viaProc: boolean, opts: DirTreeOptions) {
    this.root = root;
    this.rootDir = rootDir;
    this.viaProc = viaProc;
    this.maxOpen = Math.max(2, opts.maxOpen ?? 256);
    this.onReplace = opts.onReplace ?? (() => undefined);
  }

  /**
   * Opens (creating it when missing) the target. The target itself and the folders above it are
   * the user's choice and are followed as given (a target that is a symlink to a mounted disk is
   * fine); only what is below it is distrusted.
   */
  static open(target: string, opts: DirTreeOptions = {}): DirTree {
    // Not Node's recursive mkdir: under /proc it retries forever at 100% CPU (src/fs/mkdirp.ts).
    try {
      mkdirpSync(target, 0o777);
    } catch (err) {
      throw new EngineError(ErrorCode.USAGE, `cannot create the restore target ${target}: ${(err as Error).message}`, { hint: 'give a --target folder that can be created and written' });
    }
    const fd = fs.openSync(fsPath(target), C.O_RDONLY | C.O_DIRECTORY);
    const st = fs.fstatSync(fd, { bigint: true });
    const rootDir: Dir = { rel: '', fd, id: { dev: st.dev, ino: st.ino }, pins: 1 };
    return new DirTree(target, rootDir, opts.procFd !== false && procWorks(fd, st), opts);
  }

  /** Closes every handle. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const d of this.cache.values()) fs.closeSync(d.fd);
    this.cache.clear();
    fs.closeSync(this.rootDir.fd);
  }

  /** The path of an entry for people: the target joined with the relative path. */
  display(rel: string): string {
    return rel ? `${this.root.replace(/\/+$/, '')}/${rel}` : this.root;
  }

  /**
   * Makes sure the folder `rel` exists as a real folder, every component of it: missing ones are
   * created (mode 0700 until the restore sets their own), a folder already there is reused, and
   * anything else standing at a component (a symlink, a file) is removed, never followed.
   */
  ensureDir(rel: string): void {
    this.dir(rel);
  }

  /** Runs `fn` with the open handle of folder `rel` (created as by ensureDir); the handle is only valid during the call. */
  withDir<T>(rel: string, fn: (fd: number) => T): T {
    return this.use(rel, (d) => fn(d.fd));
  }

  /**
   * Runs `fn` with the handle of folder `dir` (for the *at calls of native-bindings/posix: mknodat,
   * utimensat with AT_SYMLINK_NOFOLLOW) and the path of its entry `name` as the other calls here
   * use it. The callee must not follow `name` itself (l* calls, O_NOFOLLOW, *at with NOFOLLOW);
   * both are valid only during the call.
   */
  withEntry<T>(dir: string, name: string, fn: (dirFd: number, at: string | Buffer) => T): T {
    return this.use(dir, (d) => fn(d.fd, this.at(d, name)));
  }

  /**
   * Creates a new, empty file `name` in folder `dir` and returns its descriptor, open for writing.
   * Whatever stood there is removed first and the file is created with O_EXCL|O_NOFOLLOW, so it is
   * always a new inode: a symlink or a hardlink planted at the path (to /etc/shadow, say) is
   * replaced, never written through.
   */
  createFile(dir: string, name: string, mode = 0o600): number {
    return this.use(dir, (d) => {
      const at = this.at(d, name);
      for (let i = 0; ; i++) {
        try {
          return fs.openSync(at, FILE_FLAGS, mode);
        } catch (err) {
          if (errCode(err) !== 'EEXIST' || i >= ATTEMPTS) throw err;
          this.removeEntry(d, name, 'a file');
        }
      }
    });
  }

  /** Creates symlink `name` in folder `dir` pointing at `target` (escaped form), replacing whatever stands there. */
  symlink(dir: string, name: string, target: string): void {
    this.use(dir, (d) => {
      const at = this.at(d, name);
      for (let i = 0; ; i++) {
        try {
          fs.symlinkSync(fsPath(target), at);
          return;
        } catch (err) {
          if (errCode(err) !== 'EEXIST' || i >= ATTEMPTS) throw err;
          this.removeEntry(d, name, 'a symlink');
        }
      }
    });
  }

  /**
   * Creates FIFO or device node `name` in folder `dir` with `make` (given the entry's path as
   * withEntry gives it; it must not follow it: mknodat does not), replacing whatever stands there.
   * Returns what `make` returns (false: this platform cannot make such nodes).
   */
  makeNode(dir: string, name: string, make: (at: string | Buffer) => boolean): boolean {
    return this.use(dir, (d) => {
      const at = this.at(d, name);
      for (let i = 0; ; i++) {
        try {
          return make(at);
        } catch (err) {
          if (errCode(err) !== 'EEXIST' || i >= ATTEMPTS) throw err;
          this.removeEntry(d, name, 'a special file');
        }
      }
    });
  }

  /**
   * Makes `name` in folder `dir` a hardlink of `srcName` in folder `srcDir`, replacing whatever
   * stands there. When `expectIno` is given, the source must still be that inode (the file the
   * restore created), so a file swapped in by someone else is not linked into the target.
   */
  link(srcDir: string, srcName: string, dir: string, name: string, expectIno?: bigint): void {
    this.use(srcDir, (s) => {
      const from = this.at(s, srcName);
      if (expectIno !== undefined) {
        const st = fs.lstatSync(from, { bigint: true });
        if (!st.isFile() || st.ino !== expectIno || st.dev !== idOf(s).dev) throw new TargetEntryError(this.display(join(srcDir, srcName)), 'was replaced by something else while restoring; its hardlinks were not made');
      }
      this.use(dir, (d) => {
        const to = this.at(d, name);
        for (let i = 0; ; i++) {
          try {
            // link(2) does not follow a symlink at its source: it links the symlink itself.
            fs.linkSync(this.at(s, srcName), to);
            return;
          } catch (err) {
            if (errCode(err) !== 'EEXIST' || i >= ATTEMPTS) throw err;
            this.removeEntry(d, name, 'a hardlink');
          }
        }
      });
    });
  }

  /** Removes the entry `name` of folder `dir` if it is not a folder (a file the restore gave up on); never follows it. */
  unlink(dir: string, name: string): void {
    this.use(dir, (d) => {
      try {
        fs.unlinkSync(this.at(d, name));
      } catch (err) {
        if (errCode(err) !== 'ENOENT') throw err;
      }
    });
  }

  /** Sets a symlink's owner (when `owner` is given) and times, on the link itself. */
  setLinkMeta(dir: string, name: string, owner: { uid: number; gid: number } | null, time: number): void {
    this.use(dir, (d) => {
      const at = this.at(d, name);
      if (owner) fs.lchownSync(at, owner.uid, owner.gid);
      fs.lutimesSync(at, time, time);
    });
  }

  /** The device and inode of a folder's open handle (tests, and callers comparing identities). */
  identity(rel: string): { dev: bigint; ino: bigint } {
    return this.use(rel, (d) => idOf(d));
  }

  // --- handles ---------------------------------------------------------------------------------

  /** Runs `fn` with folder `rel` open and pinned (an eviction while it runs skips it). */
  private use<T>(rel: string, fn: (d: Dir) => T): T {
    const d = this.dir(rel);
    d.pins++;
    try {
      return fn(d);
    } finally {
      d.pins--;
    }
  }

  /** The open folder `rel`, from the cache or opened (created where missing) from its parent. */
  private dir(rel: string): Dir {
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
      const at = this.at(parent, name);
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
          this.removeEntry(parent, name, 'a folder');
        } else {
          throw err;
        }
        continue;
      }
      if (this.viaProc) return { rel, fd, id: null, pins: 0 };
      try {
        // The fallback opened a path: it must lead to the same folder an lstat of it shows now.
        const st = fs.fstatSync(fd, { bigint: true });
        const l = fs.lstatSync(this.at(parent, name), { bigint: true });
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
    throw new TargetEntryError(this.display(rel), 'keeps changing while the restore creates it (something else is writing to the target); left as it is');
  }

  /**
   * What to hand to an fs call for entry `name` of an open folder: through the folder's handle
   * (/proc), or, in the fallback, its path once an lstat showed it still leads to that folder.
   */
  private at(d: Dir, name: string): string | Buffer {
    // A name is one component: '..' or a '/' would lead out of the folder (the tree format
    // refuses such names already; a hostile repository must not get past this layer either).
    if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) throw new TargetEntryError(this.display(join(d.rel, name)), 'is not a name a restore can create');
    if (this.viaProc) return fsPath(`/proc/self/fd/${d.fd}/${name}`);
    return fsPath(`${this.verifiedPath(d)}/${name}`);
  }

  /** The path of a folder itself (for readdir). */
  private self(d: Dir): string | Buffer {
    if (this.viaProc) return `/proc/self/fd/${d.fd}`;
    return fsPath(this.verifiedPath(d));
  }

  private verifiedPath(d: Dir): string {
    const path = d.rel === '' ? this.root : `${this.root}/${d.rel}`;
    if (d.rel !== '') {
      const st = fs.lstatSync(fsPath(path), { bigint: true, throwIfNoEntry: false });
      if (!st || st.dev !== d.id?.dev || st.ino !== d.id?.ino) throw new TargetEntryError(this.display(d.rel), 'was moved or replaced while restoring (something else is writing to the target); left as it is');
    }
    return path;
  }

  // --- obstacles -------------------------------------------------------------------------------

  /**
   * Removes whatever stands at `name` in `parent`, never following a link: files, symlinks and
   * special files are unlinked, a folder is emptied through handles (each sub-folder opened with
   * O_NOFOLLOW relative to its parent, so a symlink inside is removed, not followed) and removed.
   * A folder on another filesystem (a mount point) is refused: removing it would empty a disk.
   */
  private removeEntry(parent: Dir, name: string, wanted: string): void {
    const at = this.at(parent, name);
    const st = fs.lstatSync(at, { bigint: true, throwIfNoEntry: false });
    if (!st) return;
    const rel = join(parent.rel, name);
    if (!st.isDirectory()) {
      fs.unlinkSync(at);
      if (!(st.isFile() && wanted === 'a file')) this.onReplace(this.display(rel), `${kindOf(st)} stood where the snapshot has ${wanted}; it was replaced`);
      return;
    }
    if (st.dev !== idOf(parent).dev) throw new TargetEntryError(this.display(rel), `is a mount point (another filesystem) where the snapshot has ${wanted}; left as it is`);
    this.removeTree(parent, name, rel, 0);
    this.onReplace(this.display(rel), `a folder stood where the snapshot has ${wanted}; it was removed with what it held and replaced`);
  }

  private removeTree(parent: Dir, name: string, rel: string, depth: number): void {
    if (depth > 4096) throw new TargetEntryError(this.display(rel), 'is nested too deep to remove; left as it is');
    let fd: number;
    try {
      fd = fs.openSync(this.at(parent, name), DIR_FLAGS);
    } catch (err) {
      const code = errCode(err);
      if (code === 'ENOENT') return;
      // Swapped for a symlink or a file since: remove that instead, without following it.
      if (code === 'ENOTDIR' || code === 'ELOOP') {
        fs.unlinkSync(this.at(parent, name));
        return;
      }
      throw err;
    }
    try {
      const st = fs.fstatSync(fd, { bigint: true });
      if (st.dev !== idOf(parent).dev) throw new TargetEntryError(this.display(rel), 'holds a mount point (another filesystem); left as it is');
      const d: Dir = { rel, fd, id: { dev: st.dev, ino: st.ino }, pins: 1 };
      if (!this.viaProc) {
        const l = fs.lstatSync(this.at(parent, name), { bigint: true });
        if (l.dev !== st.dev || l.ino !== st.ino) throw new TargetEntryError(this.display(rel), 'was replaced while being removed; left as it is');
      }
      for (const ent of fs.readdirSync(this.self(d), { withFileTypes: true, encoding: 'buffer' })) {
        const child = decodeName(ent.name);
        if (ent.isDirectory()) {
          this.removeTree(d, child, join(rel, child), depth + 1);
          continue;
        }
        try {
          fs.unlinkSync(this.at(d, child));
        } catch (err) {
          const code = errCode(err);
          if (code === 'ENOENT') continue;
          // A folder after all (the type was unknown, or it was swapped in): empty it too.
          if (code === 'EISDIR' || code === 'EPERM') this.removeTree(d, child, join(rel, child), depth + 1);
          else throw err;
        }
      }
    } finally {
      fs.closeSync(fd);
    }
    fs.rmdirSync(this.at(parent, name));
  }
}

function idOf(d: Dir): { dev: bigint; ino: bigint } {
  if (!d.id) {
    const st = fs.fstatSync(d.fd, { bigint: true });
    d.id = { dev: st.dev, ino: st.ino };
  }
  return d.id;
}

/** /proc/self/fd/N must lead to the very folder N is (not mounted, or another /proc, otherwise). */
function procWorks(fd: number, st: fs.BigIntStats): boolean {
  try {
    const p = fs.statSync(`/proc/self/fd/${fd}`, { bigint: true });
    return p.isDirectory() && p.dev === st.dev && p.ino === st.ino;
  } catch {
    return false;
  }
}

function join(dir: string, name: string): string {
  return dir ? `${dir}/${name}` : name;
}

function kindOf(st: fs.BigIntStats): string {
  if (st.isSymbolicLink()) return 'a symlink';
  if (st.isFile()) return st.nlink > 1n ? 'a hardlinked file' : 'a file';
  return 'a special file';
}

export function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}
