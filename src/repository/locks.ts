// Repository locks (FORMAT.md "Locks"): commands that add data or only read (backup, restore,
// check, forget) hold a shared lock; prune holds an exclusive one. So prune never runs while a
// backup is deduplicating against blobs that prune would delete, and several backups run at once.
//
// A lock is an object `locks/<random id>`, sealed like every other object: its payload is JSON
// (host, user, pid, command, exclusive, created, refreshed). Its holder rewrites it every
// REFRESH_MS. A lock is stale, and removed by whoever finds it, when its process is gone (same
// host: no process with its pid) or it was not refreshed for STALE_MS (any host).
//
// Taking a lock: remove stale ones, refuse if a conflicting one exists, write ours, then list
// again; if a conflicting lock appeared meanwhile, both sides may have seen each other, so ours
// is removed and the attempt starts over after a random pause (no side can win twice by luck).
import { randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { isNotFound } from '../backend/errors.js';
import { open as openEnvelope, seal } from '../crypto/envelope.js';
import { EngineError, ErrorCode, IntegrityError, InternalError, isEngineError } from '../errors/engine-error.js';
import { systemClock, type Clock } from '../util/clock.js';
import type { Repository } from './repository.js';
import { keysOf, storageOf } from './storage.js';

export const LOCKS_PREFIX = 'locks/';
export const REFRESH_MS = 5 * 60_000;
export const STALE_MS = 30 * 60_000;

export interface LockInfo {
  readonly version: 1;
  readonly hostname: string;
  readonly username: string;
  readonly pid: number;
  readonly command: string;
  readonly exclusive: boolean;
  readonly created: string;
  readonly refreshed: string;
  /**
   * Boot id and pid namespace of the holder (Linux): two containers may share a host name but
   * not their pids, so a pid is only tested where this matches too.
   */
  readonly machine?: string;
}

export const UNREADABLE_LOCK = 'unknown (unreadable lock)';

export class RepoLockedError extends EngineError {
  constructor(holder: LockInfo, name: string, opts: { retried: boolean }) {
    if (holder.command === UNREADABLE_LOCK) {
      super(ErrorCode.REPO_LOCKED, `the repository is locked by ${name}, which cannot be read (damaged, or not a lock)`, {
        hint: 'once you are sure no engine command uses the repository, `engine unlock --remove-all` removes it',
        details: { lock: name },
      });
      return;
    }
    super(ErrorCode.REPO_LOCKED, `the repository is locked${holder.exclusive ? ' exclusively' : ''} by \`engine ${holder.command}\` (pid ${holder.pid} on ${holder.hostname}, since ${holder.created}, ${name})`, {
      hint: opts.retried
        ? 'wait for that command to finish, or give --retry-lock a longer time'
        : 'wait for that command to finish (--retry-lock 30m waits for it); if it is no longer running, `engine unlock` removes stale locks',
      details: { lock: name },
    });
  }
}

export interface LockOptions {
  readonly exclusive: boolean;
  /** The command holding it, for whoever finds it. */
  readonly command: string;
  /** How long to keep trying while a conflicting lock is held (0: fail at once). */
  readonly retryMs?: number;
  readonly signal?: AbortSignal;
  readonly clock?: Clock;
  /** Test hooks: this host's name and a liveness test for pids on it. */
  readonly hostname?: string;
  readonly pid?: number;
  readonly isAlive?: (pid: number) => boolean;
}

export function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists, owned by someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      reject(signal.reason);
    }, { once: true });
  });
}

export class RepositoryLock {
  private readonly repo: Repository;
  readonly name: string;
  private info: LockInfo;
  private timer: NodeJS.Timeout | null = null;
  private refreshing: Promise<void> = Promise.resolve();
  private released = false;
  /** Monotonic time of the last successful write of the lock. */
  private writtenAt: number;
  private lost: string | null = null;
  private readonly clock: Clock;

  private constructor(repo: Repository, name: string, info: LockInfo, clock: Clock) {
    this.repo = repo;
    this.name = name;
    this.info = info;
    this.clock = clock;
    this.writtenAt = clock.monotonicMs();
  }

