// The metadata of one entry as the walk finds it: the node lstat describes (with its atime when
// asked for) and its extended attributes, read right after its lstat. Shared by the walker (for
// directories) and the entry saver (for everything else), so both store metadata the same way.
import type { BigIntStats } from 'node:fs';
import type { NodeType, TreeNode, Xattr } from '../format/tree.js';
import { baseNode } from '../fs/node-meta.js';
import { displayName, fsPath } from '../fs/names.js';
import { capturePathXattrs } from '../fs/xattrs.js';
import type { PosixAccess } from './options.js';
import type { RunState } from './run-state.js';

export class EntryMeta {
  private readonly state: RunState;
  private readonly posix: PosixAccess | undefined;
  private readonly withAtime: boolean;

  /** Without `posix`, no extended attributes are read (library callers). */
  constructor(state: RunState, posix: PosixAccess | undefined, withAtime: boolean) {
    this.state = state;
    this.posix = posix;
    this.withAtime = withAtime;
  }

  /**
   * The extended attributes (POSIX ACLs included) of the entry at `path`, right after its lstat:
   * one llistxattr (a single system call, synchronous: no round trip through the threadpool for a
   * call that takes microseconds), plus one lgetxattr per attribute. Never follows a symlink.
   * Always the current ones, also for a file whose content comes from the parent snapshot: a
   * change of xattrs changes ctime, so such a file is read again anyway, and a parent node is
   * never the source of metadata. An attribute that cannot be read is a warning naming the entry
   * (the entry is stored without it); a platform without the calls is noted once (NotKeptNotices).
   */
  readXattrs(path: string): Xattr[] | undefined {
    if (!this.posix) return undefined;
    const { ops, notices } = this.posix;
    try {
      const got = capturePathXattrs(ops, fsPath(path), notices);
      if (got.failures.length > 0) {
        this.state.counters.entriesXattrsNotRead++;
        const which = got.failures.map((f) => `${displayName(f.name)} (${f.code})`).join(', ');
        this.state.onMetaProblem({ path, message: `extended attribute(s) not kept, they could not be read: ${which}` });
      }
      return got.xattrs;
    } catch (err) {
      // Gone since its lstat: reading it reports that (or, for a FIFO or device node, it is stored as lstat saw it).
      if ((err as { code?: unknown }).code === 'ENOENT') return undefined;
      this.state.counters.entriesXattrsNotRead++;
      const code = (err as { code?: unknown }).code;
      this.state.onMetaProblem({ path, message: `extended attributes not kept, they could not be listed (${typeof code === 'string' ? code : err instanceof Error ? err.message : String(err)})` });
      return undefined;
    }
  }

  /** An entry's node: what lstat says, its xattrs, and its atime when asked for. */
  node(name: string, type: NodeType, st: BigIntStats, xattrs: Xattr[] | undefined): TreeNode {
    const node = baseNode(name, type, st);
    if (this.withAtime) node.atimeNs = st.atimeNs.toString();
    if (xattrs !== undefined) node.xattrs = xattrs;
    return node;
  }
}
