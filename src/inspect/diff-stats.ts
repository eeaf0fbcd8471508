// restic's diff statistics (cmd/restic/cmd_diff.go, DiffStatsContainer): the entries added and
// removed (files, folders, others), the files whose contents changed, and the blobs only the
// second snapshot references (added) or only the first (removed), with their bytes before
// compression. As restic, blobs are gathered in three sets while the diff walks: those of the
// entries it compares on each side (`before`, `after`), and every blob below a folder that is the
// same on both sides (`common`, which restic reads whole to know them); added = after - before -
// common, removed = before - after - common.
//
// The sets are one bit per index entry (as src/repository/seen-blobs.ts); data blobs, by far the
// most, are not looked up one by one but sorted off the heap and joined with the index in one pass
// per set (src/disk-index/ref-join.ts), and a last pass over the index counts what each set holds.
import { BlobType, type BlobId } from '../format/ids.js';
import type { TreeNode } from '../format/tree.js';
import { RefJoin } from '../disk-index/ref-join.js';
import type { ScannedRecord } from '../disk-index/scan-index.js';
import type { PositionedIndex } from '../repository/blob-index.js';
import { BitSet } from '../util/bitset.js';
import type { Difference, DiffObserver, Side } from './diff.js';

/** restic's DiffStat. `bytes`: the blobs' raw (uncompressed, unencrypted) lengths. */
export interface DiffCount {
  files: number;
  dirs: number;
  others: number;
  dataBlobs: number;
  treeBlobs: number;
  bytes: number;
}

export interface DiffStatistics {
  /** Files whose contents changed ("M"). */
  changedFiles: number;
  added: DiffCount;
  removed: DiffCount;
}

/** An index that numbers its entries and streams them (DiskIndex). */
export interface TallyIndex extends PositionedIndex {
  recordStreams(): Iterator<ScannedRecord>[];
}

/** A tree's entries, each chunk blob of it told to `onChunk` (IndexedRepository.treeEntries). */
export type TallyTreeReader = (tree: BlobId, onChunk: (chunk: BlobId) => void) => AsyncIterable<TreeNode>;

const zero = (): DiffCount => ({ files: 0, dirs: 0, others: 0, dataBlobs: 0, treeBlobs: 0, bytes: 0 });

/** One of the three sets: a bit per index entry, the data blobs waiting for their join, and the few blobs no index holds. */
class BlobSet {
  readonly bits: BitSet;
  readonly data: RefJoin;
  readonly unindexed = new Map<string, BlobType>();

  constructor(positions: number, scratch: { tmpDir: string; memBytes: number }, tag: string) {
    this.bits = new BitSet(positions);
    this.data = new RefJoin({ tmpDir: scratch.tmpDir, memBytes: scratch.memBytes, tag });
  }
}

export class DiffTally implements DiffObserver {
  private readonly index: TallyIndex;
  private readonly read: TallyTreeReader;
  private readonly before: BlobSet;
  private readonly after: BlobSet;
  private readonly common: BlobSet;
  private readonly stats: DiffStatistics = { changedFiles: 0, added: zero(), removed: zero() };

  /** `scratch`: where the data blobs' sorts spill, and the memory they share. */
  constructor(index: TallyIndex, read: TallyTreeReader, scratch: { tmpDir: string; memBytes: number }) {
    this.index = index;
    this.read = read;
    const share = { tmpDir: scratch.tmpDir, memBytes: Math.max(1024 * 1024, Math.floor(scratch.memBytes / 3)) };
    const positions = index.positions;
    this.before = new BlobSet(positions, share, 'diff-before');
    this.after = new BlobSet(positions, share, 'diff-after');
    this.common = new BlobSet(positions, share, 'diff-common');
  }

  /** The two snapshots' root trees (restic puts them in the sets first). */
  roots(a: BlobId, b: BlobId): void {
    this.markTree(this.before, a);
    this.markTree(this.after, b);
  }

  /** The chunk blobs of a tree the diff reads on `side` (a chunked folder's tree is its list and its chunks). */
  chunk(side: Side, id: BlobId): void {
    this.markTree(this.sideSet(side), id);
  }

  entry(side: Side, node: TreeNode): void {
    this.addBlobs(this.sideSet(side), node);
  }

  /** A folder the same on both sides: every blob below it is common (read once, however often it is met). */
  async same(tree: BlobId): Promise<void> {
    if (!this.markTree(this.common, tree)) return;
    for await (const node of this.read(tree, (chunk) => this.markTree(this.common, chunk))) {
      // A folder is marked by same() itself: marked here first, same() would stop at it and
      // leave everything two levels down out of the common blobs (counted as added or removed).
      if (node.type === 'dir' && node.subtree) await this.same(node.subtree);
      else this.addBlobs(this.common, node);
    }
  }

  /** Each difference the diff yields: the entries added and removed, the files whose contents changed. */
  difference(d: Difference): void {
    if (d.change === 'modified' && d.type === 'file') this.stats.changedFiles++;
    if (d.change !== 'added' && d.change !== 'removed') return;
    const c = d.change === 'added' ? this.stats.added : this.stats.removed;
    if (d.type === 'file') c.files++;
    else if (d.type === 'dir') c.dirs++;
    else c.others++;
  }

  /** The statistics, once the diff is done: joins the data blobs with the index, then counts each set's own blobs in one pass. */
  finish(): DiffStatistics {
    for (const set of [this.before, this.after, this.common]) {
      for (const ref of set.data.join(this.index.recordStreams())) {
        if (ref.record) set.bits.add(ref.record.position);
        else set.unindexed.set(ref.buf.toString('hex', ref.at, ref.at + 32), BlobType.DATA);
      }
    }
    const { added, removed } = this.stats;
    const positions = this.before.bits.size;
    for (const stream of this.index.recordStreams()) {
      for (let r = stream.next(); !r.done; r = stream.next()) {
        const p = r.value.position;
        if (p >= positions || this.common.bits.has(p)) continue;
        const b = this.before.bits.has(p);
        const a = this.after.bits.has(p);
        if (a === b) continue;
        count(a ? added : removed, r.value.type, r.value.rawLength);
      }
    }
    // Blobs no index holds: counted, their size unknown (restic warns and counts no bytes).
    for (const [id, type] of this.after.unindexed) if (!this.before.unindexed.has(id) && !this.common.unindexed.has(id)) count(added, type, 0);
    for (const [id, type] of this.before.unindexed) if (!this.after.unindexed.has(id) && !this.common.unindexed.has(id)) count(removed, type, 0);
    return this.stats;
  }

  /** Removes the sorts' temporary files. */
  discard(): void {
    for (const set of [this.before, this.after, this.common]) set.data.discard();
  }

  private sideSet(side: Side): BlobSet {
    return side === 'before' ? this.before : this.after;
  }

  /** restic's addBlobs: a file's data blobs, a folder's tree. */
  private addBlobs(set: BlobSet, node: TreeNode): void {
    if (node.type === 'file') for (const id of node.content ?? []) set.data.add(id);
    else if (node.type === 'dir' && node.subtree) this.markTree(set, node.subtree);
  }

  /** Marks a tree blob; whether it was not marked before. */
  private markTree(set: BlobSet, id: BlobId): boolean {
    const at = this.index.positionOf(id);
    if (at >= 0) return set.bits.addNew(at);
    if (set.unindexed.has(id)) return false;
    set.unindexed.set(id, BlobType.TREE);
    return true;
  }
}

function count(c: DiffCount, type: BlobType, bytes: number): void {
  if (type === BlobType.TREE) c.treeBlobs++;
  else c.dataBlobs++;
  c.bytes += bytes;
}