  static async acquire(repo: Repository, opts: LockOptions): Promise<RepositoryLock> {
    const clock = opts.clock ?? systemClock;
    const deadline = clock.monotonicMs() + (opts.retryMs ?? 0);
    let pause = 200;
    for (;;) {
      opts.signal?.throwIfAborted();
      const conflict = await firstConflict(repo, opts, null);
      if (!conflict) {
        const lock = await RepositoryLock.write(repo, opts, clock);
        const raced = await firstConflict(repo, opts, lock.name);
        if (!raced) {
          lock.startRefresh(clock);
          return lock;
        }
        await lock.release();
        if (clock.monotonicMs() >= deadline) throw new RepoLockedError(raced.info, raced.name, { retried: (opts.retryMs ?? 0) > 0 });
      } else if (clock.monotonicMs() >= deadline) {
        throw new RepoLockedError(conflict.info, conflict.name, { retried: (opts.retryMs ?? 0) > 0 });
      }
      // A random pause: two contenders that saw each other do not retry in step.
      await sleep(Math.min(pause * (0.5 + Math.random()), Math.max(0, deadline - clock.monotonicMs())), opts.signal);
      pause = Math.min(pause * 2, 10_000);
    }
  }

  private static async write(repo: Repository, opts: LockOptions, clock: Clock): Promise<RepositoryLock> {
    const now = clock.now().toISOString();
    const info: LockInfo = {
      version: 1,
      hostname: opts.hostname ?? hostname(),
      username: safeUser(),
      pid: opts.pid ?? process.pid,
      command: opts.command,
      exclusive: opts.exclusive,
      created: now,
      refreshed: now,
      ...(thisMachine() ? { machine: thisMachine()! } : {}),
    };
    const name = `${LOCKS_PREFIX}${randomBytes(32).toString('hex')}`;
    await storageOf(repo).save(name, sealLock(repo, info));
    return new RepositoryLock(repo, name, info, clock);
  }

  private startRefresh(clock: Clock): void {
    this.timer = setInterval(() => {
      this.refreshing = this.refresh(clock).catch(() => undefined);
    }, REFRESH_MS);
    // A lock never keeps the process alive by itself.
    this.timer.unref();
  }

  /**
   * Rewrites the lock with a fresh time (same name: readers see the old or the new object). A lock
   * that vanished (another host found it stale, or someone ran `unlock --remove-all`) is not
   * written again: the holder is told by assertHeld().
   */
  async refresh(clock: Clock = this.clock): Promise<void> {
    if (this.released || this.lost) return;
    try {
      await storageOf(this.repo).stat(this.name);
    } catch (err) {
      if (isNotFound(err)) {
        this.lost = `${this.name} was removed by someone else while this command held it`;
        return;
      }
      throw err;
    }
    this.info = { ...this.info, refreshed: clock.now().toISOString() };
    await storageOf(this.repo).save(this.name, sealLock(this.repo, this.info));
    this.writtenAt = clock.monotonicMs();
  }

  /**
   * Throws when the lock can no longer be counted on: it was removed, or it was not refreshed for
   * so long (storage unreachable, machine suspended) that others may take it for stale. Called
   * before the steps that rely on it: a backup before its snapshot, prune before it deletes.
   */
  async assertHeld(): Promise<void> {
    if (!this.lost && this.clock.monotonicMs() - this.writtenAt > STALE_MS - REFRESH_MS) {
      this.lost = `${this.name} was not refreshed for ${Math.round((this.clock.monotonicMs() - this.writtenAt) / 60_000)} minutes: other hosts may have taken it for stale`;
    }
    if (!this.lost) {
      try {
        await storageOf(this.repo).stat(this.name);
      } catch (err) {
        if (!isNotFound(err)) throw err;
        this.lost = `${this.name} was removed by someone else while this command held it`;
      }
    }
    if (this.lost) {
      throw new EngineError(ErrorCode.REPO_LOCKED, `the repository lock was lost: ${this.lost}`, {
        hint: 'nothing was committed after the loss; run the command again',
        details: { lock: this.name },
      });
    }
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (this.timer) clearInterval(this.timer);
    await this.refreshing;
    await storageOf(this.repo).remove(this.name);
  }
}

function sealLock(repo: Repository, info: LockInfo): Uint8Array {
  return seal(repo.p, keysOf(repo), new TextEncoder().encode(JSON.stringify(info)), { suite: repo.suite, zstdLevel: null });
}

