// A backend held in this process's memory: for benchmarks that measure the pipeline without a
// disk or a network under it (`engine bench`), and for tests. It keeps the Backend contract
// (copies in and out, ascending listings, idempotent remove, aborts) so that code measured or
// tested on it behaves as on a real store. Everything is lost when the process ends.
import { EngineError, ErrorCode, RepoExistsError } from '../../errors/engine-error.js';
import { notFound, throwIfAborted } from '../errors.js';
import type { Backend, ByteRange, ObjectInfo, ObjectOptions } from '../types.js';

export class MemoryBackend implements Backend {
  readonly location: string;
  /** Nothing waits on a round trip; a few requests in flight are enough to overlap the copies. */
  readonly parallelism = 4;
  private readonly objects = new Map<string, Uint8Array>();
  private created = false;

  constructor(label = 'memory') {
    this.location = `memory:${label}`;
  }

  /** Bytes held, for reports. */
  get bytes(): number {
    let n = 0;
    for (const v of this.objects.values()) n += v.length;
    return n;
  }

  async rootExists(): Promise<boolean> {
    return this.created;
  }

  async createRoot(): Promise<void> {
    if (this.objects.size > 0) throw new RepoExistsError(this.location);
    this.created = true;
  }

  async save(name: string, data: Uint8Array, opts?: ObjectOptions): Promise<void> {
    checkName(name);
    // Like a real store, a save completes later than the call: an abort in between wins.
    await nextTurn();
    throwIfAborted(opts?.signal, `saving "${name}"`);
    // A copy (Buffer.slice would be a view): the caller may reuse its buffer, as with a real store.
    this.objects.set(name, new Uint8Array(data));
    this.created = true;
  }

  async load(name: string, range?: ByteRange, opts?: ObjectOptions): Promise<Uint8Array> {
    checkName(name);
    throwIfAborted(opts?.signal, `reading "${name}"`);
    // Answers come later, as from a real store: a caller polling in a loop must not starve the
    // event loop (a save in progress completes on it).
    await nextTurn();
    throwIfAborted(opts?.signal, `reading "${name}"`);
    const data = this.objects.get(name);
    if (!data) throw notFound(this.location, name);
    if (!range) return new Uint8Array(data);
    if (range.offset + range.length > data.length) {
      throw new EngineError(ErrorCode.INTEGRITY, `object "${name}" is shorter than expected: wanted ${range.length} bytes at ${range.offset}, it has ${data.length}`);
    }
    return new Uint8Array(data.subarray(range.offset, range.offset + range.length));
  }

  async stat(name: string): Promise<ObjectInfo> {
    checkName(name);
    const data = this.objects.get(name);
    if (!data) throw notFound(this.location, name);
    return { name, size: data.length };
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const names = [...this.objects.keys()].filter((n) => n.startsWith(prefix)).sort();
    for (const name of names) {
      const data = this.objects.get(name);
      if (data) yield { name, size: data.length };
    }
  }

  async remove(name: string): Promise<void> {
    checkName(name);
    this.objects.delete(name);
  }

  async close(): Promise<void> {}
}

function checkName(name: string): void {
  if (name.includes('..') || name.startsWith('/') || name.length === 0) throw new EngineError(ErrorCode.INTERNAL, `unsafe object name "${name}"`);
}

function nextTurn(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}
