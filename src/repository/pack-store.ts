// The packs of a repository as stored objects: where they live (layout.ts), listing them, whole
// and ranged reads, writes, removal, and reading a pack's authenticated header (FORMAT.md
// "Packs"). With format/pack.ts and the uploader that assembles packs, the one place that knows
// how a pack is laid out: commands ask it for packs by id, never for storage names.
import type { Primitives } from '../../native-bindings/types.js';
import type { Backend, ByteRange, ObjectOptions } from '../backend/types.js';
import { open as openEnvelope, seal as sealEnvelope, type Suite } from '../crypto/envelope.js';
import type { RepoKeys } from '../crypto/keys.js';
import type { BlobId, BlobType, PackId } from '../format/ids.js';
import { decodePackHeader, encodePackHeader, headerRange, type PackBlob } from '../format/pack.js';
import { toHex } from '../util/hex.js';
import { DATA_PREFIX, packIdOfName, packName } from './layout.js';

export type { PackBlob } from '../format/pack.js';

/** Header bytes read on a first try: one round trip for packs of up to ~1500 blobs. */
const HEADER_GUESS_BYTES = 64 * 1024;

/** A stored pack and its size in bytes. */
export interface StoredPack {
  readonly packId: PackId;
  readonly size: number;
}

/** An object stored where packs live: `packId` is null when its name is not where a pack of that id lives. */
export interface PackFolderObject {
  readonly packId: PackId | null;
  /** Its storage name, for messages. */
  readonly name: string;
  readonly size: number;
}

/** A sealed blob on its way into a pack. */
export interface PackInput {
  readonly type: BlobType;
  readonly id: BlobId;
  readonly sealed: Uint8Array;
  readonly rawLength: number;
}

/** A pack assembled in memory: its bytes, the id they hash to, and where each blob is in it. */
export interface BuiltPack {
  readonly packId: PackId;
  readonly bytes: Uint8Array;
  readonly blobs: PackBlob[];
}

export class PackStore {
  private readonly backend: Backend;
  private readonly p: Primitives;
  private readonly keys: RepoKeys;
  private readonly suite: Suite;

  constructor(backend: Backend, p: Primitives, keys: RepoKeys, suite: Suite) {
    this.backend = backend;
    this.p = p;
    this.keys = keys;
    this.suite = suite;
  }

  /**
   * Lays out a pack (FORMAT.md "Packs"): the sealed blobs in the order given, then their header
   * sealed under the repository's suite, then the header's length; the pack's id is the BLAKE3
   * of its bytes. The sealed blobs are copied: once it returns, their buffers may be reused.
   */
  build(blobs: readonly PackInput[], alloc: (size: number) => Uint8Array = (size) => new Uint8Array(size)): BuiltPack {
    const header = sealEnvelope(this.p, this.keys, encodePackHeader(blobs.map((b) => ({ type: b.type, id: b.id, length: b.sealed.length, rawLength: b.rawLength }))), { suite: this.suite, zstdLevel: null });
    const size = blobs.reduce((n, b) => n + b.sealed.length, 0) + header.length + 4;
    // `alloc` may lend a reused buffer (the uploader's): at least `size` bytes, of which the pack
    // takes the first `size`.
    const bytes = alloc(size).subarray(0, size);
    const entries: PackBlob[] = [];
    let pos = 0;
    for (const b of blobs) {
      bytes.set(b.sealed, pos);
      entries.push({ type: b.type, id: b.id, offset: pos, length: b.sealed.length, rawLength: b.rawLength });
      pos += b.sealed.length;
    }
    bytes.set(header, pos);
    new DataView(bytes.buffer, bytes.byteOffset, size).setUint32(size - 4, header.length, true);
    return { packId: toHex(this.p.blake3.hash(bytes)) as PackId, bytes, blobs: entries };
  }

  /** The storage name of a pack, for messages (check reports findings by it). */
  nameOf(packId: PackId): string {
    return packName(packId);
  }

  /** Every object where packs are stored, packs or not (a file left by another tool). */
  async *listObjects(): AsyncIterable<PackFolderObject> {
    for await (const o of this.backend.list(DATA_PREFIX)) yield { packId: packIdOfName(o.name), name: o.name, size: o.size };
  }

  /** The stored packs and their sizes, in listing order; objects that are not packs are skipped. */
  async *list(): AsyncIterable<StoredPack> {
    for await (const o of this.listObjects()) if (o.packId) yield { packId: o.packId, size: o.size };
  }

  /** A whole pack. */
  load(packId: PackId, opts?: ObjectOptions): Promise<Uint8Array> {
    return this.backend.load(packName(packId), undefined, opts);
  }

  /** A range of a pack (one or more sealed blobs). */
  loadRange(packId: PackId, range: ByteRange, opts?: ObjectOptions): Promise<Uint8Array> {
    return this.backend.load(packName(packId), range, opts);
  }

  save(packId: PackId, bytes: Uint8Array, opts?: ObjectOptions): Promise<void> {
    return this.backend.save(packName(packId), bytes, opts);
  }

  remove(packId: PackId): Promise<void> {
    return this.backend.remove(packName(packId));
  }

  /** The blobs a stored pack holds, from its authenticated header: a ranged read of the pack's tail. */
  async loadHeader(packId: PackId, size: number): Promise<PackBlob[]> {
    const name = packName(packId);
    const what = `header of pack ${packId}`;
    const guess = Math.min(size, HEADER_GUESS_BYTES);
    let tail = await this.backend.load(name, { offset: size - guess, length: guess });
    const where = headerRange(size, tail.subarray(tail.length - 4), name);
    if (where.offset < size - guess) tail = await this.backend.load(name, { offset: where.offset, length: where.length + 4 });
    const start = tail.length - 4 - where.length;
    return decodePackHeader(openEnvelope(this.p, this.keys, tail.subarray(start, start + where.length), 64 * 1024 * 1024, what), what);
  }

  /**
   * The blobs a whole pack holds, from its authenticated header (the pack read whole already, by
   * check --read-data or when adopting a stray pack). A pack too short for its header is named by
   * its storage name, the header by "header of pack <id>".
   */
  headerOfWhole(packId: PackId, pack: Uint8Array): PackBlob[] {
    const what = `header of pack ${packId}`;
    const where = headerRange(pack.length, pack.subarray(pack.length - 4), packName(packId));
    const sealed = pack.subarray(where.offset, where.offset + where.length);
    return decodePackHeader(openEnvelope(this.p, this.keys, sealed, 64 * 1024 * 1024, what), what);
  }
}
