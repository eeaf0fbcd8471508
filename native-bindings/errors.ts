import type { PrimitiveName } from './types.js';

export interface Rejection {
  readonly impl: string;
  readonly reason: string;
}

const DEFAULT_HINT =
  'Reinstall dependencies (`npm ci`) so the optional native modules build, or unset ENGINE_NATIVE=off; ' +
  '`engine doctor` lists every implementation and why it was rejected.';

/**
 * No implementation of a primitive loaded and passed its self-test. Fatal: the engine cannot read
 * or write a repository without every primitive. Errors crossing a worker boundary lose their
 * class, so callers forwarding this should send `code` and `message` as data.
 */
export class NoPrimitiveError extends Error {
  readonly code = 'E_NO_PRIMITIVE';
  readonly primitive: PrimitiveName;
  readonly rejected: readonly Rejection[];
  readonly hint: string;

  constructor(primitive: PrimitiveName, rejected: readonly Rejection[], hint: string = DEFAULT_HINT) {
    const reasons = rejected.length === 0 ? 'no candidates' : rejected.map((r) => `${r.impl}: ${r.reason}`).join('; ');
    super(`no usable ${primitive} implementation (${reasons}). ${hint}`);
    this.name = 'NoPrimitiveError';
    this.primitive = primitive;
    this.rejected = rejected;
    this.hint = hint;
  }
}

/** A zstd frame that is malformed, or that would expand beyond the caller's limit. */
export class ZstdDecodeError extends Error {
  readonly code: 'E_ZSTD_CORRUPT' | 'E_ZSTD_TOO_LARGE';

  constructor(code: 'E_ZSTD_CORRUPT' | 'E_ZSTD_TOO_LARGE', message: string) {
    super(message);
    this.name = 'ZstdDecodeError';
    this.code = code;
  }
}
