// Fault injection, for tests only: makes a sound backend behave like a bad network, so the code
// above it (retries, resumable listings, interrupted runs) is exercised on every test run rather
// than on the day a real store misbehaves. Faults are drawn from a seeded PRNG (mulberry32), so a
// failing run repeats exactly with the same seed and the same sequence of calls.
//
// Each call of an operation in `ops` (all five by default) is struck with probability `rate` by
// one of `kinds`, drawn evenly:
// - 'error'    rejects with E_BACKEND_TRANSIENT "injected HTTP 500", the inner call not made;
// - 'reset'    rejects with E_BACKEND_TRANSIENT "injected connection reset"; half the time the
//              inner call is made first (a save then stores the object although it failed, as when
//              a connection breaks after the server kept the upload), so callers must cope with
//              objects present after a failed save;
// - 'truncate' on a ranged load, returns the first half of the bytes (a buggy transport; the retry
//              layer must notice the short answer); a whole load has no length to check against
//              above the store (the stores themselves check it), so there, and for the other
//              operations, it acts as 'error';
// - 'slow'     waits slowMs (200 by default) and then makes the call.
// A listing struck by error/reset/truncate fails part-way: after up to 15 names, as a page
// request in the middle of a long listing would.
// failAll(true) fails every call; failAfter(n) lets n more calls through the failAfter rule (random
// faults still apply to them at `rate`) and fails every later one, like a store that goes away.
// rootExists, createRoot and close are never struck.
import { EngineError, ErrorCode, UsageError } from '../../errors/engine-error.js';
import { throwIfAborted } from '../errors.js';
import type { Backend, ByteRange, ObjectInfo, ObjectOptions } from '../types.js';
import { ForwardingBackend } from './forwarding-backend.js';
import { abortableSleep } from './retry-backend.js';

export type FaultKind = 'error' | 'reset' | 'truncate' | 'slow';
export type FaultOp = 'save' | 'load' | 'stat' | 'list' | 'remove';

export const FAULT_KINDS: readonly FaultKind[] = ['error', 'reset', 'truncate', 'slow'];
export const FAULT_OPS: readonly FaultOp[] = ['save', 'load', 'stat', 'list', 'remove'];

export interface FaultOptions {
  /** Probability in [0, 1] that a call is struck. */
  rate: number;
  kinds: FaultKind[];
  seed: number;
  /** The pause of a 'slow' fault; 200 ms by default. */
  slowMs?: number;
  /** The operations that may be struck; all five by default. */
  ops?: FaultOp[];
  /** As calling failAfter(n) at once. */
  failAfter?: number;
}

/** mulberry32: a tiny, fast, well-mixed 32-bit PRNG; returns numbers in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What happens to one call. */
type Verdict =
  | { kind: 'pass' }
  | { kind: 'error'; why: string }
  | { kind: 'reset'; after: boolean }
  | { kind: 'truncate' }
  | { kind: 'slow' };

const LIST_FAIL_WITHIN = 16;

export class FaultyBackend extends ForwardingBackend {
  /** Calls of the five operations (struck or not). */
  calls = 0;
  /** Faults injected (slow ones included). */
  injected = 0;
  private readonly rate: number;
  private readonly kinds: readonly FaultKind[];
  private readonly slowMs: number;
  private readonly ops: ReadonlySet<FaultOp>;
  private readonly random: () => number;
  private failingAll = false;
  /** Calls still let through by failAfter; undefined when failAfter is not in force. */
  private passesLeft: number | undefined;
  /** The fourth draw of the last verdict: where a struck listing breaks. */
  private where = 0;

  constructor(inner: Backend, opts: FaultOptions) {
    validate(opts);
    super(inner);
    this.rate = opts.rate;
    this.kinds = [...opts.kinds];
    this.slowMs = opts.slowMs ?? 200;
    this.ops = new Set(opts.ops ?? FAULT_OPS);
    this.random = mulberry32(opts.seed);
    if (opts.failAfter !== undefined) this.failAfter(opts.failAfter);
  }

  /** While on, every call of a struck operation fails with E_BACKEND_TRANSIENT. */
  failAll(on: boolean): void {
    this.failingAll = on;
  }

