// A repository opened with its master key: config, keys, snapshots, index and single-blob reads.
// Everything it stores goes through the sealed envelope; it knows backends only by their interface.
import { randomBytes } from 'node:crypto';
import type { Primitives } from '../../native-bindings/types.js';
import { isNotFound } from '../backend/errors.js';
import type { Backend, ObjectOptions } from '../backend/types.js';
import { DEFAULT_CHUNKER, type ChunkerParams } from '../chunker/fastcdc.js';
import { deriveGear } from '../chunker/gear.js';
import { CipherName, type Suite, open as openEnvelope, seal } from '../crypto/envelope.js';
import { deriveRepoKeys, repoKeysWithIdKeys, type RepoKeys } from '../crypto/keys.js';
import { IntegrityError, isDamageError, RepoExistsError, RepoNotFoundError, UsageError } from '../errors/engine-error.js';
import { decodeConfig, encodeConfig, type IdKeys, REPO_VERSION, type RepoConfig, SHARED_KEYS_VERSION } from '../format/config.js';
import { type BlobId, BlobType, blobTypeName, type IndexId, type KeyId, type PackId, type SnapshotId } from '../format/ids.js';
import { decodeIndex, encodeIndex, type IndexFile } from '../format/index-file.js';
import { mapLimit } from '../util/concurrency.js';
import { decodeSnapshot, encodeSnapshot, type Snapshot } from '../format/snapshot.js';
import { latestMatching, NO_FILTER, noSnapshotMatches, type SnapshotFilter } from './snapshot-filter.js';
import type { Tree } from '../format/tree.js';
import { fromHex, toHex } from '../util/hex.js';
import { createKeyFile, DEFAULT_KDF, keyOpenedBy, newMasterKey, unlockMasterKey, type UnlockOptions } from './key-store.js';
import { CONFIG_NAME, INDEX_PREFIX, KEYS_PREFIX, SNAPSHOTS_PREFIX, idOfName, indexName, keyName, snapshotName } from './layout.js';
import type { BlobIndex, BlobLocation } from './blob-index.js';
import { BlobUploader, type UploadedStats, type UploaderOptions } from './blob-uploader.js';
import { MasterIndex } from './master-index.js';
import { PackStore } from './pack-store.js';
import { KEYS, STORAGE } from './storage.js';
import { withIndexRepairHint } from './index-repair-hint.js';
import { collectTree } from './tree-stream.js';
import type { Argon2Params } from '../../native-bindings/types.js';

/** Upper bound for metadata objects (snapshots, index objects, config) when decompressing. */
const MAX_METADATA_BYTES = 1024 * 1024 * 1024;

export interface InitOptions {
  cipher?: CipherName;
  chunker?: ChunkerParams;
  packSizeBytes?: number;
  zstdLevel?: number;
  kdf?: Argon2Params;
  /**
   * Another repository's K_id and K_gear (its `idKeysToShare()`), with its chunker parameters in
   * `chunker`: the new repository (version 5) gives every chunk the id and the cut that one gives,
   * so `engine copy` between them moves only what is missing (FORMAT.md "Versions").
   */
  idKeys?: IdKeys;
}

/** A key file as listed: its id (the BLAKE3 of its bytes, if sound) and its storage name, for messages. */
export interface StoredKeyFile {
  readonly id: KeyId;
  readonly name: string;
}

export class Repository {
  /** Private: callers outside src/repository/ ask for packs, snapshots, index objects and keys by id. */
  private readonly backend: Backend;
  /** The stored packs: listing, reads, removal and their headers. */
  readonly packs: PackStore;
  readonly p: Primitives;
  private currentConfig: RepoConfig;
  private readonly keys: RepoKeys;
  readonly keyId: KeyId;
  readonly gear: Uint32Array;
  readonly suite: Suite;

  /** Kept only to wrap it under another password (`engine key add/passwd`). */
  private readonly master: Uint8Array;
  /** Argon2id parameters of the key that opened the repository (its memory is part of the floor of a budget). */
  readonly kdf: Argon2Params;

  private constructor(backend: Backend, p: Primitives, config: RepoConfig, keys: RepoKeys, keyId: KeyId, master: Uint8Array, kdf: Argon2Params) {
    this.master = master;
    this.kdf = kdf;
    this.backend = backend;
    this.p = p;
    this.currentConfig = config;
    this.keys = keys;
    this.keyId = keyId;
    this.gear = deriveGear(p.blake3, keys.gear);
    this.suite = CipherName[config.cipher];
    this.packs = new PackStore(backend, p, keys, CipherName[config.cipher]);
  }

