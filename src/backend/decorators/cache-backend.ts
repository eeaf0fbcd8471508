// A local cache of metadata objects (keys, index objects, snapshots, packs of trees) for remote
// repositories: every command reads the whole index and most snapshots, and `ls`/`restore` read
// trees again and again; fetching them from the store on every run costs requests, bandwidth and
// round trips, while they never change under their name.
//
// - Only objects saved or loaded with `opts.metadata === true` are cached, and always whole: a
//   ranged metadata load on a miss fetches the whole object once (concurrent misses of one name
//   share that fetch), keeps it, and serves this range and every later one from the cached file
//   with positional reads.
// - Metadata saves are written through: the store first, then the cache. Any save first drops a
//   cached copy of its name, so a replaced object is never served from the cache.
// - Files live at `<dir>/<name>` with the store's folder structure, files 0600 in folders 0700,
//   written to a temporary file and renamed (no fsync: a file damaged by a crash is caught below).
// - Each file carries its own integrity: the content is followed by a SHA-256 per 64 KiB block,
//   and a footer holding a magic, the content length and a SHA-256 over the block hashes. Every
//   read checks the footer and the blocks it returns, so a ranged read checks only what it reads.
//   A file that fails the check is deleted and the object fetched from the store again: a damaged
//   cache costs time, never correctness.
// - `remove` removes from the store and the cache. `list` passes through; a listing that runs to
//   its end also deletes cached files under its prefix that it did not name (objects removed by
//   another host). Cached names are gathered before the listing, so memory stays in proportion
//   to the cache, not to the listing.
// - A cache that cannot be written (read-only, full disk, bad path) does not fail anything: the
//   first failure warns once through `onWarning` and from then on every call passes straight
//   through (reads too, as removals could no longer be mirrored in the cache).
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { dirname, join } from 'node:path';
import { AbortedError, EngineError, ErrorCode, isEngineError } from '../../errors/engine-error.js';
import { throwIfAborted } from '../errors.js';
import type { Backend, ByteRange, ObjectInfo, ObjectOptions } from '../types.js';
import { Concurrency } from '../../util/concurrency.js';
import { ForwardingBackend } from './forwarding-backend.js';
import { mkdirp } from '../../fs/mkdirp.js';

const BLOCK = 64 * 1024;
const HASH = 32;
const MAGIC = new TextEncoder().encode('ENGCACH1');
/** magic (8) + content length (8, little-endian) + SHA-256 over the block hashes, magic and length (32). */
const FOOTER = 8 + 8 + HASH;
const TEMP_PREFIX = '.tmp-';
/** Temporary files older than this are leftovers of a crashed run; a listing sweeps them. */
const STALE_TEMP_MS = 60 * 60 * 1000;

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

function blockCount(length: number): number {
  return Math.ceil(length / BLOCK);
}

/** The block hashes and the footer that follow the content in a cached file. */
export function cacheTrailer(data: Uint8Array): { table: Uint8Array; footer: Uint8Array } {
  const k = blockCount(data.length);
  const table = new Uint8Array(k * HASH);
  for (let i = 0; i < k; i++) table.set(sha256(data.subarray(i * BLOCK, Math.min(data.length, (i + 1) * BLOCK))), i * HASH);
  const footer = new Uint8Array(FOOTER);
  footer.set(MAGIC, 0);
  new DataView(footer.buffer).setBigUint64(8, BigInt(data.length), true);
  footer.set(sha256(table, footer.subarray(0, 16)), 16);
  return { table, footer };
}

async function readAt(fh: fsp.FileHandle, length: number, position: number): Promise<Uint8Array | undefined> {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got);
    if (bytesRead === 0) return undefined;
    got += bytesRead;
  }
  return new Uint8Array(buf.buffer, buf.byteOffset, length);
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

type CacheRead = Uint8Array | 'missing' | 'corrupt' | 'outside';

export class CacheBackend extends ForwardingBackend {
  /** Metadata loads served from the cache. */
  hits = 0;
  /** Metadata loads that went to the store (absent or damaged in the cache). */
  misses = 0;
  /** Cached files found damaged and deleted. */
  discarded = 0;
  private readonly dir: string;
  private readonly onWarning: ((message: string) => void) | undefined;
  private enabled = true;
  private readonly inflight = new Map<string, Promise<Uint8Array>>();
  /**
   * Whole objects fetched at once. A fill holds a whole object in memory (a pack of trees may
   * be as large as the repository's pack size), so only two run together: docs/MEMORY.md counts
   * them against the budget's headroom.
   */
  private readonly fills = new Concurrency(2);

  constructor(inner: Backend, dir: string, onWarning?: (message: string) => void) {
    super(inner);
    this.dir = dir;
    this.onWarning = onWarning;
  }

