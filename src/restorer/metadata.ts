// Metadata of restored entries: owner (as root), mode, extended attributes, ACLs and times, set on
// open descriptors or with calls that never follow a link; ACLs a new entry inherited from its
// folder's default ACL are dropped when the snapshot does not give them. Also FIFOs and device
// nodes, which are made and given their metadata in one step (a device is never opened), and the
// metadata of symlinks and folders, set once every entry is in place.
import fs from 'node:fs';
import type { DirTree } from '../fs/dir-handle.js';
import { TargetEntryError } from '../fs/target-entry-error.js';
import type { TreeNode } from '../format/tree.js';
import { AT_FDCWD, type NotKeptNotices, type PosixOps } from '../../native-bindings/posix/index.js';
import { applyPathXattrs, applyXattrs, POSIX_ACL_ACCESS, POSIX_ACL_DEFAULT, type XattrFailure } from '../fs/xattrs.js';
import { setSymlinkTimes, setTimesOnFd } from '../fs/times.js';
import { makeSpecialFile, type SpecialType } from '../fs/special-files.js';
import type { PlannedDir, PlannedSymlink } from './jobs.js';
import { describeTargetError, isTargetError } from './not-restored.js';
import type { RestoreOptions } from './options.js';
import { joinRel, parentOf } from './rel-paths.js';
import type { RestoreReport } from './report.js';

export class MetadataWriter {
  private readonly tree: DirTree;
  private readonly report: RestoreReport;
  private readonly opts: RestoreOptions;
  private readonly ops: PosixOps;
  private readonly notices: NotKeptNotices | undefined;
  /** Folders of the target that have a default ACL, which new entries in them inherit (by relative path). */
  private readonly inheritingDirs = new Map<string, boolean>();

  constructor(tree: DirTree, report: RestoreReport, opts: RestoreOptions, ops: PosixOps, notices: NotKeptNotices | undefined) {
    this.tree = tree;
    this.report = report;
    this.opts = opts;
    this.ops = ops;
    this.notices = notices;
  }

  /**
   * Owner (as root), mode, extended attributes and times on an open descriptor, never on a path
   * that could be a link; `dir` is the folder holding the entry (whose default ACL it inherited).
   * The owner first: chown clears set-id bits (which the mode sets again) and security.capability
   * (which the xattrs set again). Times last: each of the others changes ctime, the data mtime.
   * An entry without xattrs in a folder without a default ACL costs no call more than before.
   */
  setMeta(fd: number, node: TreeNode, dir: string, path: () => string): void {
    if (this.opts.restoreOwnership) fs.fchownSync(fd, node.uid, node.gid);
    fs.fchmodSync(fd, node.mode);
    const failures: XattrFailure[] = [];
    if (this.inherits(dir)) this.dropInheritedAcls(node, node.type === 'dir', (name) => this.ops.fremovexattr(fd, name), failures);
    if (node.xattrs !== undefined) failures.push(...applyXattrs(this.ops, fd, node.xattrs, this.notices));
    setTimesOnFd(this.ops, fd, node.atimeNs ?? node.mtimeNs, node.mtimeNs, this.notices);
    this.report.xattrFailures(path, failures);
  }

  /**
   * Whether new entries of folder `rel` get an ACL of their own on creation (its default ACL, in
   * the target as it stood: the snapshot's default ACLs are set on folders only at the end, after
   * every entry is created). Asked once per folder, and only when the libc calls are there.
   */
  private inherits(rel: string): boolean {
    if (!this.ops.caps.xattrs) return false;
    let has = this.inheritingDirs.get(rel);
    if (has === undefined) {
      try {
        has = this.tree.withDir(rel, (fd) => this.ops.fgetxattr(fd, ACL_DEFAULT_NAME) !== null);
      } catch {
        has = false; // a filesystem without xattrs (ENOTSUP) has no ACLs to inherit
      }
      this.inheritingDirs.set(rel, has);
    }
    return has;
  }

