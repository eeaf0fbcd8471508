import { UsageError } from '../../errors/engine-error.js';
import type { KeyId } from '../../format/ids.js';
import { decodeKeyFile } from '../../format/key-file.js';
import type { Repository } from '../../repository/repository.js';
import { toHex } from '../../util/hex.js';
import { readNewKeyPassword, type GlobalOptions } from '../context.js';
import type { Output } from '../output.js';
import { openRepository } from '../session.js';
import { kdfFlags } from './init.js';

export interface KeyFlags extends GlobalOptions {
  newPasswordFile?: string;
  /** Argon2id cost of the key that add and passwd write (as init's). */
  kdfMemory?: string;
  kdfTime?: string;
}

interface KeyEntry {
  id: KeyId;
  current: boolean;
  created: string;
  hostname: string;
  username: string;
  damaged: boolean;
}

async function listKeys(repo: Repository): Promise<KeyEntry[]> {
  const out: KeyEntry[] = [];
  for await (const o of repo.listKeyFiles()) {
    const id = o.id;
    const bytes = await repo.loadKeyFile(o);
    let entry: KeyEntry = { id, current: id === repo.keyId, created: '', hostname: '', username: '', damaged: true };
    if (toHex(repo.p.blake3.hash(bytes)) === id) {
      try {
        const f = decodeKeyFile(bytes, o.name);
        entry = { ...entry, created: f.created, hostname: f.hostname, username: f.username, damaged: false };
      } catch {
        // reported as damaged
      }
    }
    out.push(entry);
  }
  return out.sort((a, b) => (a.created < b.created ? -1 : 1));
}

/** Finds one key by id or unique prefix. */
function pick(keys: KeyEntry[], ref: string): KeyEntry {
  const hits = keys.filter((k) => k.id.startsWith(ref));
  if (!/^[0-9a-f]{4,64}$/.test(ref) || hits.length === 0) throw new UsageError(`no key matches "${ref}"`, { hint: 'list them with `engine key list`' });
  if (hits.length > 1) throw new UsageError(`"${ref}" matches ${hits.length} keys`, { hint: 'give more digits of the id' });
  return hits[0]!;
}

export async function keyCommand(action: string, ref: string | undefined, flags: KeyFlags, out: Output, signal: AbortSignal): Promise<number> {
  if (!['list', 'add', 'remove', 'passwd'].includes(action)) throw new UsageError(`unknown key action "${action}"`, { hint: 'use list, add, remove or passwd' });
  if (action === 'remove' && ref === undefined) throw new UsageError('which key? `engine key remove ID`', { hint: 'list them with `engine key list`' });
  // Checked before anything is opened or asked for.
  const kdf = kdfFlags(flags);
  // Reading keys needs no lock. Changing them takes the exclusive one: two removals at once, each
  // opened with the key the other removes, would otherwise leave no key at all.
  const { repo } = await openRepository(flags, out, action === 'list' ? undefined : { exclusive: true, command: `key ${action}`, signal });
  const keys = await listKeys(repo);
  if (action !== 'list' && !keys.some((k) => k.id === repo.keyId && !k.damaged)) {
    throw new UsageError(`the key this password opened (${repo.keyId.slice(0, 8)}) was removed meanwhile: nothing changed`, { hint: 'run `engine key list` with a password that still works' });
  }
  if (action === 'list') {
    if (out.json) out.data(keys);
    else {
      out.result(`${' '.padEnd(2)}${'ID'.padEnd(10)}${'Created'.padEnd(21)}${'Host'.padEnd(16)}User`);
      for (const k of keys) out.result(`${k.current ? '* ' : '  '}${k.id.slice(0, 8).padEnd(10)}${(k.damaged ? 'DAMAGED' : k.created.slice(0, 19).replace('T', ' ')).padEnd(21)}${k.hostname.slice(0, 15).padEnd(16)}${k.username}`);
      out.info('* the key this password opened');
    }
    return 0;
  }
  if (action === 'add') {
    const id = await repo.addKey(await readNewKeyPassword(flags.newPasswordFile), kdf);
    if (out.json) out.data({ message_type: 'summary', added: id });
    else out.result(`key ${id.slice(0, 8)} added: the new password opens the repository too`);
    return 0;
  }
  if (action === 'remove') {
    const k = pick(keys, ref!);
    if (k.current) throw new UsageError(`key ${k.id.slice(0, 8)} is the one this password opened; it cannot remove itself`, { hint: 'open the repository with another key\'s password to remove this one, or use `engine key passwd`' });
    await repo.removeKey(k.id);
    if (out.json) out.data({ message_type: 'summary', removed: k.id });
    else out.result(`key ${k.id.slice(0, 8)} removed: its password no longer opens the repository`);
    return 0;
  }
  // passwd: the new key is written before the old one is removed, so a kill in between leaves
  // both passwords working, never none.
  const id = await repo.addKey(await readNewKeyPassword(flags.newPasswordFile), kdf);
  await repo.removeKey(repo.keyId);
  if (out.json) out.data({ message_type: 'summary', added: id, removed: repo.keyId });
  else out.result(`password changed: key ${repo.keyId.slice(0, 8)} replaced by ${id.slice(0, 8)}`);
  return 0;
}
