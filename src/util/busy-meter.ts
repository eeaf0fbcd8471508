// Busy time of a pipeline stage, for `engine bench` and its stage-by-stage report (instrumentation
// only: nothing waits on it).

/**
 * Busy time of a stage, for `engine bench` (instrumentation only): the integral over time of the
 * operations in flight, each counted up to `capacity` at once. With capacity 1 it is the time
 * during which at least one operation was in flight; for the pool (capacity = threads) it is the
 * thread time spent on tasks, queueing excluded. Per label, the busy time is shared among the
 * operations in flight.
 */
export class BusyMeter {
  readonly capacity: number;
  private active = 0;
  private last = 0;
  private total = 0;
  private readonly byLabel = new Map<string, { active: number; ms: number }>();

  constructor(capacity: number) {
    this.capacity = capacity;
  }

  private advance(): void {
    const now = performance.now();
    if (this.active > 0) {
      const dt = now - this.last;
      const busy = dt * Math.min(this.active, this.capacity);
      this.total += busy;
      for (const l of this.byLabel.values()) if (l.active > 0) l.ms += (busy * l.active) / this.active;
    }
    this.last = now;
  }

  /** Counts `p` as busy from now until it settles. */
  track<T>(p: Promise<T>, label = ''): Promise<T> {
    const done = this.begin(label);
    p.then(done, done);
    return p;
  }

  /** Counts the call of `fn` (its synchronous part too) as busy until its promise settles. */
  run<T>(fn: () => Promise<T>, label = ''): Promise<T> {
    const done = this.begin(label);
    let p: Promise<T>;
    try {
      p = fn();
    } catch (err) {
      done();
      throw err;
    }
    p.then(done, done);
    return p;
  }

  private begin(label: string): () => void {
    this.advance();
    this.active++;
    let l = this.byLabel.get(label);
    if (!l) {
      l = { active: 0, ms: 0 };
      this.byLabel.set(label, l);
    }
    l.active++;
    const entry = l;
    return () => {
      this.advance();
      this.active--;
      entry.active--;
    };
  }

  /** Busy milliseconds so far (all labels, or one). */
  busyMs(label?: string): number {
    this.advance();
    return label === undefined ? this.total : (this.byLabel.get(label)?.ms ?? 0);
  }
}
