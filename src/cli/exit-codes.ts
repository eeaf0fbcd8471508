// The only mapping from errors to exit codes (README "Exit codes"; restic's where they overlap).
import { ErrorCode, isEngineError } from '../errors/engine-error.js';

export const ExitCode = {
  OK: 0,
  FAILURE: 1,
  USAGE: 2,
  PARTIAL: 3,
  INTEGRITY: 4,
  REPO_NOT_FOUND: 10,
  LOCKED: 11,
  BAD_CREDENTIALS: 12,
  BACKEND_UNAVAILABLE: 13,
  NO_PRIMITIVE: 14,
  INTERRUPTED: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export function exitCodeFor(err: unknown): ExitCode {
  if (!isEngineError(err)) return ExitCode.FAILURE;
  switch (err.code) {
    case ErrorCode.USAGE:
    case ErrorCode.CONFIG:
    case ErrorCode.BUDGET:
    case ErrorCode.REPO_EXISTS:
      return ExitCode.USAGE;
    case ErrorCode.PARTIAL:
      return ExitCode.PARTIAL;
    case ErrorCode.INTEGRITY:
    case ErrorCode.FORMAT_CORRUPT:
      return ExitCode.INTEGRITY;
    case ErrorCode.REPO_NOT_FOUND:
      return ExitCode.REPO_NOT_FOUND;
    case ErrorCode.REPO_LOCKED:
      return ExitCode.LOCKED;
    case ErrorCode.BAD_CREDENTIALS:
      return ExitCode.BAD_CREDENTIALS;
    case ErrorCode.BACKEND_TRANSIENT:
    case ErrorCode.BACKEND_PERMANENT:
      return ExitCode.BACKEND_UNAVAILABLE;
    case ErrorCode.NO_PRIMITIVE:
      return ExitCode.NO_PRIMITIVE;
    case ErrorCode.ABORTED:
      return ExitCode.INTERRUPTED;
    default:
      return ExitCode.FAILURE;
  }
}