  /** The keys, for the other modules of src/repository/ only (src/repository/storage.ts). */
  get [KEYS](): RepoKeys {
    return this.keys;
  }

  /** The id of a blob with these plaintext bytes (keyed BLAKE3: ids say nothing without the key). */
  blobIdOf(bytes: Uint8Array): BlobId {
    return toHex(this.p.blake3.keyedHash(this.keys.blobId, bytes)) as BlobId;
  }

  /** A blob sealed for a pack: compressed at the repository's level, encrypted under its suite. */
  sealBlob(bytes: Uint8Array): Uint8Array {
    return seal(this.p, this.keys, bytes, { suite: this.suite, zstdLevel: this.config.compression.level });
  }

  /** The keys a worker thread needs to seal, open and identify blobs (handed over once, at pool start). */
  workerKeys(): { xchacha: Uint8Array; aes: Uint8Array; blobId: Uint8Array } {
    return { xchacha: this.keys.xchacha, aes: this.keys.aes, blobId: this.keys.blobId };
  }

  /** The MAC that authenticates this repository's off-heap index cache on disk. */
  indexCacheMac(data: Uint8Array): Uint8Array {
    return this.p.blake3.keyedHash(this.keys.indexCache, data);
  }

  /** The backend, for the other modules of src/repository/ only (src/repository/storage.ts). */
  get [STORAGE](): Backend {
    return this.backend;
  }

  /** Reads of this repository's storage worth running at once (the backend's own limit). */
  get readParallelism(): number {
    return this.backend.parallelism;
  }

  get config(): RepoConfig {
    return this.currentConfig;
  }

  /**
   * Raises the config to the current format version (FORMAT.md "Versions"): before the first
   * prune of a version 1 repository, so that engines which do not know locks refuse it from then
   * on. The config is the one object replaced in place (atomically). Returns whether it changed.
   */
  async upgradeConfig(): Promise<boolean> {
    if (this.currentConfig.version >= REPO_VERSION) return false;
    const next: RepoConfig = { ...this.currentConfig, version: REPO_VERSION };
    await this.backend.save(CONFIG_NAME, seal(this.p, this.keys, encodeConfig(next), { suite: this.suite, zstdLevel: null }));
    this.currentConfig = next;
    return true;
  }

  static async init(backend: Backend, p: Primitives, password: Uint8Array, opts: InitOptions = {}): Promise<Repository> {
    if (await backend.rootExists()) {
      const existing = backend.stat(CONFIG_NAME).then(() => true, (e: unknown) => (isNotFound(e) ? false : Promise.reject(e)));
      if (await existing) throw new RepoExistsError(backend.location);
    }
    await backend.createRoot();
    const master = newMasterKey();
    const config: RepoConfig = {
      version: opts.idKeys ? SHARED_KEYS_VERSION : REPO_VERSION,
      id: randomBytes(32).toString('hex'),
      chunker: { algorithm: 'fastcdc-v1', ...(opts.chunker ?? DEFAULT_CHUNKER) },
      compression: { algorithm: 'zstd', level: opts.zstdLevel ?? 3 },
      cipher: opts.cipher ?? 'xchacha20-poly1305',
      packSizeBytes: opts.packSizeBytes ?? 16 * 1024 * 1024,
      created: new Date().toISOString(),
      ...(opts.idKeys ? { idKeys: { blobId: opts.idKeys.blobId, gear: opts.idKeys.gear } } : {}),
    };
    const keys = repoKeys(p, master, config);
    // Key file first, config last: a repository without config is "not a repository" and can be
    // initialised again, never one whose config no key opens.
    const keyId = await createKeyFile(p, backend, password, master, opts.kdf);
    const sealed = seal(p, keys, encodeConfig(config), { suite: CipherName[config.cipher], zstdLevel: null });
    await backend.save(CONFIG_NAME, sealed);
    return new Repository(backend, p, config, keys, keyId, master, opts.kdf ?? DEFAULT_KDF);
  }

  static async open(backend: Backend, p: Primitives, password: Uint8Array, unlock: UnlockOptions = {}): Promise<Repository> {
    let configBytes: Uint8Array;
    try {
      configBytes = await backend.load(CONFIG_NAME);
    } catch (err) {
      if (isNotFound(err)) throw new RepoNotFoundError(backend.location);
      throw err;
    }
    const { keyId, master, kdf } = await unlockMasterKey(p, backend, password, unlock);
    // The config is sealed under keys derived from the master key alone; its idKeys replace two of them.
    const config = decodeConfig(openEnvelope(p, deriveRepoKeys(p.blake3, master), configBytes, 1024 * 1024, CONFIG_NAME));
    return new Repository(backend, p, config, repoKeys(p, master, config), keyId, master, kdf);
  }

