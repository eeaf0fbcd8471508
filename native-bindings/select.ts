import type { Adapter, Candidate } from './adapter.js';
import type { ImplKind, NativePolicy, SelectionReport } from './types.js';
import { NoPrimitiveError } from './errors.js';
import type { Rejection } from './errors.js';
import { errorMessage } from './optional-module.js';

export const DISABLED_REASON = 'disabled by ENGINE_NATIVE=off';

/**
 * Whether `policy` rules out a candidate of `kind`: 'fallback' (ENGINE_NATIVE=off) runs the WASM/JS
 * fallbacks, so it skips addons and Node's version-dependent built-ins alike (a built-in would
 * otherwise replace the fallback on newer Node, and nothing would exercise the fallback there).
 */
export function policySkips(policy: NativePolicy, kind: ImplKind): boolean {
  return policy === 'fallback' && (kind === 'native' || kind === 'builtin');
}

/** A primitive whose every candidate is an addon or a built-in: used even under 'fallback'. */
export function nativeOnly(adapter: Adapter<unknown>): boolean {
  return adapter.candidates.every((c) => c.kind === 'native' || c.kind === 'builtin');
}

export interface Choice<T> {
  readonly value: T;
  readonly report: SelectionReport;
}

/**
 * The first candidate, in the adapter's order, that the policy allows, that loads, and that
 * passes the self-test. Under 'fallback', native and built-in candidates are skipped unless the
 * primitive has nothing else, in which case one is used and the report's note says so.
 */
export async function choose<T>(adapter: Adapter<T>, policy: NativePolicy): Promise<Choice<T>> {
  const rejected: Rejection[] = [];
  const onlyNative = nativeOnly(adapter as Adapter<unknown>);
  for (const candidate of adapter.candidates) {
    if (policySkips(policy, candidate.kind) && !onlyNative) {
      rejected.push({ impl: candidate.impl, reason: DISABLED_REASON });
      continue;
    }
    const outcome = await tryCandidate(adapter, candidate);
    if ('reason' in outcome) {
      rejected.push({ impl: candidate.impl, reason: outcome.reason });
      continue;
    }
    const report: SelectionReport = { primitive: adapter.primitive, chosen: candidate.impl, kind: candidate.kind, rejected };
    if (policySkips(policy, candidate.kind)) {
      const note = `ENGINE_NATIVE=off ignored: ${adapter.primitive} has no non-native implementation, so ${candidate.kind} ${candidate.impl} is used`;
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
