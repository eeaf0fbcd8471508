import type { ImplKind, PrimitiveName } from './types.js';

/**
 * One implementation of a primitive. `kind` says what has to be loaded for it: 'native' is an
 * optional addon that may be missing or broken on a platform (what ENGINE_NATIVE=off excludes);
 * code on top of node:crypto counts as 'js', because node:crypto ships inside every Node binary.
 */
export interface Candidate<T> {
  readonly impl: string;
  readonly kind: ImplKind;
  /** Imports the implementation's modules. Throws when they are absent or fail to initialise. */
  load(): Promise<T>;
}

/** A primitive: its candidates in preference order and the known-answer test each must pass. */
export interface Adapter<T> {
  readonly primitive: PrimitiveName;
  readonly candidates: readonly Candidate<T>[];
  /** Throws (with a message saying what differed) unless `impl` produces the expected outputs. */
  selfTest(impl: T): Promise<void>;
}
