// Index object payload (FORMAT.md "Index objects"), before sealing:
//
//   magic "EIX1" | supersedes count u32le | count × index id (32) |
//   pack count u32le | per pack: pack id (32) | blob count u32le |
//     per blob: type u8 | blob id (32) | offset u32le | sealedLength u32le | rawLength u32le
//
// Binary rather than JSON: an index of ten million blobs must stream and parse without bloat.
import { ErrorCode, FormatError } from '../errors/engine-error.js';
import { Reader, Writer } from './binary.js';
import { type BlobId, type BlobType, ID_BYTES, type IndexId, type PackId, idFromBytes, idToBytes } from './ids.js';
import type { PackBlob } from './pack.js';

export const INDEX_MAGIC = 'EIX1';

export interface IndexPack {
  readonly packId: PackId;
  readonly blobs: readonly PackBlob[];
}

export interface IndexFile {
  readonly supersedes: readonly IndexId[];
  readonly packs: readonly IndexPack[];
}

export function encodeIndex(idx: IndexFile): Uint8Array {
  const w = new Writer(64 + idx.packs.reduce((n, p) => n + 36 + p.blobs.length * 45, 0));
  w.bytes(new TextEncoder().encode(INDEX_MAGIC));
  w.u32(idx.supersedes.length);
  for (const s of idx.supersedes) w.bytes(idToBytes(s));
  w.u32(idx.packs.length);
  for (const p of idx.packs) {
    w.bytes(idToBytes(p.packId)).u32(p.blobs.length);
    for (const b of p.blobs) w.u8(b.type).bytes(idToBytes(b.id)).u32(b.offset).u32(b.length).u32(b.rawLength);
  }
  return w.finish();
}

export function decodeIndex(plain: Uint8Array, what: string): IndexFile {
  const r = new Reader(plain, what);
  const magic = new TextDecoder().decode(r.bytes(4));
  if (magic !== INDEX_MAGIC) throw new FormatError(ErrorCode.FORMAT_UNSUPPORTED, `${what}: not an index object of a supported version (magic "${magic}")`);
  const supersedes: IndexId[] = [];
  for (let i = r.u32(); i > 0; i--) supersedes.push(idFromBytes<IndexId>(r.bytes(ID_BYTES)));
  const packs: IndexPack[] = [];
  for (let p = r.u32(); p > 0; p--) {
    const packId = idFromBytes<PackId>(r.bytes(ID_BYTES));
    const blobs: PackBlob[] = [];
    for (let b = r.u32(); b > 0; b--) {
      const type = r.u8();
      if (type !== 0 && type !== 1) throw new FormatError(ErrorCode.FORMAT_CORRUPT, `${what}: unknown blob type ${type}`);
      const id = idFromBytes<BlobId>(r.bytes(ID_BYTES));
      blobs.push({ type: type as BlobType, id, offset: r.u32(), length: r.u32(), rawLength: r.u32() });
    }
    packs.push({ packId, blobs });
  }
  r.end();
  return { supersedes, packs };
}

/**
 * An index object's payload built a pack at a time, straight into bytes (45 per blob): the same
 * bytes as encodeIndex, without holding an object per entry until the end (prune and repair
 * write objects of BLOBS_PER_INDEX entries, ~100 bytes of heap each as objects).
 */
export class IndexPayloadBuilder {
  private readonly parts: Buffer[] = [];
  private packCount = 0;
  /** Entries added. */
  blobs = 0;

  addPack(packId: PackId, blobs: readonly PackBlob[]): void {
    const b = Buffer.allocUnsafe(ID_BYTES + 4 + 45 * blobs.length);
    b.set(idToBytes(packId), 0);
    b.writeUInt32LE(blobs.length, ID_BYTES);
    let at = ID_BYTES + 4;
    for (const x of blobs) {
      b[at] = x.type;
      b.set(idToBytes(x.id), at + 1);
      b.writeUInt32LE(x.offset, at + 33);
      b.writeUInt32LE(x.length, at + 37);
      b.writeUInt32LE(x.rawLength, at + 41);
      at += 45;
    }
    this.parts.push(b);
    this.packCount++;
    this.blobs += blobs.length;
  }

  get packs(): number {
    return this.packCount;
  }

