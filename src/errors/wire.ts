// Errors cannot cross a worker boundary as objects: piscina delivers a plain Error with the class
// and `code` lost. Handlers send this plain shape instead and the pool rebuilds an EngineError.
import { EngineError, ErrorCode, InternalError, isEngineError } from './engine-error.js';

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

export function fromWire(w: WireError): EngineError {
  const known = (Object.values(ErrorCode) as string[]).includes(w.code);
  if (!known || w.code === ErrorCode.INTERNAL) return new InternalError(w.message);
  const opts: { hint?: string; details?: Record<string, unknown> } = {};
  if (w.hint !== undefined) opts.hint = w.hint;
  if (w.details !== undefined) opts.details = w.details;
  return new EngineError(w.code as ErrorCode, w.message, opts);
}