  /** The next n calls pass this rule; every later one fails with E_BACKEND_TRANSIENT. */
  failAfter(n: number): void {
    if (!Number.isInteger(n) || n < 0) throw new UsageError(`failAfter: expected a whole number of 0 or more, not ${n}`);
    this.passesLeft = n;
  }

  /**
   * Decides the fate of one call. The PRNG is drawn the same number of times for every eligible
   * call, whatever the outcome, so the fates depend only on the seed and the order of calls.
   */
  private verdict(op: FaultOp): Verdict {
    this.calls++;
    if (!this.ops.has(op)) return { kind: 'pass' };
    const strike = this.random();
    const pick = this.random();
    const half = this.random();
    this.where = this.random();
    if (this.failingAll) {
      this.injected++;
      return { kind: 'error', why: 'injected failure (failAll)' };
    }
    if (this.passesLeft !== undefined) {
      if (this.passesLeft === 0) {
        this.injected++;
        return { kind: 'error', why: 'injected failure (failAfter)' };
      }
      this.passesLeft--;
    }
    if (this.rate <= 0 || strike >= this.rate || this.kinds.length === 0) return { kind: 'pass' };
    const kind = this.kinds[Math.min(this.kinds.length - 1, Math.floor(pick * this.kinds.length))] ?? 'error';
    this.injected++;
    switch (kind) {
      case 'error':
        return { kind: 'error', why: 'injected HTTP 500' };
      case 'reset':
        return { kind: 'reset', after: half < 0.5 };
      case 'truncate':
        return { kind: 'truncate' };
      case 'slow':
        return { kind: 'slow' };
    }
  }

  private fault(why: string, what: string): EngineError {
    return new EngineError(ErrorCode.BACKEND_TRANSIENT, `${what}: ${why}`);
  }

  /** Runs one call under its verdict; `truncate` says what a truncation does (undefined: as 'error'). */
  private async apply<T>(op: FaultOp, what: string, signal: AbortSignal | undefined, call: () => Promise<T>, truncate?: (v: T) => T): Promise<T> {
    const v = this.verdict(op);
    switch (v.kind) {
      case 'pass':
        return call();
      case 'error':
        throw this.fault(v.why, what);
      case 'reset':
        if (v.after) await call();
        throw this.fault('injected connection reset', what);
      case 'truncate':
        if (!truncate) throw this.fault('injected HTTP 500', what);
        return truncate(await call());
      case 'slow':
        await abortableSleep(this.slowMs, signal);
        throwIfAborted(signal, what);
        return call();
    }
  }

  override save(name: string, data: Uint8Array, opts?: ObjectOptions): Promise<void> {
    return this.apply('save', `saving "${name}" to ${this.location}`, opts?.signal, () => this.inner.save(name, data, opts));
  }

  override load(name: string, range?: ByteRange, opts?: ObjectOptions): Promise<Uint8Array> {
    return this.apply(
      'load',
      `reading "${name}" from ${this.location}`,
      opts?.signal,
      () => this.inner.load(name, range, opts),
      range ? (d) => d.subarray(0, Math.floor(d.length / 2)) : undefined,
    );
  }

  override stat(name: string): Promise<ObjectInfo> {
    return this.apply('stat', `stat of "${name}" in ${this.location}`, undefined, () => this.inner.stat(name));
  }

  override remove(name: string): Promise<void> {
    return this.apply('remove', `removing "${name}" from ${this.location}`, undefined, () => this.inner.remove(name));
  }

  override async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const what = `listing "${prefix}" in ${this.location}`;
    const v = this.verdict('list');
    const failAt = v.kind === 'pass' || v.kind === 'slow' ? Infinity : Math.floor(this.where * LIST_FAIL_WITHIN);
    const why = v.kind === 'error' ? v.why : v.kind === 'reset' ? 'injected connection reset' : 'injected HTTP 500';
    if (v.kind === 'slow') await abortableSleep(this.slowMs);
    let n = 0;
    for await (const info of this.inner.list(prefix)) {
      if (n >= failAt) throw this.fault(why, what);
      n++;
      yield info;
    }
    if (failAt !== Infinity) throw this.fault(why, what);
  }
}

