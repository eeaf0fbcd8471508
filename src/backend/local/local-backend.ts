// Local filesystem backend. Writes go to a temporary file in the target folder, which is fsynced,
// renamed into place and followed by an fsync of the folder, so an object is either absent or
// complete and durable (a crash never leaves a partial object under its final name).
// Files are created 0600 and folders 0700: a repository holds only ciphertext, but its layout and
// sizes are still nobody else's business.
import { randomBytes } from 'node:crypto';
import { constants, promises as fsp, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { EngineError, ErrorCode } from '../../errors/engine-error.js';
import { notFound, throwIfAborted } from '../errors.js';
import type { Backend, ByteRange, ObjectInfo, ObjectOptions } from '../types.js';
import { mkdirp } from '../../fs/mkdirp.js';
import { HandleCache } from './handle-cache.js';

const TEMP_PREFIX = '.tmp-';

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

export class LocalBackend implements Backend {
  readonly location: string;
  /** The libuv threadpool has four threads: more reads in flight only queue. */
  readonly parallelism = 4;
  private readonly root: string;
  private readonly knownDirs = new Set<string>();
  /** Files kept open for ranged reads (handle-cache.ts): a few per read in flight. */
  private readonly handles = new HandleCache(32);

  constructor(root: string) {
    this.root = root;
    this.location = root;
  }

  private path(name: string): string {
    if (name.includes('..') || name.startsWith('/')) throw new EngineError(ErrorCode.INTERNAL, `unsafe object name "${name}"`);
    return join(this.root, ...name.split('/'));
  }

  private wrap(err: unknown, name: string, op: string): EngineError {
    const code = errCode(err);
    // The repository path, or a folder in it, is a file: nothing to retry (it is no network fault).
    if (code === 'ENOTDIR' && this.rootIsFile()) return notARepository(this.root, err);
    if (code === 'ENOENT') return notFound(this.location, name, err);
    const msg = `${op} "${name}" in ${this.location}: ${err instanceof Error ? err.message : String(err)}`;
    if (code === 'ENOSPC') return new EngineError(ErrorCode.BACKEND_PERMANENT, msg, { hint: 'the disk holding the repository is full; free space and run the command again (nothing stored so far is lost)', cause: err });
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') return new EngineError(ErrorCode.BACKEND_PERMANENT, msg, { hint: 'check the permissions of the repository folder', cause: err });
    if (code === 'ENOTDIR') return new EngineError(ErrorCode.BACKEND_PERMANENT, msg, { hint: `a file stands where ${this.root} has a folder: move it away`, cause: err });
    return new EngineError(ErrorCode.BACKEND_TRANSIENT, msg, { cause: err });
  }

  private rootIsFile(): boolean {
    try {
      return !statSync(this.root).isDirectory();
    } catch {
      return false;
    }
  }

  async rootExists(): Promise<boolean> {
    try {
      if (!(await fsp.stat(this.root)).isDirectory()) throw notARepository(this.root);
      return true;
    } catch (err) {
      if (errCode(err) === 'ENOENT') return false;
      if (err instanceof EngineError) throw err;
      throw this.wrap(err, '.', 'stat');
    }
  }

  async createRoot(): Promise<void> {
    try {
      await mkdirp(this.root);
    } catch (err) {
      // A path that cannot hold a folder (/proc, a file on the way): the location given is wrong.
      throw new EngineError(ErrorCode.USAGE, `cannot create the repository folder ${this.root}: ${err instanceof Error ? err.message : String(err)}`, {
        hint: 'give --repo (or ENGINE_REPOSITORY) a folder on a disk engine can write to',
        cause: err,
      });
    }
    const entries = await fsp.readdir(this.root);
    if (entries.length > 0) throw new EngineError(ErrorCode.REPO_EXISTS, `${this.root} is not empty`, { hint: 'choose an empty or new folder for `engine init`' });
    await fsp.chmod(this.root, 0o700);
  }

  private async ensureDir(dir: string): Promise<void> {
    if (this.knownDirs.has(dir)) return;
    await mkdirp(dir);
    this.knownDirs.add(dir);
  }

  async save(name: string, data: Uint8Array, opts?: ObjectOptions): Promise<void> {
    throwIfAborted(opts?.signal, `saving "${name}"`);
    const final = this.path(name);
    // A handle kept for the object being replaced would read what it replaces.
    this.handles.forget(final);
    const dir = dirname(final);
    const tmp = join(dir, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
    try {
      await this.ensureDir(dir);
      const fh = await fsp.open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      try {
        let off = 0;
        while (off < data.length) {
          throwIfAborted(opts?.signal, `saving "${name}"`);
          const { bytesWritten } = await fh.write(data, off, data.length - off, off);
          off += bytesWritten;
        }
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fsp.rename(tmp, final);
      await syncDir(dir);
    } catch (err) {
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      if (err instanceof EngineError) throw err;
      throw this.wrap(err, name, 'cannot save');
    }
  }

  async load(name: string, range?: ByteRange, opts?: ObjectOptions): Promise<Uint8Array> {
    throwIfAborted(opts?.signal, `reading "${name}"`);
    const p = this.path(name);
    try {
      if (!range) return new Uint8Array(await fsp.readFile(p));
      return await this.handles.read(p, async (fh) => {
        const buf = Buffer.allocUnsafe(range.length);
        let got = 0;
        while (got < range.length) {
          const { bytesRead } = await fh.read(buf, got, range.length - got, range.offset + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        if (got !== range.length) {
          throw new EngineError(ErrorCode.INTEGRITY, `object "${name}" is shorter than expected: wanted ${range.length} bytes at ${range.offset}, got ${got}`);
        }
        return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
      });
    } catch (err) {
      if (err instanceof EngineError) throw err;
      throw this.wrap(err, name, 'cannot read');
    }
  }

  async stat(name: string): Promise<ObjectInfo> {
    try {
      const st = await fsp.stat(this.path(name));
      return { name, size: st.size };
    } catch (err) {
      throw this.wrap(err, name, 'cannot stat');
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const base = this.path(prefix.replace(/\/$/, ''));
    yield* this.walk(base);
  }

  private async *walk(dir: string): AsyncIterable<ObjectInfo> {
    let entries;
    try {
      entries = await fsp.readdir(dir, { withFileTypes: true });
    } catch (err) {
      // A prefix naming nothing, or naming an object rather than a folder: nothing is under it.
      if (errCode(err) === 'ENOENT' || errCode(err) === 'ENOTDIR') return;
      throw this.wrap(err, relative(this.root, dir), 'cannot list');
    }
    // Sorted as full names compare: a folder's entries come where "folder/" sorts, so the walk
    // yields names in ascending order across folders too (the Backend.list contract).
    const key = (e: { name: string; isDirectory(): boolean }): string => (e.isDirectory() ? `${e.name}/` : e.name);
    entries.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    for (const e of entries) {
      const full = join(dir, e.name);
      if (e.isDirectory()) yield* this.walk(full);
      else if (e.isFile() && !e.name.startsWith(TEMP_PREFIX)) {
        const st = await fsp.stat(full).catch(() => null);
        if (st) yield { name: relative(this.root, full).split(sep).join('/'), size: st.size };
      }
    }
  }

  async remove(name: string): Promise<void> {
    try {
      const p = this.path(name);
      this.handles.forget(p);
      await fsp.unlink(p);
    } catch (err) {
      if (errCode(err) === 'ENOENT') return;
      throw this.wrap(err, name, 'cannot remove');
    }
  }

  async close(): Promise<void> {
    await this.handles.closeAll();
  }
}

/**
 * The repository path names a file: every command stops at once (exit 10, as for a missing
 * repository) instead of retrying as if the storage were unreachable.
 */
function notARepository(root: string, cause?: unknown): EngineError {
  return new EngineError(ErrorCode.REPO_NOT_FOUND, `not a repository: ${root} is a file`, {
    hint: 'check --repo / ENGINE_REPOSITORY: a repository is a folder (`engine init` creates one)',
    ...(cause ? { cause } : {}),
  });
}

/** fsync of a folder makes a rename in it durable; some filesystems refuse it, which is harmless. */
async function syncDir(dir: string): Promise<void> {
  let fh;
  try {
    fh = await fsp.open(dir, 'r');
    await fh.sync();
  } catch (err) {
    const c = errCode(err);
    if (c !== 'EINVAL' && c !== 'ENOTSUP' && c !== 'EISDIR' && c !== 'EPERM') throw err;
  } finally {
    await fh?.close();
  }
}
