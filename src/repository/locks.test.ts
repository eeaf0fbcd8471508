// Locks on a real (in-memory) repository: shared locks coexist, exclusive ones exclude, stale
// locks (dead pid on this host, or not refreshed for STALE_MS) are removed, waiting works, and
// two contenders never hold conflicting locks at once.
import { describe, expect, it } from 'vitest';
import { testPrimitives, testRepository } from '../../test/support/test-repository.js';
import { MemoryBackend } from '../backend/memory/memory-backend.js';
import { isEngineError, ErrorCode } from '../errors/engine-error.js';
import type { Clock } from '../util/clock.js';
import { LOCKS_PREFIX, REFRESH_MS, RepositoryLock, STALE_MS, listLocks, readLock, withLock } from './locks.js';
import { Repository } from './repository.js';
import { keysOf, storageOf } from './storage.js';

const { primitives: p } = await testPrimitives();

async function freshRepo(): Promise<Repository> {
  return (await testRepository({ backend: new MemoryBackend('locks') })).repo;
}

async function lockNames(repo: Repository): Promise<string[]> {
  const out: string[] = [];
  for await (const o of storageOf(repo).list(LOCKS_PREFIX)) out.push(o.name);
  return out;
}

async function lockedError(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (err) {
    expect(isEngineError(err, ErrorCode.REPO_LOCKED), String(err)).toBe(true);
    return err as Error;
  }
  throw new Error('expected the repository to be locked');
}

const here = { hostname: 'host-a', isAlive: () => true };

