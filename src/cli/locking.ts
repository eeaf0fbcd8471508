// The locks a command holds, taken when it opens the repository and released by main() when the
// command ends, however it ends (a process killed outright leaves a lock that later runs find
// stale: its pid is gone).
import { UsageError } from '../errors/engine-error.js';
import { RepositoryLock } from '../repository/locks.js';
import type { Repository } from '../repository/repository.js';

const held = new Set<RepositoryLock>();

export interface LockRequest {
  readonly exclusive: boolean;
  /** The command, as other runs will name the holder. */
  readonly command: string;
  readonly signal?: AbortSignal;
}

/** `--retry-lock`: `30s`, `10m`, `1h` or combinations such as `1h30m`. */
export function parseWait(text: string): number {
  const units: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000 };
  if (!/^(\d+[smh])+$/.test(text)) throw new UsageError(`--retry-lock "${text}" is not a duration`, { hint: 'give for example 30s, 10m or 1h' });
  let ms = 0;
  for (const m of text.matchAll(/(\d+)([smh])/g)) ms += Number(m[1]) * units[m[2]!]!;
  return ms;
}

export async function lockRepository(repo: Repository, req: LockRequest, retryLock: string | undefined): Promise<RepositoryLock> {
  const lock = await RepositoryLock.acquire(repo, {
    exclusive: req.exclusive,
    command: req.command,
    retryMs: retryLock === undefined ? 0 : parseWait(retryLock),
    ...(req.signal ? { signal: req.signal } : {}),
  });
  held.add(lock);
  return lock;
}

export async function releaseLocks(): Promise<void> {
  const all = [...held];
  held.clear();
  await Promise.all(all.map((l) => l.release().catch(() => undefined)));
}

/**
 * Throws if any lock this command holds was lost (removed by another host, or not refreshed for
 * too long): called before a step that relies on it, such as writing a snapshot or deleting packs.
 */
export async function assertLocksHeld(): Promise<void> {
  for (const l of held) await l.assertHeld();
}
