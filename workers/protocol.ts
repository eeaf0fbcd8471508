// The worker protocol, typed for both sides. Workers compute on buffers they are handed and do no
// I/O. Segments are never copied: the backup reads them into SharedArrayBuffers from a pool that
// lives for the whole run (src/archiver/segment-pool.ts), which workers read in place; any other
// buffer travels by transfer. Results that carry bulk bytes come back as transferred buffers.
import type { PrimitiveName } from '../native-bindings/types.js';
import type { ChunkerParams } from '../src/chunker/fastcdc.js';
import type { WireError } from '../src/errors/wire.js';

export const PROTOCOL_VERSION = 1;

export interface WorkerInit {
  readonly protocol: number;
  readonly chosen: Record<PrimitiveName, string>;
  readonly keys: { readonly xchacha: Uint8Array; readonly aes: Uint8Array; readonly blobId: Uint8Array };
  readonly gear: Uint32Array;
  readonly chunker: ChunkerParams;
  readonly suite: number;
  readonly zstdLevel: number;
  /** Decrypt, decompress and re-hash every sealed blob before it leaves the worker. */
  readonly verifyAfterSeal: boolean;
}

export interface Span {
  readonly start: number;
  readonly end: number;
  /** The span ends at the end of its file: the last bytes form a chunk even without a cut. */
  readonly final: boolean;
}

export interface ChunkHashInput {
  readonly segment: Uint8Array;
  readonly spans: readonly Span[];
}

export interface SpanChunks {
  /** End offsets (exclusive) of the complete chunks in this span. */
  readonly ends: number[];
  /** 32 bytes per chunk: keyed BLAKE3 ids. */
  readonly ids: Uint8Array;
  /** Start of the bytes that do not yet form a complete chunk (== span end when final). */
  readonly tailStart: number;
}

export interface ChunkHashOutput {
  /** The input segment, transferred back. */
  readonly segment: Uint8Array;
  readonly spans: SpanChunks[];
}

export interface SealInput {
  readonly segment: Uint8Array;
  /** offset, length pairs into segment. */
  readonly ranges: Uint32Array;
  /** 32 bytes per range: the ids the chunks hashed to (checked again by the verification). */
  readonly ids: Uint8Array;
  /**
   * Where to write the result (a region of the sealed arena, in shared memory), at least the
   * layout's bound long; without it the worker allocates the result and transfers it back.
   */
  readonly out?: Uint8Array;
}

/**
 * Sealed output layout: u32le count | count × u32le sealed length | sealed blobs back to back.
 * Written into SealInput.out when given (the task then returns null), else a buffer of its own.
 */
export type SealOutput = ArrayBuffer | null;

export interface UnsealBlob {
  readonly offset: number;
  readonly length: number;
  readonly rawLength: number;
  readonly id: string;
}

export interface UnsealInput {
  readonly packBytes: Uint8Array;
  readonly blobs: readonly UnsealBlob[];
  /**
   * Where to write the result (a region of the shared arena), at least the layout's size; without
   * it the worker allocates the result and transfers it back.
   */
  readonly out?: Uint8Array;
}

/** Per blob in UnsealOutput. */
export const UnsealStatus = { OK: 0, AUTH_FAILED: 1, BAD_PAYLOAD: 2, ID_MISMATCH: 3 } as const;

/**
 * Unseal output layout: u32le count | count × (u32le status, u32le length) | plaintexts back to
 * back. Written into UnsealInput.out when given (the task then returns null), else a buffer of its own.
 */
export type UnsealOutput = ArrayBuffer | null;

/** Verify output layout: u32le count | count × u32le status | the BLAKE3 of the whole pack (32 bytes). */
export type VerifyPackOutput = ArrayBuffer;

export const TaskName = { chunkHash: 'chunkHash', seal: 'seal', unseal: 'unseal', verifyPack: 'verifyPack' } as const;

/**
 * What a task returns instead of throwing: an error thrown in a worker reaches the main thread as a
 * plain Error with its class and code lost, so handlers catch it and send it as a value, which the
 * pool decodes back to the typed error (src/errors/wire.ts).
 */
export interface TaskFailure {
  readonly taskError: WireError;
}

export function isTaskFailure(out: unknown): out is TaskFailure {
  return typeof out === 'object' && out !== null && 'taskError' in out;
}
