// Writing inside a folder tree that may be hostile (DESIGN.md "Reliability": restore never follows
// a link it did not create and never writes outside its target). Restore runs as root into targets
// that may already hold folders owned by other local users, who can plant symlinks or hardlinks at
// any level (`ln -s /etc T/home/alice/.ssh`) and swap them while the restore runs. O_NOFOLLOW and
// the l* calls protect only the last component of a path, so every directory below the target is
// opened relative to its parent's open handle, one component at a time, never following a link.
//
// Node has no openat(2): how an entry is reached through /proc/self/fd or, without /proc, through a
// path checked to lead to the folder held open, is in dir-paths.ts; `viaProc` tells which is used.
//
// Directory handles are kept in a bounded LRU cache (dir-handle-cache.ts, which says why); a
// handle is pinned while a call uses it through /proc (synchronous calls, and createFileAsync
// until its open on the libuv threadpool returns), so an eviction never closes it underneath one.
//
// Paths here are relative to the target, in the escaped form of src/fs/names.ts ('' is the target
// itself, 'a/b' a folder two levels down); they reach the filesystem only through fsPath.
import fs from 'node:fs';
import { EngineError, ErrorCode } from '../errors/engine-error.js';
import { ATTEMPTS, DirHandleCache } from './dir-handle-cache.js';
import { type Dir, DirPaths, idOf, join, procWorks } from './dir-paths.js';
import { mkdirpSync } from './mkdirp.js';
import { fsPath } from './names.js';
import { ObstacleRemover } from './obstacle-remover.js';
import { errCode, TargetEntryError } from './target-entry-error.js';