  /**
   * This repository's K_id and K_gear, for `init --copy-chunker-params` of a repository that
   * copies from this one. They name and cut chunks only: they open no object.
   */
  idKeysToShare(): IdKeys {
    return { blobId: toHex(this.keys.blobId), gear: toHex(this.keys.gear) };
  }

  /**
   * A new key file wrapping this repository's master key under another password. A password that
   * already opens a key is refused: `key passwd` on one of two keys sharing a password would
   * leave the other working.
   */
  async addKey(password: Uint8Array, kdf?: Argon2Params): Promise<KeyId> {
    const taken = await keyOpenedBy(this.p, this.backend, password, this.kdf);
    if (taken) {
      throw new UsageError(taken === this.keyId ? 'the new password is the one this key already has: nothing changed' : `the new password already opens key ${taken.slice(0, 8)}: nothing changed`, {
        hint: 'choose a password no key of this repository has (`engine key list` shows the keys)',
      });
    }
    return createKeyFile(this.p, this.backend, password, this.master, kdf);
  }

  /** The key files as listed, in listing order. */
  async *listKeyFiles(): AsyncIterable<StoredKeyFile> {
    for await (const o of this.backend.list(KEYS_PREFIX)) yield { id: idOfName(o.name) as KeyId, name: o.name };
  }

  /** The stored bytes of a listed key file (clear-text JSON named by their BLAKE3). */
  async loadKeyFile(file: StoredKeyFile, opts?: ObjectOptions): Promise<Uint8Array> {
    return this.backend.load(file.name, undefined, opts);
  }

  async removeKey(id: KeyId): Promise<void> {
    await this.backend.remove(keyName(id));
  }

  /** Seals and stores a metadata object under the BLAKE3 of its stored bytes; returns the id. */
  private async saveUnpacked(prefix: typeof INDEX_PREFIX | typeof SNAPSHOTS_PREFIX, payload: Uint8Array): Promise<string> {
    const sealed = seal(this.p, this.keys, payload, { suite: this.suite, zstdLevel: this.config.compression.level });
    const id = toHex(this.p.blake3.hash(sealed));
    await this.backend.save(`${prefix}${id}`, sealed, { metadata: true });
    return id;
  }

  async loadUnpacked(name: string): Promise<Uint8Array> {
    const sealed = await this.backend.load(name, undefined, { metadata: true });
    const id = idOfName(name);
    try {
      if (toHex(this.p.blake3.hash(sealed)) !== id) throw new IntegrityError(`${name}: contents do not match the object's name (damaged object)`, { details: { object: name } });
      return openEnvelope(this.p, this.keys, sealed, MAX_METADATA_BYTES, name);
    } catch (err) {
      throw withIndexRepairHint(err, name);
    }
  }

  /** The plaintext of index object `id`, verified against its name (decoded by the caller, maybe on a worker). */
  async loadIndexPlain(id: IndexId): Promise<Uint8Array> {
    return this.loadUnpacked(indexName(id));
  }

  /** Index object `id`, verified and decoded; a damaged one says how to repair it. */
  async loadIndexObject(id: IndexId): Promise<IndexFile> {
    const name = indexName(id);
    try {
      return decodeIndex(await this.loadUnpacked(name), name);
    } catch (err) {
      throw withIndexRepairHint(err, name);
    }
  }

  /**
   * Runs `fn` with an uploader that packs, stores and indexes the blobs it is given, and keeps
   * the ordering promise of FORMAT.md: when this resolves, every pack is durable and named by an
   * index object, so a snapshot saved after it references only what is stored. On an error (or an
   * interruption, opts.signal) the packs already stored are indexed on the way out, so the next
   * run reuses them, and the error is thrown. `stats` counts what was added.
   */
  async withBlobUploader<T>(index: BlobIndex, opts: UploaderOptions, fn: (uploader: BlobUploader) => Promise<T>): Promise<{ result: T; stats: UploadedStats }> {
    const uploader = new BlobUploader(this, index, opts);
    try {
      const result = await fn(uploader);
      await uploader.flush();
      return { result, stats: { ...uploader.stats, sealedHighWaterBytes: uploader.sealedBudget.highWater, storeBusyMs: uploader.storeBusy.busyMs() } };
    } catch (err) {
      await uploader.abandon();
      throw err;
    }
  }

  /** Seals and stores an index object; returns its id. */
  async saveIndexObject(file: IndexFile): Promise<IndexId> {
    return this.saveEncodedIndexObject(encodeIndex(file));
  }

