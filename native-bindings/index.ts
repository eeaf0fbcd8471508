// Entry point: picks one implementation per primitive (main thread), or loads exactly the ones
// the main thread picked (worker threads), so every thread reads and writes the same bytes.
import type { Adapter } from './adapter.js';
import type { NativePolicy, PrimitiveName, Primitives, SelectionReport } from './types.js';
import { NoPrimitiveError } from './errors.js';
import { choose, tryCandidate } from './select.js';
import { blake3Adapter } from './blake3/index.js';
import { xchacha20poly1305Adapter } from './xchacha20poly1305/index.js';
import { aes256gcmAdapter } from './aes256gcm/index.js';
import { argon2idAdapter } from './argon2id/index.js';
import { zstdAdapter } from './zstd/index.js';

export type * from './types.js';
export type { Adapter, Candidate } from './adapter.js';
export { NoPrimitiveError, ZstdDecodeError } from './errors.js';
export type { Rejection } from './errors.js';
export { choose, DISABLED_REASON } from './select.js';
// OS calls Node lacks (not crypto primitives: own loader and policy, see posix/README.md).
export { loadPosix, posixPolicyFromEnv } from './posix/index.js';

/** Every adapter, by primitive (for `engine doctor` and tests). */
export const ADAPTERS = {
  blake3: blake3Adapter,
  xchacha20poly1305: xchacha20poly1305Adapter,
  aes256gcm: aes256gcmAdapter,
  argon2id: argon2idAdapter,
  zstd: zstdAdapter,
} as const satisfies { [P in PrimitiveName]: Adapter<Primitives[P]> };

export interface LoadedPrimitives {
  readonly primitives: Primitives;
  readonly report: SelectionReport[];
}

const byPolicy = new Map<NativePolicy, Promise<LoadedPrimitives>>();

/**
 * Chooses every primitive under `policy` (once per thread and policy). Throws NoPrimitiveError
 * when a primitive has no usable implementation.
 */
export function loadPrimitives(policy: NativePolicy): Promise<LoadedPrimitives> {
  let pending = byPolicy.get(policy);
  if (pending === undefined) {
    pending = selectAll(policy);
    byPolicy.set(policy, pending);
    pending.catch(() => byPolicy.delete(policy));
  }
  return pending;
}

async function selectAll(policy: NativePolicy): Promise<LoadedPrimitives> {
  const [blake3, xchacha20poly1305, aes256gcm, argon2id, zstd] = await Promise.all([
    choose(ADAPTERS.blake3, policy),
    choose(ADAPTERS.xchacha20poly1305, policy),
    choose(ADAPTERS.aes256gcm, policy),
    choose(ADAPTERS.argon2id, policy),
    choose(ADAPTERS.zstd, policy),
  ]);
  return {
    primitives: {
      blake3: blake3.value,
      xchacha20poly1305: xchacha20poly1305.value,
      aes256gcm: aes256gcm.value,
      argon2id: argon2id.value,
      zstd: zstd.value,
    },
    report: [blake3.report, xchacha20poly1305.report, aes256gcm.report, argon2id.report, zstd.report],
  };
}

/** The impl names of a selection, in the shape loadChosenPrimitives() takes (e.g. for workerData). */
export function chosenImpls(report: readonly SelectionReport[]): Record<PrimitiveName, string> {
  const chosen: Partial<Record<PrimitiveName, string>> = {};
  for (const r of report) chosen[r.primitive] = r.chosen;
  for (const name of Object.keys(ADAPTERS) as PrimitiveName[]) {
    if (chosen[name] === undefined) throw new TypeError(`selection report lacks ${name}`);
  }
  return chosen as Record<PrimitiveName, string>;
}

const WORKER_HINT =
  'The main thread selected this implementation and worker threads must use the same one (they never ' +
  'substitute another, which could write different bytes); check that workers see the same node_modules.';

/**
 * For worker threads: loads and self-tests exactly the named implementations (each once per
 * thread). Throws NoPrimitiveError if one is unknown, fails to load, or fails its self-test.
 */
export async function loadChosenPrimitives(chosen: Record<PrimitiveName, string>): Promise<Primitives> {
  const [blake3, xchacha20poly1305, aes256gcm, argon2id, zstd] = await Promise.all([
    loadNamed(ADAPTERS.blake3, chosen.blake3),
    loadNamed(ADAPTERS.xchacha20poly1305, chosen.xchacha20poly1305),
    loadNamed(ADAPTERS.aes256gcm, chosen.aes256gcm),
    loadNamed(ADAPTERS.argon2id, chosen.argon2id),
    loadNamed(ADAPTERS.zstd, chosen.zstd),
  ]);
  return { blake3, xchacha20poly1305, aes256gcm, argon2id, zstd };
}

async function loadNamed<T>(adapter: Adapter<T>, impl: string): Promise<T> {
  const candidate = adapter.candidates.find((c) => c.impl === impl);
  if (candidate === undefined) {
    const known = adapter.candidates.map((c) => c.impl).join(', ');
    throw new NoPrimitiveError(adapter.primitive, [{ impl, reason: `unknown implementation (known: ${known})` }], WORKER_HINT);
  }
  const outcome = await tryCandidate(adapter, candidate);
  if ('reason' in outcome) throw new NoPrimitiveError(adapter.primitive, [{ impl, reason: outcome.reason }], WORKER_HINT);
  return outcome.value;
}
