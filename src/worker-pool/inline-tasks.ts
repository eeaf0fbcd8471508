// The pool's tasks on the calling thread, for plans whose budget holds no worker thread
// (docs/MEMORY.md "No worker thread at small budgets"). A worker thread costs its isolate, its own
// primitives and their WebAssembly heaps: 32-36 MiB native and 48-60 MiB with the fallbacks beyond
// its buffers, which a small budget cannot spare next to Node's own ~64 MiB and the Argon2id key.
// Here the tasks a worker runs (workers/thread-tasks.ts) run on this thread with this thread's
// primitives, one task at a time: the work is the same and the bytes written are identical, only
// on one core.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { collectYoung } from '../util/gc.js';
import type { WorkerInit } from '../../workers/protocol.js';
import { settled, ThreadTasks } from '../../workers/thread-tasks.js';

export class InlineTasks {
  private readonly tasks: ThreadTasks;
  /** Tasks wait their turn here: one runs at a time, as on a pool of one thread. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(init: WorkerInit) {
    this.tasks = new ThreadTasks(init);
  }

  get started(): boolean {
    return this.tasks.started;
  }

  /** Loads the primitives now (they are this thread's own, already loaded by the session: cheap). */
  start(): void {
    this.tasks.context().catch(() => undefined);
  }

  /**
   * Runs one task after the tasks queued before it, as a worker would: a failure comes back as a
   * TaskFailure value (its code intact), never thrown, so the pool treats both paths alike.
   */
  run(name: string, input: unknown): Promise<unknown> {
    const turn = this.queue.then(() => this.runNow(name, input));
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  private async runNow(name: string, input: unknown): Promise<unknown> {
    // A task takes a few milliseconds of this thread: reads and uploads in flight get their
    // callbacks between two tasks, so the pipeline's I/O keeps moving.
    await nextTurn();
    return settled(async () => {
      const out = await this.tasks.run(name, input);
      // As a worker does after a task: its temporaries go before they are promoted.
      collectYoung();
      return out;
    });
  }
}
