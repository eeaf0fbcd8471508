// The base of every backend decorator: it forwards each Backend call to the backend it wraps, so a
// decorator overrides only the calls it changes (the retry wraps all of them, the bandwidth limit
// only save and load, the cache load, save, list and remove). A decorator that forgets a call thus
// passes it through instead of failing to compile or, worse, dropping it.
import type { Backend, ByteRange, ObjectInfo, ObjectOptions } from '../types.js';

export class ForwardingBackend implements Backend {
  readonly location: string;
  readonly parallelism: number;
  /** The backend this one decorates. */
  protected readonly inner: Backend;

  constructor(inner: Backend) {
    this.inner = inner;
    this.location = inner.location;
    this.parallelism = inner.parallelism;
  }

  rootExists(): Promise<boolean> {
    return this.inner.rootExists();
  }

  createRoot(): Promise<void> {
    return this.inner.createRoot();
  }

  save(name: string, data: Uint8Array, opts?: ObjectOptions): Promise<void> {
    return this.inner.save(name, data, opts);
  }

  load(name: string, range?: ByteRange, opts?: ObjectOptions): Promise<Uint8Array> {
    return this.inner.load(name, range, opts);
  }

  stat(name: string): Promise<ObjectInfo> {
    return this.inner.stat(name);
  }

  list(prefix: string): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix);
  }

  remove(name: string): Promise<void> {
    return this.inner.remove(name);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