  /** False once the cache could not be written: everything passes through. */
  get active(): boolean {
    return this.enabled;
  }

  /** The cached file of an object, or undefined for a name that cannot map to a path safely. */
  private path(name: string): string | undefined {
    if (name === '' || name.startsWith('/') || name.endsWith('/') || name.includes('\\') || name.includes('\0')) return undefined;
    const parts = name.split('/');
    if (parts.some((p) => p === '' || p === '.' || p === '..' || p.startsWith(TEMP_PREFIX))) return undefined;
    return join(this.dir, ...parts);
  }

  private degrade(err: unknown): void {
    if (!this.enabled) return;
    this.enabled = false;
    const why = err instanceof Error ? err.message : String(err);
    this.onWarning?.(`the local cache ${this.dir} cannot be written (${why}); continuing without it`);
  }

  override async save(name: string, data: Uint8Array, opts?: ObjectOptions): Promise<void> {
    const file = this.enabled ? this.path(name) : undefined;
    if (file) await this.drop(file);
    await this.inner.save(name, data, opts);
    if (file && opts?.metadata === true && this.enabled) await this.store(file, data);
  }

  override async load(name: string, range?: ByteRange, opts?: ObjectOptions): Promise<Uint8Array> {
    const file = opts?.metadata === true && this.enabled ? this.path(name) : undefined;
    if (!file) return this.inner.load(name, range, opts);
    throwIfAborted(opts?.signal, `reading "${name}"`);
    let cached: CacheRead;
    try {
      cached = await this.readCached(file, range);
    } catch {
      cached = 'missing'; // unreadable: fetch again; storing the fresh copy shows whether the cache still works
    }
    if (cached instanceof Uint8Array) {
      this.hits++;
      return cached;
    }
    if (cached === 'corrupt') {
      this.discarded++;
      await this.drop(file);
    }
    if (cached === 'outside') {
      // The cached object is whole and shorter than the range: so is the stored one; let the
      // store give its own answer.
      return this.inner.load(name, range, opts);
    }
    this.misses++;
    const whole = await this.fetch(name, file, opts);
    if (!range) return whole;
    if (range.offset < 0 || range.length < 0 || range.offset + range.length > whole.length) {
      throw new EngineError(
        ErrorCode.INTEGRITY,
        `object "${name}" in ${this.location} is shorter than expected: wanted ${range.length} bytes at ${range.offset}, it has ${whole.length}`,
      );
    }
    // A copy: a small slice must not keep a large object alive.
    return whole.slice(range.offset, range.offset + range.length);
  }

