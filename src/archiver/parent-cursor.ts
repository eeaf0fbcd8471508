// The parent snapshot's entries of one directory, read as a stream in name order and looked up in
// name order as the walk meets each name: a merge join, so a directory of a million entries never
// has its parent listing in memory. A listing that cannot be read is no parent from that point on.
import { compareNames, type TreeNode } from '../format/tree.js';

/** The parent snapshot's entries of a directory, streamed in name order, looked up in name order (a merge join). */
export class ParentCursor {
  private entries: AsyncGenerator<TreeNode> | null;
  private current: TreeNode | null | undefined = undefined;
  private readonly onUnreadable: (err: unknown) => void;

  /** `onUnreadable`: the listing failed part way (a chunk lost): no parent entries from there on. */
  constructor(entries: AsyncGenerator<TreeNode> | null, onUnreadable: (err: unknown) => void) {
    this.entries = entries;
    this.onUnreadable = onUnreadable;
  }

  /** Reads the first entry ahead of any lookup (never fails: an unreadable listing is no parent). */
  async prime(): Promise<void> {
    if (this.current === undefined && this.entries) this.current = await this.advance();
  }

  /** The parent's entry of this name; names must be asked for in increasing order. */
  async find(name: string): Promise<TreeNode | undefined> {
    if (this.current === undefined) {
      if (!this.entries) return undefined;
      this.current = await this.advance();
    }
    while (this.current && compareNames(this.current.name, name) < 0) this.current = this.entries ? await this.advance() : null;
    return this.current?.name === name ? this.current : undefined;
  }

  async close(): Promise<void> {
    await this.entries?.return(undefined);
  }

  private async advance(): Promise<TreeNode | null> {
    try {
      const r = await this.entries!.next();
      return r.done ? null : r.value;
    } catch (err) {
      // Reading the file again is always right; a parent entry is only a shortcut.
      this.onUnreadable(err);
      await this.entries!.return(undefined).catch(() => undefined);
      this.entries = null;
      return null;
    }
  }
}
