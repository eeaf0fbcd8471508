// The compressions an envelope may name in the first byte of its plaintext (FORMAT.md "Envelope"),
// in one table keyed by that byte. Sealing chooses between them (envelope.ts: zstd when it pays);
// opening looks the byte up here, so an unknown one is refused in one place.
import type { Primitives } from '../../native-bindings/types.js';
import { IntegrityError } from '../errors/engine-error.js';

/** The compression byte. The values are on disk: never renumber them. */
export const Compression = { NONE: 0, ZSTD: 1 } as const;
export type Compression = (typeof Compression)[keyof typeof Compression];

export interface Codec {
  readonly id: Compression;
  readonly name: 'none' | 'zstd';
  /** The payload is the body itself: decode() returns a view of it and copies nothing. */
  readonly stored: boolean;
  /** The payload of `body`, at most `maxPayload` bytes (a forged frame cannot exhaust memory). */
  decode(p: Primitives, body: Uint8Array, maxPayload: number, what: string): Uint8Array;
  /** decode() into `out`, whose length is the payload limit; returns the payload's length. */
  decodeInto(p: Primitives, body: Uint8Array, out: Uint8Array, what: string): number;
}

function checkStoredLength(body: Uint8Array, maxPayload: number, what: string): void {
  if (body.length > maxPayload) throw new IntegrityError(`${what}: payload of ${body.length} bytes exceeds the expected ${maxPayload}`);
}

function undecodable(what: string, err: unknown): IntegrityError {
  return new IntegrityError(`${what}: cannot decompress (${err instanceof Error ? err.message : String(err)})`);
}

const NONE: Codec = {
  id: Compression.NONE,
  name: 'none',
  stored: true,
  decode(_p, body, maxPayload, what) {
    checkStoredLength(body, maxPayload, what);
    return body;
  },
  decodeInto(_p, body, out, what) {
    checkStoredLength(body, out.length, what);
    out.set(body);
    return body.length;
  },
};

const ZSTD: Codec = {
  id: Compression.ZSTD,
  name: 'zstd',
  stored: false,
  decode(p, body, maxPayload, what) {
    try {
      return p.zstd.decompress(body, maxPayload);
    } catch (err) {
      throw undecodable(what, err);
    }
  },
  decodeInto(p, body, out, what) {
    try {
      return p.zstd.decompressInto(body, out);
    } catch (err) {
      throw undecodable(what, err);
    }
  },
};

const CODECS: ReadonlyMap<number, Codec> = new Map([NONE, ZSTD].map((c) => [c.id, c]));

/** The codec a compression byte names; an unknown byte inside an authenticated envelope is damage. */
export function codecFor(id: number, what: string): Codec {
  const codec = CODECS.get(id);
  if (!codec) throw new IntegrityError(`${what}: unknown compression ${id}`);
  return codec;
}
