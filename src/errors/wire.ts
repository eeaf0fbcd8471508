// Errors cannot cross a worker boundary as objects: structured cloning keeps an Error's message and
// loses its class, `code`, hint and details. Workers send this plain shape instead (as a task's
// value, see workers/protocol.ts TaskFailure) and the main thread rebuilds the typed error, chosen
// by its code alone: a message is for people and may change wording at any time.
import {
  AbortedError,
  AuthenticationFailedError,
  BadCredentialsError,
  BudgetError,
  EngineError,
  type EngineErrorOptions,
  ErrorCode,
  FormatError,
  IntegrityError,
  IntegrityFailure,
  InternalError,
  isEngineError,
  UsageError,
} from './engine-error.js';

export interface WireError {
  readonly code: string;
  readonly message: string;
  readonly hint?: string;
  readonly details?: Record<string, unknown>;
}

export function toWire(err: unknown): WireError {
  if (isEngineError(err)) {
    const w: { code: string; message: string; hint?: string; details?: Record<string, unknown> } = { code: err.code, message: err.message };
    if (err.hint !== undefined) w.hint = err.hint;
    if (err.details !== undefined) w.details = { ...err.details };
    return w;
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: ErrorCode.INTERNAL, message };
}

type Decoder = (message: string, opts: EngineErrorOptions) => EngineError;

/** The typed class for each code that has one; any other known code becomes a plain EngineError. */
const decoders: Partial<Record<ErrorCode, Decoder>> = {
  [ErrorCode.USAGE]: (m, o) => new UsageError(m, o),
  [ErrorCode.BUDGET]: (m, o) => new BudgetError(m, o),
  [ErrorCode.BAD_CREDENTIALS]: (m) => new BadCredentialsError(m),
  [ErrorCode.FORMAT_CORRUPT]: (m, o) => new FormatError(ErrorCode.FORMAT_CORRUPT, m, o),
  [ErrorCode.FORMAT_UNSUPPORTED]: (m, o) => new FormatError(ErrorCode.FORMAT_UNSUPPORTED, m, o),
  [ErrorCode.INTEGRITY]: (m, o) => (o.details?.['failure'] === IntegrityFailure.AUTHENTICATION ? new AuthenticationFailedError(m, o) : new IntegrityError(m, o)),
  [ErrorCode.ABORTED]: (m) => new AbortedError(m),
  [ErrorCode.INTERNAL]: (m, o) => new InternalError(m, o),
};

const knownCodes = new Set<string>(Object.values(ErrorCode));

function isErrorCode(code: string): code is ErrorCode {
  return knownCodes.has(code);
}

/** The typed error for `w.code`; a code this engine does not know is a bug (InternalError). */
export function fromWire(w: WireError): EngineError {
  const opts: EngineErrorOptions = {};
  if (w.hint !== undefined) opts.hint = w.hint;
  if (w.details !== undefined) opts.details = w.details;
  if (!isErrorCode(w.code)) return new InternalError(w.message, opts);
  const decode = decoders[w.code];
  return decode ? decode(w.message, opts) : new EngineError(w.code, w.message, opts);
}
