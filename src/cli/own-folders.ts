// The repository's own folders on this machine: the repository itself, when its location is a
// local path, and this repository's cache folder. A backup never descends into them (inside a
// backed-up folder it would store itself and grow each run), so they are in no snapshot, and a
// restore --delete must therefore never remove them.
import { dirname, resolve } from 'node:path';
import type { OpenSession } from '../session/open-session.js';
import { repoLocation, type GlobalOptions } from './context.js';

/** Each folder's path (as configured, not followed) and what it is, for messages; `repository` names the repository's part in the command. */
export function ownFolders(flags: GlobalOptions, session: OpenSession, repository: string): { path: string; why: string }[] {
  const out: { path: string; why: string }[] = [];
  const location = repoLocation(flags);
  if (!location.startsWith('s3:')) out.push({ path: resolve(location.startsWith('local:') ? location.slice('local:'.length) : location), why: repository });
  if (session.indexCacheDir) out.push({ path: dirname(session.indexCacheDir), why: "this repository's cache" });
  return out;
}
