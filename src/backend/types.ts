// The storage interface: named objects, nothing more. Backends know nothing of packs, keys or
// formats; names are relative paths such as "config", "keys/<id>" or "data/ab/<id>".
// docs/BACKENDS.md states the rules every backend follows; test/backend/conformance.ts checks them.

export interface ObjectInfo {
  readonly name: string;
  readonly size: number;
}

export interface ByteRange {
  readonly offset: number;
  readonly length: number;
}

export interface ObjectOptions {
  /**
   * Marks objects that are small, immutable under their name and read again by later runs (keys,
   * index objects, snapshots, packs of trees): a local cache keeps them whole, so the next
   * command need not download them again. Backends themselves ignore it.
   */
  readonly metadata?: boolean;
  /**
   * Abandons the request: the promise rejects with E_ABORTED, and an aborted save leaves either
   * no object or the complete one, never a partial object.
   */
  readonly signal?: AbortSignal;
}

export interface Backend {
  /** Human-readable location, for messages. Never holds a credential. */
  readonly location: string;
  /**
   * Requests worth keeping in flight at once to use this backend fully: a local disk gains
   * little past a few, a remote store with latency needs many.
   */
  readonly parallelism: number;
  /** Whether the storage root exists at all (a repository may still be absent inside it). */
  rootExists(): Promise<boolean>;
  /** Creates the storage root; fails with E_REPO_EXISTS if it exists and is not empty. */
  createRoot(): Promise<void>;
  /**
   * Stores an object atomically and durably: when the promise resolves, the object is complete
   * and survives a crash; a reader never sees a partial object. Saving a name that exists
   * replaces it whole (readers see the old or the new object, never a mix).
   */
  save(name: string, data: Uint8Array, opts?: ObjectOptions): Promise<void>;
  /**
   * Reads a whole object or a byte range of it. A ranged read returns exactly `range.length`
   * bytes or fails. Missing objects reject with E_BACKEND_NOT_FOUND.
   */
  load(name: string, range?: ByteRange, opts?: ObjectOptions): Promise<Uint8Array>;
  stat(name: string): Promise<ObjectInfo>;
  /**
   * Lists objects whose name starts with `prefix` (a folder such as "snapshots/"), in ascending
   * order of name, so that a listing interrupted by a fault can resume after the last name seen.
   */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /** Removes an object; removing one that is already gone succeeds (a retried delete must not fail). */
  remove(name: string): Promise<void>;
  close(): Promise<void>;
}
