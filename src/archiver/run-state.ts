// The state every stage of one backup shares: the abort signal and the first background failure
// (check() throws either, so every stage stops at its next await), the counters, where problems
// and notices go, and the background tasks the end of the backup waits for. One object, so the
// walker, the file saver and the tree saver stop together and report the same way.
import { AbortedError } from '../errors/engine-error.js';
import { type BackupCounters, zeroCounters } from './counters.js';
import type { ArchiverOptions, SourceProblem } from './options.js';

export class RunState {
  readonly signal: AbortSignal | undefined;
  readonly counters: BackupCounters = zeroCounters();
  /** The file the walk is at (for the progress line), or null before the first. */
  currentFile: string | null = null;
  readonly onProblem: (p: SourceProblem) => void;
  readonly onInconsistent: (p: SourceProblem) => void;
  readonly onNotice: (text: string) => void;
  readonly onFile: (path: string, state: 'new' | 'modified' | 'unmodified') => void;
  readonly onMetaProblem: (p: SourceProblem) => void;
  readonly beforeOpen: (path: string) => Promise<void>;
  readonly afterRead: () => Promise<void>;
  private readonly background: Promise<void>[] = [];
  private failure: unknown = null;

  constructor(opts: ArchiverOptions) {
    this.signal = opts.signal;
    this.onProblem = opts.onProblem;
    this.beforeOpen = opts.beforeOpen ?? (async () => undefined);
    this.afterRead = opts.afterRead ?? (async () => undefined);
    this.onInconsistent = opts.onInconsistent ?? opts.onProblem;
    this.onNotice = opts.onNotice ?? (() => undefined);
    this.onFile = opts.onFile ?? (() => undefined);
    this.onMetaProblem = opts.onMetaProblem ?? this.onInconsistent;
  }

  /** Throws once the backup is interrupted (every await of the backup comes back through here). */
  check(): void {
    stopIfBackupAborted(this.signal);
    if (this.failure) throw this.failure;
  }

  /** A source entry left out: reported to onProblem with the path and what failed. */
  problem(path: string, err: unknown): void {
    const e = err as NodeJS.ErrnoException | null;
    // Node's message repeats the path, decoded with U+FFFD and with any newline raw: the path is
    // reported (escaped) by the caller, so an errno error says only what failed.
    const message = e?.code === 'ENOENT' ? 'vanished during backup' : e?.code && e.syscall ? `${e.message.split(',')[0]} (${e.syscall})` : err instanceof Error ? err.message : String(err);
    this.onProblem({ path, message });
  }

  /** A task nobody awaits now: its failure fails the backup (at the next check), and drain() waits for it. */
  track(p: Promise<void>): void {
    const t = p.catch((err: unknown) => {
      this.failure ??= err;
    });
    this.background.push(t);
  }

  /** Waits for every tracked task, including those started meanwhile; throws the first failure. */
  async drain(): Promise<void> {
    while (this.background.length > 0) {
      this.check();
      await Promise.all(this.background.splice(0));
    }
    if (this.failure) throw this.failure;
  }
}

/** Every await of a backup checks this, up to the saving of the snapshot: exit 130, no snapshot saved. */
export function stopIfBackupAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AbortedError('backup interrupted: no snapshot saved');
}