  /** An index object already encoded (FORMAT.md "Index objects"; the scale harness writes millions of entries so). */
  async saveEncodedIndexObject(encoded: Uint8Array): Promise<IndexId> {
    return (await this.saveUnpacked(INDEX_PREFIX, encoded)) as IndexId;
  }

  async removeIndexObject(id: IndexId): Promise<void> {
    await this.backend.remove(indexName(id));
  }

  /** The storage name of index object `id`, for messages. */
  indexObjectName(id: IndexId): string {
    return indexName(id);
  }

  async saveSnapshot(s: Snapshot): Promise<SnapshotId> {
    return (await this.saveUnpacked(SNAPSHOTS_PREFIX, encodeSnapshot(s))) as SnapshotId;
  }

  async loadSnapshot(id: SnapshotId): Promise<Snapshot> {
    const name = snapshotName(id);
    return decodeSnapshot(await this.loadUnpacked(name), name);
  }

  async removeSnapshot(id: SnapshotId): Promise<void> {
    await this.backend.remove(snapshotName(id));
  }

  /** The storage name of snapshot `id`, for messages. */
  snapshotObjectName(id: SnapshotId): string {
    return snapshotName(id);
  }

  async listSnapshotIds(): Promise<SnapshotId[]> {
    const ids: SnapshotId[] = [];
    for await (const o of this.backend.list(SNAPSHOTS_PREFIX)) ids.push(idOfName(o.name) as SnapshotId);
    return ids;
  }

  async listSnapshots(): Promise<{ id: SnapshotId; snapshot: Snapshot }[]> {
    const out = await mapLimit(await this.listSnapshotIds(), this.metadataReads, async (id) => ({ id, snapshot: await this.loadSnapshot(id) }));
    out.sort((a, b) => (a.snapshot.time < b.snapshot.time ? -1 : a.snapshot.time > b.snapshot.time ? 1 : 0));
    return out;
  }

  /**
   * "latest" (the newest snapshot the filter keeps), a full id or a unique prefix of at least 4
   * hex digits; as in restic, an id is taken whatever the filter says.
   */
  async resolveSnapshot(ref: string, filter: SnapshotFilter = NO_FILTER): Promise<{ id: SnapshotId; snapshot: Snapshot }> {
    if (ref === 'latest') {
      const latest = latestMatching(await this.listSnapshots(), filter);
      if (!latest) throw noSnapshotMatches(filter, this.backend.location);
      return latest;
    }
    if (!/^[0-9a-f]{4,64}$/.test(ref)) throw new UsageError(`"${ref}" is not a snapshot id`, { hint: 'give "latest", a snapshot id or a prefix of at least 4 hex digits (see `engine snapshots`)' });
    const matches = (await this.listSnapshotIds()).filter((id) => id.startsWith(ref));
    if (matches.length === 0) throw new UsageError(`no snapshot matches "${ref}"`, { hint: 'list them with `engine snapshots`' });
    if (matches.length > 1) throw new UsageError(`"${ref}" matches ${matches.length} snapshots`, { hint: 'give more digits of the id' });
    const id = matches[0]!;
    return { id, snapshot: await this.loadSnapshot(id) };
  }

  async listIndexIds(): Promise<IndexId[]> {
    const ids: IndexId[] = [];
    for await (const o of this.backend.list(INDEX_PREFIX)) ids.push(idOfName(o.name) as IndexId);
    return ids;
  }

  /** The index objects with their stored sizes, in listing order. */
  async listIndexObjects(): Promise<{ id: IndexId; size: number }[]> {
    const out: { id: IndexId; size: number }[] = [];
    for await (const o of this.backend.list(INDEX_PREFIX)) out.push({ id: idOfName(o.name) as IndexId, size: o.size });
    return out;
  }

  /** Metadata objects read at once: on a remote store each read waits a round trip. */
  get metadataReads(): number {
    return Math.max(1, Math.min(16, this.backend.parallelism));
  }

  async loadIndex(): Promise<MasterIndex> {
    const mi = new MasterIndex();
    // Read a batch at a time in parallel and merged in listing order (the first entry for a blob
    // wins), so only one batch of decoded index objects is held besides the merged index.
    const ids = await this.listIndexIds();
    const batch = this.metadataReads;
    for (let i = 0; i < ids.length; i += batch) {
      const files = await mapLimit(ids.slice(i, i + batch), batch, async (id) => ({ id, file: await this.loadIndexObject(id) }));
      for (const { id, file } of files) mi.add(id, file);
    }
    return mi;
  }