const C = fs.constants;
const FILE_FLAGS = C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW;

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
  private readonly paths: DirPaths;
  private readonly obstacles: ObstacleRemover;
  private readonly handles: DirHandleCache;

  private constructor(root: string, rootDir: Dir, viaProc: boolean, opts: DirTreeOptions) {
    this.root = root;
    this.viaProc = viaProc;
    this.paths = new DirPaths(root, viaProc);
    this.obstacles = new ObstacleRemover(this.paths, opts.onReplace ?? (() => undefined));
    this.handles = new DirHandleCache(this.paths, this.obstacles, rootDir, Math.max(2, opts.maxOpen ?? 256));
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
    this.handles.close();
  }

  /** The path of an entry for people: the target joined with the relative path. */
  display(rel: string): string {
    return this.paths.display(rel);
  }

  /**
   * Makes sure the folder `rel` exists as a real folder, every component of it: missing ones are
   * created (mode 0700 until the restore sets their own), a folder already there is reused, and
   * anything else standing at a component (a symlink, a file) is removed, never followed.
   */
  ensureDir(rel: string): void {
    this.handles.dir(rel);
  }

  /** Runs `fn` with the open handle of folder `rel` (created as by ensureDir); the handle is only valid during the call. */
  withDir<T>(rel: string, fn: (fd: number) => T): T {
    return this.handles.use(rel, (d) => fn(d.fd));
  }

  /**
   * Runs `fn` with the handle of folder `dir` (for the *at calls of native-bindings/posix: mknodat,
   * utimensat with AT_SYMLINK_NOFOLLOW) and the path of its entry `name` as the other calls here
   * use it. The callee must not follow `name` itself (l* calls, O_NOFOLLOW, *at with NOFOLLOW);
   * both are valid only during the call.
   */
  withEntry<T>(dir: string, name: string, fn: (dirFd: number, at: string | Buffer) => T): T {
    return this.handles.use(dir, (d) => fn(d.fd, this.paths.at(d, name)));
  }

  /**
   * Creates a new, empty file `name` in folder `dir` and returns its descriptor, open for writing.
   * Whatever stood there is removed first and the file is created with O_EXCL|O_NOFOLLOW, so it is
   * always a new inode: a symlink or a hardlink planted at the path (to /etc/shadow, say) is
   * replaced, never written through.
   */
  createFile(dir: string, name: string, mode = 0o600): number {
    return this.handles.use(dir, (d) => {
      const at = this.paths.at(d, name);
      for (let i = 0; ; i++) {
        try {
          return fs.openSync(at, FILE_FLAGS, mode);
        } catch (err) {
          if (errCode(err) !== 'EEXIST' || i >= ATTEMPTS) throw err;
          this.obstacles.removeEntry(d, name, 'a file');
        }
      }
    });
  }

  /**
   * createFile off the main thread: the open (which waits for the disk on a cold cache) runs on
   * the libuv threadpool through the folder's handle, pinned until it returns. Without /proc the
   * path is checked to lead to the folder and used at once, synchronously: an asynchronous call
   * would widen the window between that check and the call that the fallback leaves.
   */
  async createFileAsync(dir: string, name: string, mode = 0o600): Promise<number> {
    if (!this.viaProc) return this.createFile(dir, name, mode);
    return this.handles.useAsync(dir, async (d) => {
      const at = this.paths.at(d, name);
      for (let i = 0; ; i++) {
        try {
          return await openFile(at, FILE_FLAGS, mode);
        } catch (err) {
          if (errCode(err) !== 'EEXIST' || i >= ATTEMPTS) throw err;
          this.obstacles.removeEntry(d, name, 'a file');
        }
      }
    });
  }

  /** Creates symlink `name` in folder `dir` pointing at `target` (escaped form), replacing whatever stands there. */
  symlink(dir: string, name: string, target: string): void {
    this.handles.use(dir, (d) => {
      const at = this.paths.at(d, name);
      for (let i = 0; ; i++) {
        try {
          fs.symlinkSync(fsPath(target), at);
          return;
        } catch (err) {
          if (errCode(err) !== 'EEXIST' || i >= ATTEMPTS) throw err;
          this.obstacles.removeEntry(d, name, 'a symlink');
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
    return this.handles.use(dir, (d) => {
      const at = this.paths.at(d, name);
      for (let i = 0; ; i++) {
        try {
          return make(at);
        } catch (err) {
          if (errCode(err) !== 'EEXIST' || i >= ATTEMPTS) throw err;
          this.obstacles.removeEntry(d, name, 'a special file');
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
    this.handles.use(srcDir, (s) => {
      const from = this.paths.at(s, srcName);
      if (expectIno !== undefined) {
        const st = fs.lstatSync(from, { bigint: true });
        if (!st.isFile() || st.ino !== expectIno || st.dev !== idOf(s).dev) throw new TargetEntryError(this.display(join(srcDir, srcName)), 'was replaced by something else while restoring; its hardlinks were not made');
      }
      this.handles.use(dir, (d) => {
        const to = this.paths.at(d, name);
        for (let i = 0; ; i++) {
          try {
            // link(2) does not follow a symlink at its source: it links the symlink itself.
            fs.linkSync(this.paths.at(s, srcName), to);
            return;
          } catch (err) {
            if (errCode(err) !== 'EEXIST' || i >= ATTEMPTS) throw err;
            this.obstacles.removeEntry(d, name, 'a hardlink');
          }
        }
      });
    });
  }

  /**
   * Removes entry `name` of folder `dir` with all it holds (restore --delete: the snapshot has no
   * such entry), never following a link and never crossing into another filesystem.
   */
  remove(dir: string, name: string): void {
    this.handles.use(dir, (d) => this.obstacles.deleteEntry(d, name));
  }

  /** Removes the entry `name` of folder `dir` if it is not a folder (a file the restore gave up on); never follows it. */
  unlink(dir: string, name: string): void {
    this.handles.use(dir, (d) => {
      try {
        fs.unlinkSync(this.paths.at(d, name));
      } catch (err) {
        if (errCode(err) !== 'ENOENT') throw err;
      }
    });
  }

  /** Sets a symlink's owner (when `owner` is given) and times, on the link itself. */
  setLinkMeta(dir: string, name: string, owner: { uid: number; gid: number } | null, time: number): void {
    this.handles.use(dir, (d) => {
      const at = this.paths.at(d, name);
      if (owner) fs.lchownSync(at, owner.uid, owner.gid);
      fs.lutimesSync(at, time, time);
    });
  }

  /** The device and inode of a folder's open handle (tests, and callers comparing identities). */
  identity(rel: string): { dev: bigint; ino: bigint } {
    return this.handles.use(rel, (d) => idOf(d));
  }
}

function openFile(path: string | Buffer, flags: number, mode: number): Promise<number> {
  return new Promise((resolve, reject) => fs.open(path, flags, mode, (err, fd) => (err ? reject(err) : resolve(fd))));
}