  /** The payload, with its supersedes list; the builder is empty again. */
  finish(supersedes: readonly IndexId[]): Uint8Array {
    const head = Buffer.allocUnsafe(8 + ID_BYTES * supersedes.length + 4);
    head.write(INDEX_MAGIC, 0, 'latin1');
    head.writeUInt32LE(supersedes.length, 4);
    supersedes.forEach((id, i) => head.set(idToBytes(id), 8 + ID_BYTES * i));
    head.writeUInt32LE(this.packCount, 8 + ID_BYTES * supersedes.length);
    const out = Buffer.concat([head, ...this.parts]);
    this.parts.length = 0;
    this.packCount = 0;
    this.blobs = 0;
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }
}

/** Blobs per index object written by prune and repair: keeps each object a few MiB. */
export const BLOBS_PER_INDEX = 100_000;

/**
 * Index objects replacing others (prune, repair index): at most BLOBS_PER_INDEX blobs each, the
 * last carrying the supersedes list; always at least one, so that the supersedes list is written
 * even when no pack remains. Last, because readers honour `supersedes`: written in order, the
 * objects replaced stop counting only once every object replacing them is stored (a kill in
 * between leaves both, which name the same packs).
 */
export function splitIndex(packs: readonly IndexPack[], supersedes: readonly IndexId[]): IndexFile[] {
  const files: { supersedes: readonly IndexId[]; packs: IndexPack[] }[] = [];
  let cur: IndexPack[] = [];
  let blobs = 0;
  for (const p of packs) {
    if (cur.length > 0 && blobs + p.blobs.length > BLOBS_PER_INDEX) {
      files.push({ supersedes: [], packs: cur });
      cur = [];
      blobs = 0;
    }
    cur.push(p);
    blobs += p.blobs.length;
  }
  if (cur.length > 0 || files.length === 0) files.push({ supersedes: [], packs: cur });
  files[files.length - 1]!.supersedes = supersedes;
  return files;
}

/**
 * Walks an index object's payload without building objects: `supersedes` (when given) is called
 * with the buffer and offset of each superseded index id, `pack` with the buffer and
 * offset of each pack id, `blob` with the offset of each blob entry (type u8 | id (32) | offset |
 * sealedLength | rawLength, as in the layout above). For ten million entries, decodeIndex's
 * objects would be gigabytes of garbage; this is what the index cache is built with.
 */
export function visitIndex(plain: Uint8Array, what: string, v: { supersedes?(buf: Buffer, at: number): void; pack(buf: Buffer, at: number, blobs: number): void; blob(buf: Buffer, at: number): void }): void {
  const buf = Buffer.from(plain.buffer, plain.byteOffset, plain.byteLength);
  const need = (at: number, n: number): void => {
    if (at + n > buf.length) throw new FormatError(ErrorCode.FORMAT_CORRUPT, `${what}: truncated (needs ${n} more bytes at offset ${at}, has ${buf.length - at})`);
  };
  need(0, 8);
  const magic = buf.toString('latin1', 0, 4);
  if (magic !== INDEX_MAGIC) throw new FormatError(ErrorCode.FORMAT_UNSUPPORTED, `${what}: not an index object of a supported version (magic "${magic}")`);
  let at = 8 + ID_BYTES * buf.readUInt32LE(4);
  need(at, 4);
  if (v.supersedes) for (let i = 8; i < at; i += ID_BYTES) v.supersedes(buf, i);
  let packs = buf.readUInt32LE(at);
  at += 4;
  for (; packs > 0; packs--) {
    need(at, ID_BYTES + 4);
    const blobs = buf.readUInt32LE(at + ID_BYTES);
    v.pack(buf, at, blobs);
    at += ID_BYTES + 4;
    need(at, blobs * 45);
    for (let b = 0; b < blobs; b++, at += 45) {
      const type = buf[at]!;
      if (type !== 0 && type !== 1) throw new FormatError(ErrorCode.FORMAT_CORRUPT, `${what}: unknown blob type ${type}`);
      v.blob(buf, at);
    }
  }
  if (at !== buf.length) throw new FormatError(ErrorCode.FORMAT_CORRUPT, `${what}: ${buf.length - at} bytes after the end`);
}
