// Backup: walk → read → chunk + hash (pool) → dedup → compress + encrypt + verify (pool) → pack →
// store, then trees bottom-up and the snapshot. Every stage is bounded in bytes (util/concurrency.ts):
// segments hold the read budget from the read until their new chunks are sealed; sealed blobs hold
// the sealed budget until their pack is durably stored.
//
// This file only wires the stages, one job each (restic's archiver.go, file_saver.go, tree_saver.go):
//   walker.ts       directories in name order, lstat, merge with the parent snapshot, exclusions
//   target-tree.ts  the backup paths as a tree from /: each stored under its absolute path
//   entry-saver.ts  the node of a non-directory entry; unchanged files taken from the parent
//   file-saver.ts   reading files (small-file batches, large files by segment, holes, grown files)
//   stream-source.ts a stream (backup --stdin) read into the file saver's segments
//   blob-sealer.ts  dedup of chunks and sealing of the new ones on the pool, then the uploader
//   tree-saver.ts   directory trees and their blobs
//   entry-meta.ts   an entry's node from lstat, with its xattrs and atime
//   run-state.ts    what they share: the abort signal, the first failure, counters and reports
// The types callers use are re-exported here, so callers import only this file.
import { envelopeOverhead } from '../crypto/envelope.js';
import { EngineError, ErrorCode } from '../errors/engine-error.js';
import type { BlobId } from '../format/ids.js';
import type { TreeNode } from '../format/tree.js';
import type { ByteBudget } from '../util/concurrency.js';
import type { SegmentPool } from './segment-pool.js';
import type { WorkerPool } from '../worker-pool/pool.js';
import type { BusyMeter } from '../util/busy-meter.js';
import type { BlobUploader } from '../repository/blob-uploader.js';
import type { IndexedRepository } from '../repository/indexed-repository.js';
import { BlobSealer } from './blob-sealer.js';
import type { BackupCounters } from './counters.js';
import { EntryMeta } from './entry-meta.js';
import { EntrySaver } from './entry-saver.js';
import { FileSaver, type SegmentSource } from './file-saver.js';
import type { ArchiverOptions } from './options.js';
import { RunState } from './run-state.js';
import { TreeSaver } from './tree-saver.js';
import { Walker } from './walker.js';

export { snapshotSummary, type BackupCounters } from './counters.js';
export type { SegmentSource } from './file-saver.js';
export { StreamSource } from './stream-source.js';
export type { ArchiverOptions, ExcludedFolder, SourceProblem } from './options.js';
export { CACHEDIR_TAG, Selection, type PathMatcher, type SelectionRules, type TagFile } from './selection.js';

export class Archiver {
  private readonly state: RunState;
  private readonly files: FileSaver;
  private readonly trees: TreeSaver;
  private readonly walker: Walker;
  /** Segment buffers: the bound of the read stage. */
  readonly segments: SegmentPool;
  readonly sealedBudget: ByteBudget;
  /** Time with at least one file read in flight (for `engine bench`). */
  readonly readBusy: BusyMeter;

  /** The file the walk is at, for the progress line. */
  get currentFile(): string | null {
    return this.state.currentFile;
  }
  readonly counters: BackupCounters;
  /** Where the new blobs go: its bytesStored drive the progress line. */
  readonly uploader: BlobUploader;

  constructor(indexed: IndexedRepository, pool: WorkerPool, uploader: BlobUploader, opts: ArchiverOptions) {
    const { repo, index } = indexed;
    this.uploader = uploader;
    this.state = new RunState(opts);
    this.counters = this.state.counters;
    // Sealed blobs hold a lease on the uploader's budget until their pack is stored.
    const sealedBudget = uploader.sealedBudget;
    this.sealedBudget = sealedBudget;
    const sealer = new BlobSealer(this.state, pool, uploader, sealedBudget, envelopeOverhead(repo.suite));
    this.files = new FileSaver(repo, pool, sealer, this.state, opts.plan, opts.posix);
    this.segments = this.files.segments;
    this.readBusy = this.files.readBusy;
    const files = this.files;
    this.trees = new TreeSaver(repo, uploader, sealedBudget, this.state, () => files.flushSmall());
    const meta = new EntryMeta(this.state, opts.posix, opts.withAtime ?? false);
    const entries = new EntrySaver(this.state, meta, uploader, this.files);
    this.walker = new Walker(repo, index, this.state, meta, entries, this.files, this.trees, opts.exclude ?? [], opts.selection);
  }

  /**
   * After `run`: every backed-up path holds what the parent snapshot held there (the folders on
   * the way to them not compared by their own times): restic's --skip-if-unchanged.
   */
  get pathsUnchanged(): boolean {
    return this.walker.pathsUnchanged;
  }

  /**
   * Backs up the given paths, each under its absolute path; returns the root tree id. `parentRoot`:
   * the parent snapshot's root tree, when the index holds it. Problems with single files are
   * reported, not thrown.
   */
  async run(paths: string[], parentRoot: BlobId | null): Promise<BlobId> {
    const { pending, wholeRoot } = await this.walker.walkPaths(paths, parentRoot);
    // The walk is over: whatever small files wait in the batch can go.
    this.files.flushSmall();
    const nodes: TreeNode[] = [];
    for (const n of await Promise.all(pending)) if (n) nodes.push(n);
    this.state.check();
    // Every path left out (excluded, or gone since it was found): no snapshot of nothing, as restic.
    if (nodes.length === 0) throw new EngineError(ErrorCode.SOURCE_READ, 'the snapshot would be empty: every path to back up was left out or could not be read', { hint: 'check the paths and the --exclude options given to `engine backup`' });
    await this.state.afterRead();
    this.state.check();
    // '/' itself backed up: its listing is the root.
    if (wholeRoot) {
      await this.state.drain();
      this.state.check();
      return nodes[0]!.subtree!;
    }
    return this.saveRoot(nodes);
  }

  /**
   * Backs up the bytes of a stream as the one file of the snapshot (backup --stdin): `file` is its
   * entry without content (name, mode, times, owner), inside `folders` (outermost first, each
   * without its subtree; none: the file is at the top). The content is read from `source` on the
   * file saver's segment path; a read that fails fails the run. Returns the root tree id.
   */
  async runStream(folders: readonly TreeNode[], file: TreeNode, source: SegmentSource): Promise<BlobId> {
    const { ids, size } = await this.files.saveStreamContents(source);
    this.counters.filesNew++;
    this.counters.totalBytes += size;
    this.state.check();
    await this.state.afterRead();
    this.state.check();
    let node: TreeNode = { ...file, size, content: ids };
    for (const folder of [...folders].reverse()) {
      const writer = this.trees.writer();
      await writer.add(node);
      node = { ...folder, subtree: await writer.finish() };
      this.counters.dirs++;
      this.counters.dirsNew++;
    }
    return this.saveRoot([node]);
  }

  private async saveRoot(nodes: TreeNode[]): Promise<BlobId> {
    const root = await this.trees.saveRoot(nodes);
    await this.state.drain();
    this.state.check();
    return root;
  }
}
