// The repository's key derived early: Argon2id holds its memory (64 MiB by default) while the key
// is derived, and at the usual point (after the command's modules, the storage stack and every
// primitive are loaded) that memory sits on ~65 MiB of process. Here, before the command's module
// is imported, it sits on ~55 MiB, and it is freed before the pipeline starts: the floor of
// --mem-budget is the larger of the two peaks (docs/MEMORY.md "The budget floor and the key's
// Argon2id memory"). Only local repositories: a remote one needs its storage client loaded first.
// Nothing is decided here: any failure leaves the key to be derived as before, where it is
// reported.
import { resolve } from 'node:path';
import { argon2idForEarlyKey } from '../../native-bindings/argon2id/index.js';
import type { Argon2id } from '../../native-bindings/types.js';
import { LocalBackend } from '../backend/local/local-backend.js';
import { ErrorCode, isEngineError } from '../errors/engine-error.js';
import { prepareWrapKey } from '../repository/key-store.js';
import { parseSize } from '../util/bytes.js';
import { givenRepoLocation, nativePolicy, readPassword, type GlobalOptions } from './context.js';

export async function deriveKeyEarly(opts: GlobalOptions & { memBudget?: string }): Promise<void> {
  let location: string | undefined;
  try {
    location = givenRepoLocation(opts);
  } catch {
    return;
  }
  if (!location || location.startsWith('s3:')) return;
  let budget: number | undefined;
  try {
    budget = opts.memBudget !== undefined ? parseSize(opts.memBudget, '--mem-budget') : undefined;
  } catch {
    return;
  }
  const backend = new LocalBackend(resolve(location.startsWith('local:') ? location.slice('local:'.length) : location));
  let argon2id: Argon2id;
  try {
    argon2id = await argon2idForEarlyKey(nativePolicy());
  } catch {
    return;
  }
  // The password is asked for only once a key file was found (as when opening: a bad location is
  // said before anyone is prompted); a missing password is the same error it would be later.
  await prepareWrapKey(argon2id, backend, () => readPassword(opts, 'open'), budget).catch((err: unknown) => {
    if (isEngineError(err, ErrorCode.USAGE)) throw err;
  });
}
