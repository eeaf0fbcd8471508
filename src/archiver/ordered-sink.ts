// The entries of one directory, handed to its tree writer in name order as they complete. The walk
// starts entries in name order, but they complete out of order (a small file waits for its batch,
// a subdirectory for everything below it): this queue holds the ones started and not yet written,
// and stops the walk of the directory while `limit` of them are pending, so a directory of a
// million files never has more than `limit` entries in memory at once.
import type { BlobId } from '../format/ids.js';
import type { TreeNode } from '../format/tree.js';
import type { TreeWriter } from '../repository/tree-stream.js';

interface Slot {
  readonly promise: Promise<TreeNode | null>;
  settled: boolean;
}

export class OrderedSink {
  private readonly writer: TreeWriter;
  private readonly limit: number;
  private readonly beforeWait: () => void;
  private readonly check: () => void;
  private slots: Slot[] = [];
  private head = 0;
  /** Entries written to the tree (the ones left out, null, are not). */
  private written = 0;

  /**
   * `beforeWait` runs before the walk waits for an entry (it sends on the batch of small files, or
   * that entry might never complete). `check` runs before each entry is written and throws to stop
   * (the backup was interrupted, or failed elsewhere): no tree is written after an interruption.
   */
  constructor(writer: TreeWriter, limit: number, beforeWait: () => void, check: () => void = () => undefined) {
    this.writer = writer;
    this.limit = Math.max(1, limit);
    this.beforeWait = beforeWait;
    this.check = check;
  }

  get pending(): number {
    return this.slots.length - this.head;
  }

  /** Queues an entry (null: left out, e.g. unreadable); returns once fewer than the limit are pending. */
  async push(promise: Promise<TreeNode | null>): Promise<void> {
    const slot: Slot = { promise, settled: false };
    // Marks the slot settled; a rejection is seen when the slot is written (and not unhandled meanwhile).
    promise.then(
      () => (slot.settled = true),
      () => (slot.settled = true),
    );
    this.slots.push(slot);
    await this.drain(this.limit);
  }

  /** Writes every entry, waiting for those still pending, and returns the directory's tree id. */
  async finish(): Promise<BlobId> {
    await this.drain(1);
    this.check();
    return this.writer.finish();
  }

  /** As `finish`, but null (and no tree stored) when every entry was left out. */
  async finishUnlessEmpty(): Promise<BlobId | null> {
    await this.drain(1);
    this.check();
    return this.written === 0 ? null : this.writer.finish();
  }

  /** Writes the completed entries at the front; waits for the front while `keep` or more are pending. */
  private async drain(keep: number): Promise<void> {
    while (this.pending > 0) {
      const front = this.slots[this.head]!;
      if (!front.settled) {
        if (this.pending < keep) return;
        this.beforeWait();
      }
      const node = await front.promise;
      this.check();
      this.slots[this.head++] = undefined as unknown as Slot;
      if (this.head > 1024 && this.head * 2 > this.slots.length) {
        this.slots = this.slots.slice(this.head);
        this.head = 0;
      }
      if (node) {
        await this.writer.add(node);
        this.written++;
      }
    }
  }
}