  /**
   * Reads, authenticates and verifies one blob (used for trees; data blobs go through the worker
   * pool). When the blob is indexed in several packs and one is missing or damaged, the next is
   * tried: the first error is thrown only when no location serves.
   */
  async loadBlob(index: BlobIndex, type: BlobType, id: BlobId): Promise<Uint8Array> {
    const loc = index.lookup(id);
    const what = `${blobTypeName(type)} blob ${id}`;
    if (!loc) throw new IntegrityError(`${what} is referenced but not in the index (missing data)`, { details: { blobId: id } });
    const others = (index.lookupAll?.(id) ?? []).filter((l) => l.packId !== loc.packId || l.offset !== loc.offset);
    let first: unknown;
    for (const at of [loc, ...others]) {
      try {
        return await this.loadBlobAt(at, type, id, what);
      } catch (err) {
        if (!isDamageError(err)) throw err;
        first ??= err;
      }
    }
    throw first;
  }

  /**
   * Blobs of one pack, read in one ranged request (from the first one's offset to the end of the
   * last: the caller keeps them close), each authenticated and checked against its id. A blob
   * that fails there, or all of them when the range cannot be read, is read through loadBlob
   * (its other indexed locations), so damage is reported as loadBlob reports it. The result
   * follows `blobs`' order.
   */
  async loadBlobsOfPack(index: BlobIndex, packId: PackId, blobs: readonly { id: BlobId; type: BlobType; loc: BlobLocation }[]): Promise<Uint8Array[]> {
    if (blobs.length === 0) return [];
    let start = Number.POSITIVE_INFINITY;
    let end = 0;
    for (const b of blobs) {
      start = Math.min(start, b.loc.offset);
      end = Math.max(end, b.loc.offset + b.loc.length);
    }
    let bytes: Uint8Array | null = null;
    try {
      bytes = await this.packs.loadRange(packId, { offset: start, length: end - start });
    } catch (err) {
      if (!isNotFound(err) && !isDamageError(err)) throw err;
    }
    const out: Uint8Array[] = [];
    for (const b of blobs) {
      let plain: Uint8Array | null = null;
      if (bytes && b.loc.packId === packId) {
        try {
          plain = this.openBlob(bytes.subarray(b.loc.offset - start, b.loc.offset - start + b.loc.length), b.loc, b.id, `${blobTypeName(b.type)} blob ${b.id}`);
        } catch (err) {
          if (!isDamageError(err)) throw err;
        }
      }
      out.push(plain ?? (await this.loadBlob(index, b.type, b.id)));
    }
    return out;
  }

  private async loadBlobAt(loc: BlobLocation, type: BlobType, id: BlobId, what: string): Promise<Uint8Array> {
    // Only trees are read one at a time through here, and packs of trees are worth caching.
    let sealed: Uint8Array;
    try {
      sealed = await this.packs.loadRange(loc.packId, { offset: loc.offset, length: loc.length }, { metadata: type === BlobType.TREE });
    } catch (err) {
      // The index names a pack the storage does not have: damaged repository, not a storage fault.
      if (isNotFound(err)) throw new IntegrityError(`${what}: its pack ${loc.packId} is missing from the repository`, { details: { blobId: id, packId: loc.packId }, cause: err });
      throw err;
    }
    return this.openBlob(sealed, loc, id, what);
  }

  /** A sealed blob opened, its length and id checked (IntegrityError or FormatError when damaged). */
  private openBlob(sealed: Uint8Array, loc: BlobLocation, id: BlobId, what: string): Uint8Array {
    const plain = openEnvelope(this.p, this.keys, sealed, loc.rawLength, `${what} in pack ${loc.packId}`);
    if (plain.length !== loc.rawLength || toHex(this.p.blake3.keyedHash(this.keys.blobId, plain)) !== id) {
      throw new IntegrityError(`${what} in pack ${loc.packId} does not match its id`, { details: { blobId: id, packId: loc.packId } });
    }
    return plain;
  }

  /** A whole directory at once, chunks joined: for small trees only (walks use treeEntries). */
  async loadTree(index: BlobIndex, id: BlobId): Promise<Tree> {
    return { nodes: await collectTree(this, index, id) };
  }
}

/** The keys of a repository: derived from its master key, K_id and K_gear taken from the config when it carries them (version 5). */
function repoKeys(p: Primitives, master: Uint8Array, config: RepoConfig): RepoKeys {
  return repoKeysWithIdKeys(p.blake3, master, config.idKeys ? { blobId: fromHex(config.idKeys.blobId), gear: fromHex(config.idKeys.gear) } : undefined);
}
