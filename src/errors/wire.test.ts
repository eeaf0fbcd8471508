// Errors as values across threads: what a worker sends is decoded back to the typed error by its
// code alone, whatever the message says (the message is for people and may be reworded).
import { describe, expect, it } from 'vitest';
import {
  AbortedError,
  AuthenticationFailedError,
  BadCredentialsError,
  BudgetError,
  EngineError,
  ErrorCode,
  FormatError,
  IntegrityError,
  InternalError,
  isAuthenticationFailure,
  UsageError,
} from './engine-error.js';
import { fromWire, toWire, type WireError } from './wire.js';

/** What the main thread receives: the wire shape after a structured clone (postMessage). */
const across = (err: unknown): EngineError => fromWire(structuredClone(toWire(err)));

describe('errors across a worker boundary', () => {
  it('an authentication failure arrives as the typed error with its code, whatever its message says', () => {
    const back = across(new AuthenticationFailedError('blob 3: the tag does not verify'));
    expect(back).toBeInstanceOf(AuthenticationFailedError);
    expect(back).toBeInstanceOf(IntegrityError);
    expect(back.code).toBe(ErrorCode.INTEGRITY);
    expect(back.message).toBe('blob 3: the tag does not verify');
    expect(isAuthenticationFailure(back)).toBe(true);
  });

  it('a message that mentions authentication does not make an authentication failure', () => {
    const back = across(new IntegrityError('pack 1: authentication failed (but this is a length check)'));
    expect(back).toBeInstanceOf(IntegrityError);
    expect(isAuthenticationFailure(back)).toBe(false);
  });

  it('each typed class comes back as itself, with code, hint and details', () => {
    const cases: EngineError[] = [
      new UsageError('bad flag', { hint: 'see --help' }),
      new BudgetError('too small', { details: { minimumBytes: 5 } }),
      new BadCredentialsError(),
      new FormatError(ErrorCode.FORMAT_CORRUPT, 'bad tree'),
      new FormatError(ErrorCode.FORMAT_UNSUPPORTED, 'unknown cipher suite 9'),
      new IntegrityError('damaged', { details: { blobId: 'ab' } }),
      new AbortedError(),
      new InternalError('bug'),
    ];
    for (const err of cases) {
      const back = across(err);
      expect(back.constructor, err.message).toBe(err.constructor);
      expect({ code: back.code, message: back.message, hint: back.hint, details: back.details }).toEqual({
        code: err.code,
        message: err.message,
        hint: err.hint,
        details: err.details,
      });
    }
  });

  it('a code without a class of its own keeps its code', () => {
    const back = across(new EngineError(ErrorCode.REPO_LOCKED, 'locked', { details: { lock: 'x' } }));
    expect(back.code).toBe(ErrorCode.REPO_LOCKED);
    expect(back.details).toEqual({ lock: 'x' });
  });

  it('a plain Error or an unknown code is a bug: InternalError with the message', () => {
    expect(across(new RangeError('offset out of range'))).toMatchObject({ code: ErrorCode.INTERNAL, message: 'offset out of range' });
    const unknown: WireError = { code: 'E_FROM_THE_FUTURE', message: 'x' };
    expect(fromWire(unknown)).toBeInstanceOf(InternalError);
  });
});
