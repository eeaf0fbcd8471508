// Why an entry of a restore was not restored, in words a person can act on. A failed write on the
// target (a full disk, a quota, an I/O error, something in the way that may not be removed) is a
// problem of that one entry: it is named, what was written of it is removed, and the restore goes
// on (exit 3). Only the repository's own damage is exit 4, and only the storage going away, an
// abort or a bug ends the whole restore.
import { EngineError, ErrorCode, isEngineError } from '../errors/engine-error.js';
import { errCode } from '../fs/target-entry-error.js';

export type NotRestoredReason = 'no-space' | 'io' | 'denied' | 'in-the-way' | 'other';

/** One entry of the target left unrestored (or, for `metadata`, restored without its metadata). */
export class EntryNotRestoredError extends EngineError {
  readonly path: string;
  readonly reason: NotRestoredReason;
  constructor(path: string, reason: NotRestoredReason, message: string, cause?: unknown) {
    super(ErrorCode.PARTIAL, `${path}: ${message}`, { cause, details: { path, reason } });
    this.path = path;
    this.reason = reason;
  }
}

/** The reason and a message without the raw errno code for a failed filesystem call on the target. */
export function describeTargetError(err: unknown): { reason: NotRestoredReason; text: string } {
  // Refusals of the directory-handle layer carry their own words (a mount point in the way...).
  if (isEngineError(err, ErrorCode.PARTIAL)) return { reason: 'in-the-way', text: (err as EngineError).message };
  switch (errCode(err)) {
    case 'ENOSPC':
      return { reason: 'no-space', text: 'the target is out of space' };
    case 'EDQUOT':
      return { reason: 'no-space', text: 'the disk quota on the target is exhausted' };
    case 'EFBIG':
      return { reason: 'no-space', text: 'the file is larger than the target filesystem allows' };
    case 'EIO':
      return { reason: 'io', text: 'input/output error on the target disk' };
    case 'EROFS':
      return { reason: 'denied', text: 'the target is read-only' };
    case 'EACCES':
    case 'EPERM':
      return { reason: 'denied', text: 'permission denied' };
    case 'ENAMETOOLONG':
      return { reason: 'other', text: 'the name is too long for the target filesystem' };
    case 'EBUSY':
      return { reason: 'in-the-way', text: 'something in use (a mount point?) stands in the way' };
    case 'ENOTEMPTY':
    case 'EEXIST':
      return { reason: 'in-the-way', text: 'something stands in the way and could not be removed' };
    default:
      return { reason: 'other', text: err instanceof Error ? err.message : String(err) };
  }
}

/** Whether an error is the target's filesystem refusing one entry (as opposed to a bug or an abort). */
export function isTargetError(err: unknown): boolean {
  if (isEngineError(err, ErrorCode.PARTIAL)) return true;
  const code = errCode(err);
  return typeof code === 'string' && /^E[A-Z0-9]+$/.test(code);
}
