// The storage interface: named objects, nothing more. Backends know nothing of packs, keys or
// formats; names are relative paths such as "config", "keys/<id>" or "data/ab/<id>".

export interface ObjectInfo {
  readonly name: string;
  readonly size: number;
}

export interface ByteRange {
  readonly offset: number;
  readonly length: number;
}

export interface Backend {
  /** Human-readable location, for messages. */
  readonly location: string;
  /** Whether the storage root exists at all (a repository may still be absent inside it). */
  rootExists(): Promise<boolean>;
  /** Creates the storage root; fails if it exists and is not empty. */
  createRoot(): Promise<void>;
  /**
   * Stores an object atomically and durably: when the promise resolves, the object is complete
   * and survives a crash; a reader never sees a partial object.
   */
  save(name: string, data: Uint8Array): Promise<void>;
  /** Reads a whole object or a byte range of it. Missing objects reject with E_BACKEND_NOT_FOUND. */
  load(name: string, range?: ByteRange): Promise<Uint8Array>;
  stat(name: string): Promise<ObjectInfo>;
  /** Lists objects whose name starts with `prefix` (a folder such as "snapshots/"). */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  remove(name: string): Promise<void>;
  close(): Promise<void>;
}
