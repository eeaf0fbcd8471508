// What a backup counts as it goes (files new, changed, unmodified, bytes read, ...) and the summary
// a snapshot records from those counters and the uploader's stats. Kept apart from the archiver's
// stages because each stage adds to the same counters and the CLI prints them.
import type { SnapshotSummary } from '../format/snapshot.js';
import type { UploaderStats } from '../repository/blob-uploader.js';

/** The summary a snapshot records, from the archiver's counters and the uploader's stats. */
export function snapshotSummary(c: BackupCounters, u: UploaderStats, errors: number, durationSeconds: number): SnapshotSummary {
  return {
    filesNew: c.filesNew,
    filesChanged: c.filesChanged,
    filesUnmodified: c.filesUnmodified,
    dirs: c.dirs,
    filesRead: c.filesRead,
    bytesRead: c.bytesRead,
    totalBytes: c.totalBytes,
    blobsNew: u.blobsAdded,
    bytesAddedRaw: u.bytesAddedRaw,
    bytesAddedStored: u.bytesAddedStored,
    errors,
    durationSeconds,
  };
}

export interface BackupCounters {
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
  dirs: number;
  /**
   * Folders by what the parent snapshot held (restic's dirs_new, dirs_changed, dirs_unmodified):
   * none by that name, another tree, the same tree. Said in the backup's summary line only.
   */
  dirsNew: number;
  dirsChanged: number;
  dirsUnmodified: number;
  filesRead: number;
  bytesRead: number;
  totalBytes: number;
  /** Files and bytes done (read or taken from the parent): drives the progress display. */
  filesDone: number;
  bytesDone: number;
  /**
   * Unchanged files read again because a blob their parent entry lists is not in the index (lost
   * and dropped by `repair index`): counted in filesUnmodified and filesRead both, which is true.
   */
  filesReadAgain: number;
  /** Files that changed while being read and were stored as read (a warning each; see FileSaver.saveLargeFile). */
  filesChangedWhileRead: number;
  /**
   * Bytes of sparse files' holes given to the chunker as zeros and never read from disk: counted
   * in bytesRead too (they are the file's content, and its blob ids are those of the zeros).
   */
  holeBytesSkipped: number;
  /** Entries stored without some or all of their extended attributes (a warning each). */
  entriesXattrsNotRead: number;
}

/** Every counter at zero: the start of a backup. */
export function zeroCounters(): BackupCounters {
  return { filesNew: 0, filesChanged: 0, filesUnmodified: 0, dirs: 0, dirsNew: 0, dirsChanged: 0, dirsUnmodified: 0, filesRead: 0, bytesRead: 0, totalBytes: 0, filesDone: 0, bytesDone: 0, filesReadAgain: 0, filesChangedWhileRead: 0, holeBytesSkipped: 0, entriesXattrsNotRead: 0 };
}
