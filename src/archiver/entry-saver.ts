// The node of one entry that is not a directory: a symlink with its target, a special file as
// lstat saw it, or a regular file whose content is taken from the parent snapshot when the file is
// unchanged and every blob it lists is still stored, and otherwise read by the file saver. Here the
// counters of new, changed and unmodified files are kept.
import { promises as fsp, type BigIntStats } from 'node:fs';
import type { BlobId } from '../format/ids.js';
import type { TreeNode, Xattr } from '../format/tree.js';
import { nodeType, unchangedSince } from '../fs/node-meta.js';
import { decodeName, fsPath } from '../fs/names.js';
import type { BlobUploader } from '../repository/blob-uploader.js';
import type { BackupCounters } from './counters.js';
import type { EntryMeta } from './entry-meta.js';
import type { FileSaver } from './file-saver.js';
import type { RunState } from './run-state.js';

export class EntrySaver {
  private readonly state: RunState;
  private readonly meta: EntryMeta;
  private readonly uploader: BlobUploader;
  private readonly files: FileSaver;
  private readonly counters: BackupCounters;

  constructor(state: RunState, meta: EntryMeta, uploader: BlobUploader, files: FileSaver) {
    this.state = state;
    this.meta = meta;
    this.uploader = uploader;
    this.files = files;
    this.counters = state.counters;
  }

  /**
   * Whether every blob a parent entry lists is stored or on its way in this run. A blob of a pack
   * that was lost is not in the index once `repair index` ran: taking the entry as it was would
   * make a snapshot that cannot be restored (issue 12, point 4). The index answers from its
   * filter and one cached page per blob, far less than reading the file.
   */
  private allStored(ids: readonly BlobId[]): boolean {
    for (const id of ids) if (!this.uploader.has(id)) return false;
    return true;
  }

  /**
   * Returns the node for one entry that is not a directory, or null when it cannot be read
   * (reported). A small file reaches the small-file batch synchronously, before this function
   * first awaits.
   */
  async saveEntry(path: string, name: string, parent: TreeNode | undefined, st: BigIntStats, xattrs: Xattr[] | undefined): Promise<TreeNode | null> {
    const type = nodeType(st);
    if (!type) return null;
    const node = this.meta.node(name, type, st, xattrs);
    if (type === 'symlink') {
      try {
        node.linkTarget = decodeName(await fsp.readlink(fsPath(path), { encoding: 'buffer' }));
      } catch (err) {
        this.state.problem(path, err);
        return null;
      }
      return node;
    }
    if (type !== 'file') return node;
    const size = Number(st.size);
    // For the progress line: the file the walk is at.
    this.state.currentFile = path;
    const unchanged = unchangedSince(parent, st);
    if (unchanged && this.allStored(parent.content)) {
      node.size = size;
      node.content = parent.content;
      this.counters.totalBytes += size;
      this.counters.filesUnmodified++;
      this.counters.filesDone++;
      this.counters.bytesDone += size;
      this.state.onFile(path, 'unmodified');
      return node;
    }
    // Unchanged, but some of its data is no longer in the repository: read again (counted as
    // unmodified, which it is, and as read, which it is; the summary names how many).
    const state = unchanged ? 'unmodified' : parent?.type === 'file' ? 'modified' : 'new';
    if (size === 0) {
      // Nothing to read: an empty file has no chunks, exactly what reading it would store (a file
      // that grew since its lstat is stored as first seen, as a read would store it too).
      this.counters.filesRead++;
      this.counters.filesDone++;
      node.size = 0;
      node.content = [];
      this.counted(path, state, 0);
      return node;
    }
    const result = await this.files.saveFileContents(path, size);
    // A file that could not be read is no file of the snapshot: not counted new, changed or
    // unmodified (it is named as an error), as restic's summary.
    if (!result) return null;
    node.size = result.size;
    node.content = result.ids;
    this.counted(path, state, result.size);
    return node;
  }

  /** A file stored: counted by what it was against the parent, and named for -vv. */
  private counted(path: string, state: 'new' | 'modified' | 'unmodified', size: number): void {
    this.counters.totalBytes += size;
    if (state === 'new') this.counters.filesNew++;
    else if (state === 'modified') this.counters.filesChanged++;
    else {
      this.counters.filesUnmodified++;
      this.counters.filesReadAgain++;
    }
    this.state.onFile(path, state);
  }
}
