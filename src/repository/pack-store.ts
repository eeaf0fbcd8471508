// The packs of a repository as stored objects: where they live (layout.ts), listing them, whole
// and ranged reads, writes, removal, and reading a pack's authenticated header (FORMAT.md
// "Packs"). With format/pack.ts and the uploader that assembles packs, the one place that knows
// how a pack is laid out: commands ask it for packs by id, never for storage names.
import type { Primitives } from '../../native-bindings/types.js';
import type { Backend, ByteRange, ObjectOptions } from '../backend/types.js';
import { open as openEnvelope } from '../crypto/envelope.js';
import type { RepoKeys } from '../crypto/keys.js';
import type { PackId } from '../format/ids.js';
import { decodePackHeader, headerRange, type PackBlob } from '../format/pack.js';
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

export class PackStore {
  private readonly backend: Backend;
  private readonly p: Primitives;
  private readonly keys: RepoKeys;

  constructor(backend: Backend, p: Primitives, keys: RepoKeys) {
    this.backend = backend;
    this.p = p;
    this.keys = keys;
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