export async function readLock(repo: Repository, name: string): Promise<LockInfo> {
  const bytes = await storageOf(repo).load(name);
  let o: LockInfo;
  try {
    o = JSON.parse(new TextDecoder().decode(openEnvelope(repo.p, keysOf(repo), bytes, 64 * 1024, name))) as LockInfo;
  } catch (err) {
    if (isEngineError(err)) throw err;
    throw new IntegrityError(`${name}: not a lock (${err instanceof Error ? err.message : String(err)})`);
  }
  if (o === null || typeof o !== 'object' || o.version !== 1 || typeof o.pid !== 'number' || typeof o.hostname !== 'string' || typeof o.refreshed !== 'string') throw new IntegrityError(`${name}: not a lock`);
  return o;
}

export function isStale(info: LockInfo, opts: { hostname?: string; isAlive?: (pid: number) => boolean; clock?: Clock } = {}): boolean {
  const clock = opts.clock ?? systemClock;
  // Same host name and the same boot and pid namespace (when the lock says): its pid is ours to test.
  const sameMachine = info.machine === undefined || thisMachine() === null || info.machine === thisMachine();
  if (info.hostname === (opts.hostname ?? hostname()) && sameMachine && !(opts.isAlive ?? processIsAlive)(info.pid)) return true;
  const refreshed = Date.parse(info.refreshed);
  return Number.isNaN(refreshed) || clock.now().getTime() - refreshed > STALE_MS;
}

export interface FoundLock {
  readonly name: string;
  readonly info: LockInfo;
}

/** Every lock, with the stale ones removed on the way (returned as `removed`). */
export async function listLocks(repo: Repository, opts: { hostname?: string; isAlive?: (pid: number) => boolean; clock?: Clock; own?: string } = {}): Promise<{ live: FoundLock[]; removed: FoundLock[] }> {
  const live: FoundLock[] = [];
  const removed: FoundLock[] = [];
  for await (const o of storageOf(repo).list(LOCKS_PREFIX)) {
    // Our own lock needs no reading (on a remote store, each read is a request).
    if (o.name === opts.own) continue;
    let info: LockInfo;
    try {
      info = await readLock(repo, o.name);
    } catch (err) {
      // Gone meanwhile (its holder released it): nothing to see.
      if (isNotFound(err)) continue;
      // A lock this key cannot read is kept and counts as exclusive: better to stop than to
      // prune under a live backup; `engine unlock --remove-all` clears it.
      if (isEngineError(err, ErrorCode.INTEGRITY)) {
        live.push({ name: o.name, info: { version: 1, hostname: '?', username: '?', pid: 0, command: UNREADABLE_LOCK, exclusive: true, created: '?', refreshed: '?' } });
        continue;
      }
      throw err;
    }
    if (isStale(info, opts)) {
      await storageOf(repo).remove(o.name).catch(() => undefined);
      removed.push({ name: o.name, info });
    } else {
      live.push({ name: o.name, info });
    }
  }
  return { live, removed };
}

/** Removes lock `name` (`engine unlock --remove-all`: whoever holds it loses it). */
export async function removeLock(repo: Repository, name: string): Promise<void> {
  // Only ever a lock: the name comes from listLocks, and a slip must not delete anything else.
  if (!name.startsWith(LOCKS_PREFIX)) throw new InternalError(`${name} is not a lock`);
  await storageOf(repo).remove(name);
}

async function firstConflict(repo: Repository, opts: LockOptions, own: string | null): Promise<FoundLock | undefined> {
  const { live } = await listLocks(repo, own ? { ...opts, own } : opts);
  return live.find((l) => l.name !== own && (opts.exclusive || l.info.exclusive));
}

/** Holds a lock while `fn` runs. */
export async function withLock<T>(repo: Repository, opts: LockOptions, fn: () => Promise<T>): Promise<T> {
  const lock = await RepositoryLock.acquire(repo, opts);
  try {
    return await fn();
  } finally {
    await lock.release().catch(() => undefined);
  }
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return '';
  }
}

let machineId: string | null | undefined;

/** Boot id and pid namespace of this process (Linux), or null where they cannot be read. */
function thisMachine(): string | null {
  if (machineId !== undefined) return machineId;
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const ns = readlinkSync('/proc/self/ns/pid');
    machineId = `${boot}:${ns}`;
  } catch {
    machineId = null;
  }
  return machineId;
}