/** `backend` with faults injected as `opts` says (tests only). */
export function withFaults(backend: Backend, opts: FaultOptions): FaultyBackend {
  return new FaultyBackend(backend, opts);
}

function validate(o: FaultOptions): void {
  if (!(o.rate >= 0 && o.rate <= 1)) throw new UsageError(`fault injection: rate must be between 0 and 1, not ${o.rate}`);
  for (const k of o.kinds) if (!FAULT_KINDS.includes(k)) throw new UsageError(`fault injection: unknown kind "${k}" (known: ${FAULT_KINDS.join(', ')})`);
  for (const op of o.ops ?? []) if (!FAULT_OPS.includes(op)) throw new UsageError(`fault injection: unknown operation "${op}" (known: ${FAULT_OPS.join(', ')})`);
  if (!Number.isFinite(o.seed)) throw new UsageError(`fault injection: seed must be a number, not ${o.seed}`);
  if (o.slowMs !== undefined && !(o.slowMs >= 0)) throw new UsageError(`fault injection: slowMs must be 0 or more, not ${o.slowMs}`);
}

const SPEC_HINT = 'write the faults as key=value pairs separated by commas, e.g. rate=0.1,kinds=error+reset+truncate+slow,seed=7,failAfter=40';

/**
 * Reads a fault specification such as `rate=0.1,kinds=error+reset+truncate+slow,seed=7,failAfter=40`.
 * Keys: rate (required, 0..1), kinds (required, `+`-separated), seed (integer, 0 by default),
 * slowMs, ops (`+`-separated: save, load, stat, list, remove), failAfter. Throws E_USAGE naming
 * the offending part on anything else.
 */
export function parseFaultSpec(spec: string): FaultOptions {
  const bad = (why: string): UsageError => new UsageError(`fault specification "${spec}": ${why}`, { hint: SPEC_HINT });
  const seen = new Map<string, string>();
  for (const part of spec.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) throw bad(`"${item}" is not key=value`);
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (!['rate', 'kinds', 'seed', 'slowMs', 'ops', 'failAfter'].includes(key)) throw bad(`unknown key "${key}" (known: rate, kinds, seed, slowMs, ops, failAfter)`);
    if (seen.has(key)) throw bad(`"${key}" is given twice`);
    if (value === '') throw bad(`"${key}" has no value`);
    seen.set(key, value);
  }
  const num = (key: string, value: string, integer: boolean): number => {
    const n = Number(value);
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(value) || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
      throw bad(`${key}=${value} is not ${integer ? 'a whole number' : 'a number'}`);
    }
    return n;
  };
  const rateText = seen.get('rate');
  if (rateText === undefined) throw bad('rate is missing');
  const rate = num('rate', rateText, false);
  if (rate < 0 || rate > 1) throw bad(`rate=${rateText} must be between 0 and 1`);
  const kindsText = seen.get('kinds');
  if (kindsText === undefined) throw bad('kinds is missing');
  const kinds = kindsText.split('+').map((k) => k.trim());
  for (const k of kinds) if (!(FAULT_KINDS as readonly string[]).includes(k)) throw bad(`unknown kind "${k}" (known: ${FAULT_KINDS.join(', ')})`);
  const out: FaultOptions = { rate, kinds: kinds as FaultKind[], seed: 0 };
  const seedText = seen.get('seed');
  if (seedText !== undefined) out.seed = num('seed', seedText, true);
  const slowText = seen.get('slowMs');
  if (slowText !== undefined) {
    out.slowMs = num('slowMs', slowText, false);
    if (out.slowMs < 0) throw bad(`slowMs=${slowText} must be 0 or more`);
  }
  const opsText = seen.get('ops');
  if (opsText !== undefined) {
    const ops = opsText.split('+').map((o) => o.trim());
    for (const o of ops) if (!(FAULT_OPS as readonly string[]).includes(o)) throw bad(`unknown operation "${o}" (known: ${FAULT_OPS.join(', ')})`);
    out.ops = ops as FaultOp[];
  }
  const afterText = seen.get('failAfter');
  if (afterText !== undefined) {
    out.failAfter = num('failAfter', afterText, true);
    if (out.failAfter < 0) throw bad(`failAfter=${afterText} must be 0 or more`);
  }
  return out;
}
