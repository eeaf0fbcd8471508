// How an fs call reaches an entry of a folder held open: through /proc/self/fd, or by a path checked to lead there still.
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
import fs from 'node:fs';
import { fsPath } from './names.js';
import { TargetEntryError } from './target-entry-error.js';

const C = fs.constants;
export const DIR_FLAGS = C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW;

/** A folder of the target held open (by DirHandleCache), with its path relative to the target. */
export interface Dir {
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

/** The target's root and mode (/proc or the lstat fallback): turns an open folder and a name into what fs calls take. */
export class DirPaths {
  /** The target as the user named it (messages, and the fallback's paths). */
  readonly root: string;
  readonly viaProc: boolean;

  constructor(root: string, viaProc: boolean) {
    this.root = root;
    this.viaProc = viaProc;
  }

  /** The path of an entry for people: the target joined with the relative path. */
  display(rel: string): string {
    return rel ? `${this.root.replace(/\/+$/, '')}/${rel}` : this.root;
  }

  /**
   * What to hand to an fs call for entry `name` of an open folder: through the folder's handle
   * (/proc), or, in the fallback, its path once an lstat showed it still leads to that folder.
   */
  at(d: Dir, name: string): string | Buffer {
    // A name is one component: '..' or a '/' would lead out of the folder (the tree format
    // refuses such names already; a hostile repository must not get past this layer either).
    if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) throw new TargetEntryError(this.display(join(d.rel, name)), 'is not a name a restore can create');
    if (this.viaProc) return fsPath(`/proc/self/fd/${d.fd}/${name}`);
    return fsPath(`${this.verifiedPath(d)}/${name}`);
  }

  /** The path of a folder itself (for readdir). */
  self(d: Dir): string | Buffer {
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
}

export function idOf(d: Dir): { dev: bigint; ino: bigint } {
  if (!d.id) {
    const st = fs.fstatSync(d.fd, { bigint: true });
    d.id = { dev: st.dev, ino: st.ino };
  }
  return d.id;
}

/** /proc/self/fd/N must lead to the very folder N is (not mounted, or another /proc, otherwise). */
export function procWorks(fd: number, st: fs.BigIntStats): boolean {
  try {
    const p = fs.statSync(`/proc/self/fd/${fd}`, { bigint: true });
    return p.isDirectory() && p.dev === st.dev && p.ino === st.ino;
  } catch {
    return false;
  }
}

export function join(dir: string, name: string): string {
  return dir ? `${dir}/${name}` : name;
}
