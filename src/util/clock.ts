// The one place that reads the wall clock and the monotonic clock, so time can be faked in tests.
export interface Clock {
  now(): Date;
  monotonicMs(): number;
}

export const systemClock: Clock = {
  now: () => new Date(),
  monotonicMs: () => performance.now(),
};
