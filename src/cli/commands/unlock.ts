import { listLocks, removeLock } from '../../repository/locks.js';
import type { GlobalOptions } from '../context.js';
import type { Output } from '../output.js';
import { openRepository } from '../session.js';

export interface UnlockFlags extends GlobalOptions {
  removeAll?: boolean;
}

/** Removes stale locks (dead process on this host, or not refreshed for 30 minutes); --remove-all removes every lock. */
export async function unlockCommand(flags: UnlockFlags, out: Output): Promise<number> {
  const { repo } = await openRepository(flags, out);
  const { live, removed } = await listLocks(repo);
  const gone = [...removed];
  if (flags.removeAll) {
    for (const l of live) {
      await removeLock(repo, l.name);
      gone.push(l);
    }
  }
  const left = flags.removeAll ? [] : live;
  if (out.json) {
    out.data({ message_type: 'summary', removed: gone.map((l) => ({ name: l.name, ...l.info })), remaining: left.map((l) => ({ name: l.name, ...l.info })) });
    return 0;
  }
  for (const l of gone) out.result(`removed ${l.name}: \`engine ${l.info.command}\` pid ${l.info.pid} on ${l.info.hostname} since ${l.info.created}`);
  for (const l of left) out.result(`kept ${l.name}: \`engine ${l.info.command}\` pid ${l.info.pid} on ${l.info.hostname}, refreshed ${l.info.refreshed} (live; --remove-all removes it)`);
  if (gone.length === 0 && left.length === 0) out.result('no locks');
  return 0;
}