  override async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const cached = this.enabled ? await this.cachedNames(prefix) : undefined;
    for await (const info of this.inner.list(prefix)) {
      cached?.delete(info.name);
      yield info;
    }
    // Reached only when the listing completed: names not listed are gone from the store.
    if (cached && this.enabled) await this.prune(cached);
  }

  override async remove(name: string): Promise<void> {
    const file = this.path(name);
    if (file) await this.drop(file);
    await this.inner.remove(name);
  }

  /** Fetches a whole object from the store and caches it; concurrent fetches of one name share one request. */
  private async fetch(name: string, file: string, opts: ObjectOptions | undefined): Promise<Uint8Array> {
    const signal = opts?.signal;
    for (;;) {
      let p = this.inflight.get(name);
      const mine = p === undefined;
      if (!p) {
        const started: Promise<Uint8Array> = this.fills.run(async () => {
          const data = await this.inner.load(name, undefined, opts);
          if (this.enabled) await this.store(file, data);
          return data;
        }).finally(() => {
          if (this.inflight.get(name) === started) this.inflight.delete(name);
        });
        p = started;
        this.inflight.set(name, p);
      }
      try {
        return mine ? await p : await untilAborted(p, signal, `reading "${name}"`);
      } catch (err) {
        // The caller that started the shared fetch was interrupted, not this one: fetch again.
        if (!mine && isEngineError(err, ErrorCode.ABORTED) && !signal?.aborted) continue;
        throw err;
      }
    }
  }

  /** Reads a cached object (or a range of it), checking the footer and every block read. */
  private async readCached(file: string, range: ByteRange | undefined): Promise<CacheRead> {
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(file, 'r');
    } catch (err) {
      const c = errCode(err);
      if (c === 'ENOENT' || c === 'ENOTDIR') return 'missing';
      throw err;
    }
    try {
      const size = (await fh.stat()).size;
      if (size < FOOTER) return 'corrupt';
      const footer = await readAt(fh, FOOTER, size - FOOTER);
      if (!footer || !equalBytes(footer.subarray(0, 8), MAGIC)) return 'corrupt';
      const big = new DataView(footer.buffer, footer.byteOffset, FOOTER).getBigUint64(8, true);
      if (big > BigInt(Number.MAX_SAFE_INTEGER)) return 'corrupt';
      const length = Number(big);
      const k = blockCount(length);
      if (size !== length + k * HASH + FOOTER) return 'corrupt';
      const table = k === 0 ? new Uint8Array(0) : await readAt(fh, k * HASH, length);
      if (!table || !equalBytes(sha256(table, footer.subarray(0, 16)), footer.subarray(16))) return 'corrupt';

      const offset = range ? range.offset : 0;
      const want = range ? range.length : length;
      if (offset < 0 || want < 0 || offset + want > length) return 'outside';
      if (want === 0) return new Uint8Array(0);
      const first = Math.floor(offset / BLOCK);
      const last = Math.floor((offset + want - 1) / BLOCK);
      const start = first * BLOCK;
      const end = Math.min(length, (last + 1) * BLOCK);
      const bytes = await readAt(fh, end - start, start);
      if (!bytes) return 'corrupt';
      for (let i = first; i <= last; i++) {
        const block = bytes.subarray(i * BLOCK - start, Math.min(end, (i + 1) * BLOCK) - start);
        if (!equalBytes(sha256(block), table.subarray(i * HASH, (i + 1) * HASH))) return 'corrupt';
      }
      return start === offset && end - start === want ? bytes : bytes.slice(offset - start, offset - start + want);
    } finally {
      await fh.close();
    }
  }

  /** Writes a cached file atomically; on failure the cache degrades to pass-through. */
  private async store(file: string, data: Uint8Array): Promise<void> {
    const folder = dirname(file);
    const tmp = join(folder, `${TEMP_PREFIX}${randomBytes(8).toString('hex')}`);
    try {
      await mkdirp(folder, 0o700);
      const { table, footer } = cacheTrailer(data);
      const fh = await fsp.open(tmp, 'wx', 0o600);
      try {
        // Successive writeFile calls on one handle append at its position.
        await fh.writeFile(data);
        await fh.writeFile(table);
        await fh.writeFile(footer);
      } finally {
        await fh.close();
      }
      await fsp.rename(tmp, file);
    } catch (err) {
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      this.degrade(err);
    }
  }

  /** Deletes a cached file if present; a cache that cannot delete degrades (it could serve stale copies). */
  private async drop(file: string): Promise<void> {
    try {
      await fsp.unlink(file);
    } catch (err) {
      const c = errCode(err);
      if (c !== 'ENOENT' && c !== 'ENOTDIR') this.degrade(err);
    }
  }

  /** Names of the cached objects under a prefix; also sweeps leftover temporary files. */
  private async cachedNames(prefix: string): Promise<Set<string>> {
    const names = new Set<string>();
    const slash = prefix.lastIndexOf('/');
    const folderName = slash >= 0 ? prefix.slice(0, slash) : '';
    if (folderName !== '' && !this.path(folderName)) return names;
    const walk = async (folder: string, rel: string): Promise<void> => {
      let entries;
      try {
        entries = await fsp.readdir(folder, { withFileTypes: true });
      } catch {
        return; // absent or unreadable: nothing to prune
      }
      for (const e of entries) {
        const name = rel === '' ? e.name : `${rel}/${e.name}`;
        const full = join(folder, e.name);
        if (e.isDirectory()) {
          if (name.startsWith(prefix) || prefix.startsWith(`${name}/`)) await walk(full, name);
        } else if (e.name.startsWith(TEMP_PREFIX)) {
          const st = await fsp.stat(full).catch(() => undefined);
          if (st && Date.now() - st.mtimeMs > STALE_TEMP_MS) await fsp.rm(full, { force: true }).catch(() => undefined);
        } else if (e.isFile() && name.startsWith(prefix)) {
          names.add(name);
        }
      }
    };
    await walk(folderName === '' ? this.dir : join(this.dir, ...folderName.split('/')), folderName);
    return names;
  }

  /** Deletes the cached files of objects the store no longer lists. */
  private async prune(names: Set<string>): Promise<void> {
    for (const name of names) {
      const file = this.path(name);
      if (file) await this.drop(file);
    }
  }
}

/** `backend` with its metadata objects kept whole in `dir` (a cache of one repository). */
export function withCache(backend: Backend, dir: string, onWarning?: (message: string) => void): CacheBackend {
  return new CacheBackend(backend, dir, onWarning);
}

/** Waits for p, or rejects with E_ABORTED as soon as the signal fires (p goes on for its own caller). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined, what: string): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(new AbortedError(`${what}: interrupted`));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new AbortedError(`${what}: interrupted`));
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e);
      },
    );
  });
}