  /** Removes the ACLs an entry inherited on creation that the snapshot does not give it. */
  private dropInheritedAcls(node: TreeNode, isDir: boolean, remove: (name: Buffer) => void, failures: XattrFailure[]): void {
    for (const [name, raw] of isDir ? ACL_NAMES : ACL_ACCESS_ONLY) {
      if (node.xattrs?.some((x) => x.name === name)) continue; // set by applyXattrs right after
      try {
        remove(raw);
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (typeof code !== 'string') throw err;
        if (code !== 'ENODATA' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') failures.push({ name, code });
      }
    }
  }

  /**
   * A FIFO or a device node, created with mknodat through its folder's handle (whatever stood at
   * its path is removed first), then its owner, mode, xattrs and times by path, never following
   * it (a device is not opened: opening one can act on the device, as a tape rewinds). Without
   * mknod (Node's calls alone) none is created: said once for the run, and the restore exits 3.
   * A device node needs root: otherwise it is named (EPERM, exit 3), as restic reports it.
   */
  restoreSpecial(dir: string, node: TreeNode): void {
    const rel = joinRel(dir, node.name);
    const type = node.type as SpecialType;
    const what = type === 'fifo' ? 'FIFO' : 'device node';
    const counters = this.report.counters;
    let made: boolean;
    try {
      made = this.tree.makeNode(dir, node.name, (at) => makeSpecialFile(this.ops, at, type, node.mode, node.rdev, this.notices));
    } catch (err) {
      this.report.refused(rel, err, `${what} not restored`);
      return;
    }
    if (!made) {
      counters.specialsNotMade++;
      counters.notRestored.push(this.report.display(rel));
      return;
    }
    counters.specials++;
    const failures: XattrFailure[] = [];
    try {
      this.tree.withEntry(dir, node.name, (_dirFd, at) => {
        if (this.opts.restoreOwnership) fs.lchownSync(at, node.uid, node.gid);
        // chmod follows a symlink: the entry must still be the node just made (its folder is new
        // and 0700, or the target's own, so only its owner could swap it meanwhile).
        const st = fs.lstatSync(at);
        if (!(type === 'fifo' ? st.isFIFO() : type === 'chardev' ? st.isCharacterDevice() : st.isBlockDevice())) throw new TargetEntryError(this.report.display(rel), 'was replaced by something else while restoring; left as it is');
        fs.chmodSync(at, node.mode);
        if (this.inherits(dir)) this.dropInheritedAcls(node, false, (name) => this.ops.lremovexattr(at, name), failures);
        if (node.xattrs !== undefined) failures.push(...applyPathXattrs(this.ops, at, node.xattrs, this.notices));
        setSymlinkTimes(this.ops, at, node.atimeNs ?? node.mtimeNs, node.mtimeNs, this.notices, AT_FDCWD);
      });
    } catch (err) {
      if (!isTargetError(err)) throw err;
      this.report.problem({ path: this.report.display(rel), message: `restored without its owner, mode or times: ${describeTargetError(err).text}` });
      return;
    }
    this.report.xattrFailures(() => this.report.display(rel), failures);
  }

  /**
   * Symlinks: owner, xattrs and times on the link itself, by its path under its folder's handle
   * (l* calls and utimensat with AT_SYMLINK_NOFOLLOW never follow it). No ACL is inherited by a symlink.
   */
  finishSymlinks(symlinks: readonly PlannedSymlink[]): void {
    for (const s of symlinks) {
      const failures: XattrFailure[] = [];
      try {
        this.tree.withEntry(s.dir, s.name, (_dirFd, at) => {
          if (this.opts.restoreOwnership) fs.lchownSync(at, s.node.uid, s.node.gid);
          if (s.node.xattrs !== undefined) failures.push(...applyPathXattrs(this.ops, at, s.node.xattrs, this.notices));
          setSymlinkTimes(this.ops, at, s.node.atimeNs ?? s.node.mtimeNs, s.node.mtimeNs, this.notices, AT_FDCWD);
        });
      } catch (err) {
        if (!isTargetError(err)) throw err;
        this.report.problem({ path: this.report.display(s.dir, s.name), message: `restored without its owner or times: ${describeTargetError(err).text}` });
        continue;
      }
      this.report.xattrFailures(() => this.report.display(s.dir, s.name), failures);
    }
  }

  /**
   * Folders: deepest first, so setting a child's times does not change its parent's afterwards;
   * siblings together, so their parents are still among the open handles.
   */
  finishDirs(planned: readonly PlannedDir[]): void {
    const dirs = [...planned].sort((a, b) => b.depth - a.depth || (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
    for (const d of dirs) {
      try {
        this.tree.withDir(d.rel, (fd) => this.setMeta(fd, d.node, parentOf(d.rel), () => this.report.display(d.rel)));
      } catch (err) {
        if (!isTargetError(err)) throw err;
        this.report.problem({ path: this.report.display(d.rel), message: `restored without its owner, mode or times: ${describeTargetError(err).text}` });
      }
    }
  }
}

const ACL_ACCESS_RAW = Buffer.from(POSIX_ACL_ACCESS);
const ACL_DEFAULT_NAME = Buffer.from(POSIX_ACL_DEFAULT);
const ACL_ACCESS_ONLY: readonly (readonly [string, Buffer])[] = [[POSIX_ACL_ACCESS, ACL_ACCESS_RAW]];
const ACL_NAMES: readonly (readonly [string, Buffer])[] = [...ACL_ACCESS_ONLY, [POSIX_ACL_DEFAULT, ACL_DEFAULT_NAME]];
