// Creating a folder and its missing parents, without Node's `recursive: true`: on a filesystem
// that refuses new entries with ENOENT although the parent exists (/proc, /sys), Node's recursive
// mkdir retries forever in native code, at 100% CPU and deaf to SIGTERM (Node 20). Here each
// component is created at most twice: an ENOENT after its parent exists is an error.
import { mkdirSync, promises as fsp, statSync } from 'node:fs';
import { dirname } from 'node:path';

function code(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

/** An error for a path that exists but is not a folder. */
function notAFolder(dir: string): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(`${dir} exists and is not a folder`);
  e.code = 'ENOTDIR';
  e.path = dir;
  return e;
}

export async function mkdirp(dir: string, mode = 0o700): Promise<void> {
  try {
    await fsp.mkdir(dir, { mode });
    return;
  } catch (err) {
    if (code(err) === 'EEXIST') {
      if ((await fsp.stat(dir)).isDirectory()) return;
      throw notAFolder(dir);
    }
    if (code(err) !== 'ENOENT' || dirname(dir) === dir) throw err;
  }
  await mkdirp(dirname(dir), mode);
  try {
    await fsp.mkdir(dir, { mode });
  } catch (err) {
    if (code(err) !== 'EEXIST') throw err;
    if (!(await fsp.stat(dir)).isDirectory()) throw notAFolder(dir);
  }
}

export function mkdirpSync(dir: string, mode = 0o700): void {
  try {
    mkdirSync(dir, { mode });
    return;
  } catch (err) {
    if (code(err) === 'EEXIST') {
      if (statSync(dir).isDirectory()) return;
      throw notAFolder(dir);
    }
    if (code(err) !== 'ENOENT' || dirname(dir) === dir) throw err;
  }
  mkdirpSync(dirname(dir), mode);
  try {
    mkdirSync(dir, { mode });
  } catch (err) {
    if (code(err) !== 'EEXIST') throw err;
    if (!statSync(dir).isDirectory()) throw notAFolder(dir);
  }
}
