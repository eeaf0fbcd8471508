import { AbortedError, EngineError, ErrorCode } from '../errors/engine-error.js';

export function notFound(location: string, name: string, cause?: unknown): EngineError {
  return new EngineError(ErrorCode.BACKEND_NOT_FOUND, `object "${name}" not found in ${location}`, { cause });
}

export function isNotFound(err: unknown): boolean {
  return (err as { code?: unknown } | null)?.code === ErrorCode.BACKEND_NOT_FOUND;
}

/** Rejects with E_ABORTED (not a DOMException) when the signal has fired. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new AbortedError(`${what}: interrupted`);
}
