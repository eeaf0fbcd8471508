// Clears what stands where the restore must create something, never following a link and never crossing into another filesystem.
import fs from 'node:fs';
import { type Dir, DIR_FLAGS, DirPaths, idOf, join } from './dir-paths.js';
import { decodeName } from './names.js';
import { errCode, TargetEntryError } from './target-entry-error.js';

export class ObstacleRemover {
  private readonly paths: DirPaths;
  private readonly onReplace: (path: string, what: string) => void;

  constructor(paths: DirPaths, onReplace: (path: string, what: string) => void) {
    this.paths = paths;
    this.onReplace = onReplace;
  }

  /**
   * Removes whatever stands at `name` in `parent`, never following a link: files, symlinks and
   * special files are unlinked, a folder is emptied through handles (each sub-folder opened with
   * O_NOFOLLOW relative to its parent, so a symlink inside is removed, not followed) and removed.
   * A folder on another filesystem (a mount point) is refused: removing it would empty a disk.
   */
  removeEntry(parent: Dir, name: string, wanted: string): void {
    const removed = this.remove(parent, name, `where the snapshot has ${wanted}`);
    if (removed === null) return;
    const rel = this.paths.display(join(parent.rel, name));
    if (removed.isDirectory()) this.onReplace(rel, `a folder stood where the snapshot has ${wanted}; it was removed with what it held and replaced`);
    else if (!(removed.isFile() && wanted === 'a file')) this.onReplace(rel, `${kindOf(removed)} stood where the snapshot has ${wanted}; it was replaced`);
  }

  /**
   * Removes entry `name` of `parent` that the snapshot does not have (restore --delete), as
   * removeEntry does, without a notice; a folder on another filesystem is refused.
   */
  deleteEntry(parent: Dir, name: string): void {
    this.remove(parent, name, 'that the snapshot does not have');
  }

  /** Removes what stands at `name` (never followed); returns its lstat, or null when nothing was there. `where` ends the refusal of a mount point. */
  private remove(parent: Dir, name: string, where: string): fs.BigIntStats | null {
    const at = this.paths.at(parent, name);
    const st = fs.lstatSync(at, { bigint: true, throwIfNoEntry: false });
    if (!st) return null;
    const rel = join(parent.rel, name);
    if (!st.isDirectory()) {
      fs.unlinkSync(at);
      return st;
    }
    if (st.dev !== idOf(parent).dev) throw new TargetEntryError(this.paths.display(rel), `is a mount point (another filesystem) ${where}; left as it is`);
    this.removeTree(parent, name, rel, 0);
    return st;
  }

  private removeTree(parent: Dir, name: string, rel: string, depth: number): void {
    if (depth > 4096) throw new TargetEntryError(this.paths.display(rel), 'is nested too deep to remove; left as it is');
    let fd: number;
    try {
      fd = fs.openSync(this.paths.at(parent, name), DIR_FLAGS);
    } catch (err) {
      const code = errCode(err);
      if (code === 'ENOENT') return;
      // Swapped for a symlink or a file since: remove that instead, without following it.
      if (code === 'ENOTDIR' || code === 'ELOOP') {
        fs.unlinkSync(this.paths.at(parent, name));
        return;
      }
      throw err;
    }
    try {
      const st = fs.fstatSync(fd, { bigint: true });
      if (st.dev !== idOf(parent).dev) throw new TargetEntryError(this.paths.display(rel), 'holds a mount point (another filesystem); left as it is');
      const d: Dir = { rel, fd, id: { dev: st.dev, ino: st.ino }, pins: 1 };
      if (!this.paths.viaProc) {
        const l = fs.lstatSync(this.paths.at(parent, name), { bigint: true });
        if (l.dev !== st.dev || l.ino !== st.ino) throw new TargetEntryError(this.paths.display(rel), 'was replaced while being removed; left as it is');
      }
      for (const ent of fs.readdirSync(this.paths.self(d), { withFileTypes: true, encoding: 'buffer' })) {
        const child = decodeName(ent.name);
        if (ent.isDirectory()) {
          this.removeTree(d, child, join(rel, child), depth + 1);
          continue;
        }
        try {
          fs.unlinkSync(this.paths.at(d, child));
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
    fs.rmdirSync(this.paths.at(parent, name));
  }
}

function kindOf(st: fs.BigIntStats): string {
  if (st.isSymbolicLink()) return 'a symlink';
  if (st.isFile()) return st.nlink > 1n ? 'a hardlinked file' : 'a file';
  return 'a special file';
}
