// Picks the implementation of the OS calls Node lacks (types.ts): libc through koffi when it loads
// and passes its self-test, else Node's own calls. ENGINE_POSIX=off forces the fallback (so tests
// run both); ENGINE_NATIVE=off does not touch this choice, because it is about byte-identical crypto
// and compression, and these calls change no stored byte, only what a restore can put back.
import type { PosixOps, PosixPolicy, PosixReport } from './types.js';
import { loadLibcPosix } from './libc.js';
import { nodeFallbackPosix } from './fallback.js';
import { errorMessage } from '../optional-module.js';

export type * from './types.js';
export { AT_FDCWD } from './types.js';
export { PosixError, isNotSupported } from './errors.js';
export { NotKeptNotices, type NotKeptFeature } from './not-kept.js';
export { nodeFallbackPosix } from './fallback.js';

export const POSIX_DISABLED_REASON = 'disabled by ENGINE_POSIX=off';

interface PosixCandidate {
  readonly impl: string;
  readonly kind: 'native' | 'js';
  load(): Promise<PosixOps>;
}

const CANDIDATES: readonly PosixCandidate[] = [
  { impl: 'libc via koffi', kind: 'native', load: loadLibcPosix },
  { impl: 'node:fs', kind: 'js', load: async () => nodeFallbackPosix() },
];

/** The policy ENGINE_POSIX asks for: 'off' forces the fallback, anything else is 'auto'. */
export function posixPolicyFromEnv(env: NodeJS.ProcessEnv = process.env): PosixPolicy {
  return env.ENGINE_POSIX === 'off' ? 'off' : 'auto';
}

export interface LoadedPosix {
  readonly ops: PosixOps;
  readonly report: PosixReport;
}

const byPolicy = new Map<PosixPolicy, Promise<LoadedPosix>>();

/** Loads the OS calls once per thread and policy. Never fails: the last candidate always loads. */
export function loadPosix(policy: PosixPolicy = posixPolicyFromEnv()): Promise<LoadedPosix> {
  let pending = byPolicy.get(policy);
  if (pending === undefined) {
    pending = select(policy);
    byPolicy.set(policy, pending);
  }
  return pending;
}

async function select(policy: PosixPolicy): Promise<LoadedPosix> {
  const rejected: { impl: string; reason: string }[] = [];
  for (const c of CANDIDATES) {
    if (policy === 'off' && c.kind === 'native') {
      rejected.push({ impl: c.impl, reason: POSIX_DISABLED_REASON });
      continue;
    }
    try {
      const ops = await c.load();
      selfTest(ops);
      return { ops, report: { chosen: c.impl, kind: c.kind, caps: ops.caps, rejected } };
    } catch (err) {
      rejected.push({ impl: c.impl, reason: errorMessage(err) });
    }
  }
  // Unreachable unless the fallback itself throws; keep the contract that this never fails.
  const ops = nodeFallbackPosix();
  return { ops, report: { chosen: ops.impl, kind: 'js', caps: ops.caps, rejected } };
}

/**
 * Checks, without touching a file, that calls reach libc and errno comes back: each call on fd -1
 * must fail with EBADF. A wrong prototype or a lost errno shows up here rather than mid-backup.
 */
function selfTest(ops: PosixOps): void {
  const expectBadFd = (what: string, call: () => unknown): void => {
    try {
      call();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if (code === 'EBADF') return;
      throw new Error(`self-test: ${what}(-1) failed with ${String(code)}, not EBADF`);
    }
    throw new Error(`self-test: ${what}(-1) succeeded`);
  };
  if (ops.caps.nsTimes) expectBadFd('futimens', () => ops.futimens(-1, 0n, 0n));
  if (ops.caps.seekData) expectBadFd('lseek', () => ops.seekData(-1, 0));
  if (ops.caps.xattrs) expectBadFd('flistxattr', () => ops.flistxattr(-1));
}
