import type { Adapter, Candidate } from './adapter.js';
import type { NativePolicy, SelectionReport } from './types.js';
import { NoPrimitiveError } from './errors.js';
import type { Rejection } from './errors.js';
import { errorMessage } from './optional-module.js';

export const DISABLED_REASON = 'disabled by ENGINE_NATIVE=off';

export interface Choice<T> {
  readonly value: T;
  readonly report: SelectionReport;
}

/**
 * The first candidate, in the adapter's order, that the policy allows, that loads, and that
 * passes the self-test. Under 'fallback', native candidates are skipped unless the primitive has
 * nothing else, in which case the native one is used and the report's note says so.
 */
export async function choose<T>(adapter: Adapter<T>, policy: NativePolicy): Promise<Choice<T>> {
  const rejected: Rejection[] = [];
  const nativeOnly = adapter.candidates.every((c) => c.kind === 'native');
  for (const candidate of adapter.candidates) {
    if (policy === 'fallback' && candidate.kind === 'native' && !nativeOnly) {
      rejected.push({ impl: candidate.impl, reason: DISABLED_REASON });
      continue;
    }
    const outcome = await tryCandidate(adapter, candidate);
    if ('reason' in outcome) {
      rejected.push({ impl: candidate.impl, reason: outcome.reason });
      continue;
    }
    const report: SelectionReport = { primitive: adapter.primitive, chosen: candidate.impl, kind: candidate.kind, rejected };
    if (policy === 'fallback' && candidate.kind === 'native') {
      const note = `ENGINE_NATIVE=off ignored: ${adapter.primitive} has no non-native implementation, so native ${candidate.impl} is used`;
      return { value: outcome.value, report: { ...report, note } };
    }
    return { value: outcome.value, report };
  }
  throw new NoPrimitiveError(adapter.primitive, rejected);
}

// Candidates that loaded and passed their self-test, per thread: loading twice would re-run
// WASM compilation and self-tests. Failures are not kept, so a later call retries them.
const ready = new WeakMap<Candidate<unknown>, Promise<unknown>>();

/** Loads and self-tests one candidate (once per thread); a failure comes back as a reason. */
export async function tryCandidate<T>(adapter: Adapter<T>, candidate: Candidate<T>): Promise<{ value: T } | { reason: string }> {
  let pending = ready.get(candidate) as Promise<T> | undefined;
  if (pending === undefined) {
    pending = loadAndTest(adapter, candidate);
    ready.set(candidate, pending);
  }
  try {
    return { value: await pending };
  } catch (err) {
    ready.delete(candidate);
    return { reason: errorMessage(err) };
  }
}

async function loadAndTest<T>(adapter: Adapter<T>, candidate: Candidate<T>): Promise<T> {
  let value: T;
  try {
    value = await candidate.load();
  } catch (err) {
    throw new Error(`load failed: ${errorMessage(err)}`);
  }
  try {
    await adapter.selfTest(value);
  } catch (err) {
    throw new Error(`self-test failed: ${errorMessage(err)}`);
  }
  return value;
}