describe('repository locks', () => {
  it('shared locks coexist; an exclusive one waits for none of them to be left, and excludes both kinds', async () => {
    const repo = await freshRepo();
    const a = await RepositoryLock.acquire(repo, { ...here, exclusive: false, command: 'backup' });
    const b = await RepositoryLock.acquire(repo, { ...here, exclusive: false, command: 'backup' });
    expect(await lockNames(repo)).toHaveLength(2);
    const err = await lockedError(() => RepositoryLock.acquire(repo, { ...here, exclusive: true, command: 'prune' }));
    expect(err.message).toContain('by `engine backup`');
    await a.release();
    await b.release();
    expect(await lockNames(repo)).toEqual([]);
    const x = await RepositoryLock.acquire(repo, { ...here, exclusive: true, command: 'prune' });
    const e2 = await lockedError(() => RepositoryLock.acquire(repo, { ...here, exclusive: false, command: 'backup' }));
    expect(e2.message).toContain('locked exclusively by `engine prune`');
    await lockedError(() => RepositoryLock.acquire(repo, { ...here, exclusive: true, command: 'prune' }));
    await x.release();
    // A refused attempt leaves no lock of its own behind.
    expect(await lockNames(repo)).toEqual([]);
  });

  it('a lock of a dead process on this host is stale and removed; on another host it stands until it is old', async () => {
    const repo = await freshRepo();
    await RepositoryLock.acquire(repo, { hostname: 'host-a', pid: 4242, isAlive: () => true, exclusive: true, command: 'prune' });
    // Same host, pid gone: removed by the next taker.
    const next = await RepositoryLock.acquire(repo, { hostname: 'host-a', isAlive: (pid) => pid !== 4242, exclusive: false, command: 'backup' });
    expect(await lockNames(repo)).toEqual([next.name]);
    await next.release();

    let now = Date.parse('2026-01-01T00:00:00Z');
    const clock: Clock = { now: () => new Date(now), monotonicMs: () => now };
    await RepositoryLock.acquire(repo, { hostname: 'host-b', exclusive: true, command: 'prune', clock });
    // From host-a the pid cannot be tested: the lock holds until it was not refreshed for STALE_MS.
    now += STALE_MS - 60_000;
    await lockedError(() => RepositoryLock.acquire(repo, { hostname: 'host-a', isAlive: () => false, exclusive: false, command: 'backup', clock }));
    now += 2 * 60_000;
    const after = await RepositoryLock.acquire(repo, { hostname: 'host-a', isAlive: () => false, exclusive: false, command: 'backup', clock });
    const { live, removed } = await listLocks(repo, { hostname: 'host-a', clock });
    expect(live.map((l) => l.name)).toEqual([after.name]);
    expect(removed).toEqual([]);
  });

  it('a refreshed lock is not stale, and its holder is readable', async () => {
    const repo = await freshRepo();
    let now = Date.parse('2026-01-01T00:00:00Z');
    const clock: Clock = { now: () => new Date(now), monotonicMs: () => now };
    const held = await RepositoryLock.acquire(repo, { hostname: 'host-b', pid: 77, exclusive: true, command: 'prune', clock });
    now += STALE_MS - 1000;
    await held.refresh(clock);
    now += STALE_MS - 1000;
    await lockedError(() => RepositoryLock.acquire(repo, { hostname: 'host-a', exclusive: false, command: 'backup', clock }));
    const info = await readLock(repo, held.name);
    expect(info).toMatchObject({ hostname: 'host-b', pid: 77, command: 'prune', exclusive: true });
  });

  it('--retry-lock waits for the holder to finish', async () => {
    const repo = await freshRepo();
    const held = await RepositoryLock.acquire(repo, { ...here, exclusive: false, command: 'backup' });
    setTimeout(() => void held.release(), 400);
    const t0 = Date.now();
    const x = await RepositoryLock.acquire(repo, { ...here, exclusive: true, command: 'prune', retryMs: 10_000 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(350);
    await x.release();
  });

  it('contenders for exclusive locks never overlap, and each gets its turn', async () => {
    const repo = await freshRepo();
    let inside = 0;
    let most = 0;
    const runs = Array.from({ length: 4 }, (_, i) =>
      withLock(repo, { ...here, exclusive: true, command: `prune ${i}`, retryMs: 60_000 }, async () => {
        inside++;
        most = Math.max(most, inside);
        await new Promise((r) => setTimeout(r, 30));
        inside--;
      }),
    );
    await Promise.all(runs);
    expect(most).toBe(1);
    expect(await lockNames(repo)).toEqual([]);
  });

  it('a holder learns that its lock was lost (removed by someone else, or not refreshed for too long) and does not write it back', async () => {
    const repo = await freshRepo();
    const held = await RepositoryLock.acquire(repo, { ...here, exclusive: true, command: 'prune' });
    await held.assertHeld();
    await storageOf(repo).remove(held.name);
    await held.refresh();
    expect(await lockNames(repo)).toEqual([]);
    const err = await lockedError(() => held.assertHeld());
    expect(err.message).toContain('lock was lost');

    let mono = 0;
    const clock: Clock = { now: () => new Date(Date.parse('2026-01-01T00:00:00Z') + mono), monotonicMs: () => mono };
    const slow = await RepositoryLock.acquire(repo, { ...here, exclusive: false, command: 'backup', clock });
    mono += STALE_MS - REFRESH_MS + 1000;
    const e2 = await lockedError(() => slow.assertHeld());
    expect(e2.message).toContain('not refreshed');
  });

  it('a lock from another machine with the same host name (a container) is judged by its age, not by its pid', async () => {
    const repo = await freshRepo();
    const name = `${LOCKS_PREFIX}${'ab'.repeat(32)}`;
    const now = new Date().toISOString();
    const info = { version: 1, hostname: 'host-a', username: 'u', pid: 999_999, command: 'backup', exclusive: false, created: now, refreshed: now, machine: 'another-boot:pid:[1]' };
    const { seal } = await import('../crypto/envelope.js');
    await storageOf(repo).save(name, seal(p, keysOf(repo), new TextEncoder().encode(JSON.stringify(info)), { suite: repo.suite, zstdLevel: null }));
    // pid 999999 is not alive here, but the lock is another machine's: it stands.
    await lockedError(() => RepositoryLock.acquire(repo, { hostname: 'host-a', isAlive: () => false, exclusive: true, command: 'prune' }));
  });

  it('a lock this key cannot read counts as exclusive', async () => {
    const repo = await freshRepo();
    await storageOf(repo).save(`${LOCKS_PREFIX}${'ee'.repeat(32)}`, new Uint8Array([1, 2, 3, 4, 5]));
    const err = await lockedError(() => RepositoryLock.acquire(repo, { ...here, exclusive: false, command: 'backup' }));
    expect(err.message).toContain('cannot be read');
    expect(err.message).toContain('locks/');
  });
});
