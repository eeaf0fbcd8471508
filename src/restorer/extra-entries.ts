// restore --delete: the entries of a target folder that the snapshot's folder does not have. Both
// listings are walked in tree order at once (the target's sorted in bounded memory by
// sortedNames, the snapshot's streamed from its tree), so a folder of a million entries costs no
// more than a small one; the caller removes each extra entry its selection would have restored.
import { compareNames } from '../format/tree.js';
import { sortedNames } from '../fs/sorted-names.js';

export class ExtraEntries {
  private readonly names: AsyncGenerator<string>;
  private head: IteratorResult<string>;

  private constructor(names: AsyncGenerator<string>, head: IteratorResult<string>) {
    this.names = names;
    this.head = head;
  }

  /**
   * The target folder at `path` (escaped form), or null when there is none to list (not there yet,
   * not a folder). Any other failure to list it is thrown: the caller says so (a --delete that
   * could not look is not a silent success).
   */
  static async open(path: string): Promise<ExtraEntries | null> {
    const names = sortedNames(path);
    try {
      return new ExtraEntries(names, await names.next());
    } catch (err) {
      await names.return(undefined).catch(() => undefined);
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return null;
      throw err;
    }
  }

  /** Gives each target name before `name` (in tree order) to `extra`, and passes `name` itself if the target has it. */
  async upTo(name: string, extra: (name: string) => void): Promise<void> {
    while (!this.head.done) {
      const c = compareNames(this.head.value, name);
      if (c > 0) return;
      if (c < 0) extra(this.head.value);
      this.head = await this.names.next();
      if (c === 0) return;
    }
  }

  /** Gives every name left (after the snapshot's last entry) to `extra`, and closes the listing. */
  async rest(extra: (name: string) => void): Promise<void> {
    try {
      for (; !this.head.done; this.head = await this.names.next()) extra(this.head.value);
    } finally {
      await this.close();
    }
  }

  async close(): Promise<void> {
    await this.names.return(undefined);
  }
}
