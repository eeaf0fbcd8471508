// What a caller gives the archiver: the plan, the abort signal, where problems and notices go, the
// OS calls for xattrs and holes, and the folders never backed up. In a file of its own so that each
// stage of the archiver can name the callbacks it takes without importing the Archiver.
import type { NotKeptNotices, PosixOps } from '../../native-bindings/posix/index.js';
import type { Plan } from '../memory/planner.js';
import type { Selection } from './selection.js';

export interface SourceProblem {
  readonly path: string;
  readonly message: string;
}

/** The OS calls of native-bindings/posix and the run's "not kept" notices. */
export interface PosixAccess {
  readonly ops: PosixOps;
  readonly notices: NotKeptNotices;
}

export interface ArchiverOptions {
  plan: Plan;
  signal?: AbortSignal;
  /** A source file left out of the snapshot (unreadable, vanished): a warning, exit 3. */
  onProblem: (p: SourceProblem) => void;
  /**
   * A source file stored, but not as one consistent state of the file (it changed while being
   * read): a warning, exit 3, and not counted as left out.
   */
  onInconsistent?: (p: SourceProblem) => void;
  /** Something worth one line that harms nothing (a folder skipped on purpose, a file read again). */
  onNotice?: (text: string) => void;
  /** Each file as it is decided (`backup -vv`): new, modified (read again) or unmodified (taken from the parent). */
  onFile?: (path: string, state: 'new' | 'modified' | 'unmodified') => void;
  /**
   * The OS calls of native-bindings/posix and the run's "not kept" notices: with them, every
   * entry's extended attributes (POSIX ACLs included) are stored and sparse files' holes are not
   * read. Without (library callers), neither.
   */
  posix?: PosixAccess;
  /**
   * An entry stored, but without some of its metadata (an extended attribute that could not be
   * read): a warning naming it, exit 3; the entry is not left out.
   */
  onMetaProblem?: (p: SourceProblem) => void;
  /** Store each entry's access time (restic's --with-atime); off by default, as atime changes on every read. */
  withAtime?: boolean;
  /**
   * Folders never backed up, by identity (st_dev, st_ino): the repository being written and its
   * cache, when they lie inside a backed-up path. Each one met is told to onNotice.
   */
  exclude?: readonly ExcludedFolder[];
  /** What the user leaves out (restic's --exclude family: selection.ts). */
  selection?: Selection;
  /** Test hook, inert unless ENGINE_TEST_HOOKS sets it: runs just before a file is opened. */
  beforeOpen?: (path: string) => Promise<void>;
  /** Test hook: runs once every file is read, before the top-level tree is written. */
  afterRead?: () => Promise<void>;
}

export interface ExcludedFolder {
  readonly dev: bigint;
  readonly ino: bigint;
  /** Why it is skipped, for the notice (e.g. "the repository being written"). */
  readonly why: string;
}
