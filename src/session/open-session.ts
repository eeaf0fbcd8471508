// Opening a repository: its storage from a location, the primitives, the repository with a
// password. What a command (or the benchmark) does with it is planned with memory-plan.ts and run
// on worker-pool.ts's pool.
import type { NativePolicy, PrimitiveName } from '../../native-bindings/types.js';
import { loadPrimitives } from '../../native-bindings/index.js';
import { Repository } from '../repository/repository.js';
import { openBackend, type OpenBackendOptions } from './open-backend.js';

export interface OpenSession {
  repo: Repository;
  /** The storage the repository was opened on (with its decorators). */
  /** The repository is on another machine: worth more requests in flight. */
  remote: boolean;
  chosen: Record<PrimitiveName, string>;
  fallback: boolean;
  /** Where the off-heap index is kept; null with --no-cache (a temporary folder then). */
  indexCacheDir: string | null;
}

export interface OpenSessionOptions extends OpenBackendOptions {
  /** Which implementations of the primitives to load (ENGINE_NATIVE for the CLI). */
  policy: NativePolicy;
}

/**
 * Opens the storage at `location`, loads the primitives, then opens the repository with the
 * password `password()` gives: asked for only once the storage is open, so that a bad location or
 * storage option is said before anyone is prompted. Warnings go to `warn`.
 */
export async function openSession(location: string, opts: OpenSessionOptions, password: () => Promise<Uint8Array>, warn: (message: string) => void): Promise<OpenSession> {
  const { backend, remote, indexCacheDir } = await openBackend(location, opts, warn);
  const { primitives: p, report } = await loadPrimitives(opts.policy);
  const repo = await Repository.open(backend, p, await password());
  const chosen = Object.fromEntries(report.map((r) => [r.primitive, r.chosen])) as Record<PrimitiveName, string>;
  return { repo, remote, chosen, fallback: opts.policy === 'fallback', indexCacheDir };
}
