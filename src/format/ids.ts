// Identifiers are 32-byte BLAKE3 values. Branded string types keep the kinds apart at compile time;
// raw bytes are used inside binary encodings and hex strings everywhere else.
import { FormatError, ErrorCode } from '../errors/engine-error.js';

declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

export type BlobId = Brand<string, 'BlobId'>;
export type PackId = Brand<string, 'PackId'>;
export type SnapshotId = Brand<string, 'SnapshotId'>;
export type IndexId = Brand<string, 'IndexId'>;
export type KeyId = Brand<string, 'KeyId'>;

export const ID_BYTES = 32;

export function parseId<T extends string>(hex: string, what: string): T {
  if (hex.length !== ID_BYTES * 2 || !/^[0-9a-f]+$/.test(hex)) {
    throw new FormatError(ErrorCode.FORMAT_CORRUPT, `${what}: "${hex.slice(0, 80)}" is not a 64-digit hex id`);
  }
  return hex as T;
}

export function idToBytes(id: string): Buffer {
  return Buffer.from(id, 'hex');
}

export function idFromBytes<T extends string>(b: Uint8Array, offset = 0): T {
  return Buffer.from(b.buffer, b.byteOffset + offset, ID_BYTES).toString('hex') as T;
}

/** Object kinds stored in a repository. */
export const BlobType = { DATA: 0, TREE: 1 } as const;
export type BlobType = (typeof BlobType)[keyof typeof BlobType];

export function blobTypeName(t: BlobType): 'data' | 'tree' {
  return t === BlobType.TREE ? 'tree' : 'data';
}
