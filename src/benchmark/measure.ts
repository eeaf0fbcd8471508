// One measurement with tinybench: warm-up, then iterations until both the time budget and the
// minimum count are met; the per-iteration figures are summarised as median, quartiles and MAD.
import { Bench } from 'tinybench';

export interface MeasureBudget {
  /** Time budget per task, ms (tinybench keeps going until both this and minIterations are met). */
  readonly timeMs: number;
  readonly minIterations: number;
  readonly warmupMs: number;
  readonly warmupIterations: number;
}

export interface Summary {
  readonly median: number;
  readonly p25: number;
  readonly p75: number;
  /** Median absolute deviation over the median. */
  readonly rmad: number;
  readonly samples: number;
}

/** Linear-interpolated quantile of sorted values. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new RangeError('no samples');
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const a = sorted[lo] ?? 0;
  const b = sorted[Math.min(lo + 1, sorted.length - 1)] ?? a;
  return a + (b - a) * (pos - lo);
}

export function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((x, y) => x - y);
  const median = quantile(sorted, 0.5);
  const mad = quantile(sorted.map((v) => Math.abs(v - median)).sort((x, y) => x - y), 0.5);
  return { median, p25: quantile(sorted, 0.25), p75: quantile(sorted, 0.75), rmad: median > 0 ? mad / median : 0, samples: sorted.length };
}

/** Per-iteration latencies in ms of `fn`. Throws when the task fails. */
export async function measureLatencies(name: string, fn: () => unknown, budget: MeasureBudget): Promise<number[]> {
  const bench = new Bench({
    name,
    time: budget.timeMs,
    iterations: budget.minIterations,
    warmup: budget.warmupIterations > 0 || budget.warmupMs > 0,
    warmupTime: budget.warmupMs,
    warmupIterations: budget.warmupIterations,
    retainSamples: true,
    throws: true,
  });
  bench.add(name, fn as () => void);
  await bench.run();
  const task = bench.getTask(name);
  const result = task?.result;
  if (result === undefined || result.state !== 'completed') {
    const why = result?.state === 'errored' ? result.error.message : `state ${result?.state ?? 'missing'}`;
    throw new Error(`${name}: benchmark did not complete (${why})`);
  }
  const samples = result.latency.samples;
  if (samples === undefined || samples.length === 0) throw new Error(`${name}: no samples`);
  return [...samples];
}

/** MB/s (10^6 bytes per second) per iteration, summarised. */
export async function measureThroughput(name: string, bytes: number, fn: () => unknown, budget: MeasureBudget): Promise<Summary> {
  const latencies = await measureLatencies(name, fn, budget);
  // A sample of 0 ms (timer resolution) would be infinite throughput: floor it at 1 µs.
  return summarize(latencies.map((ms) => bytes / (Math.max(ms, 0.001) / 1000) / 1e6));
}

/** Milliseconds per operation, summarised. */
export async function measureTime(name: string, fn: () => unknown, budget: MeasureBudget): Promise<Summary> {
  return summarize(await measureLatencies(name, fn, budget));
}
