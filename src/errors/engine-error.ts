// One error shape for everything the user may see: a stable code, a message naming what is at
// fault, and a one-line hint saying what to do. The CLI maps codes to exit codes (cli/exit-codes.ts).
// Code checks are preferred over instanceof: errors cross worker threads as plain data (errors/wire.ts)
// and are rebuilt there by code.

export const ErrorCode = {
  USAGE: 'E_USAGE',
  CONFIG: 'E_CONFIG',
  REPO_NOT_FOUND: 'E_REPO_NOT_FOUND',
  REPO_EXISTS: 'E_REPO_EXISTS',
  REPO_LOCKED: 'E_REPO_LOCKED',
  BAD_CREDENTIALS: 'E_BAD_CREDENTIALS',
  FORMAT_UNSUPPORTED: 'E_FORMAT_UNSUPPORTED',
  FORMAT_CORRUPT: 'E_FORMAT_CORRUPT',
  INTEGRITY: 'E_INTEGRITY',
  BACKEND_NOT_FOUND: 'E_BACKEND_NOT_FOUND',
  BACKEND_TRANSIENT: 'E_BACKEND_TRANSIENT',
  BACKEND_PERMANENT: 'E_BACKEND_PERMANENT',
  SOURCE_READ: 'E_SOURCE_READ',
  NO_PRIMITIVE: 'E_NO_PRIMITIVE',
  BUDGET: 'E_BUDGET',
  ABORTED: 'E_ABORTED',
  PARTIAL: 'E_PARTIAL',
  INTERNAL: 'E_INTERNAL',
  /** The local index cache failed a check (rebuilt on the next run; nothing in the repository is wrong). */
  CACHE: 'E_CACHE',
  /** A retention policy refused: it would remove every snapshot of a group (a --keep-tag that matches none). Exit 1. */
  POLICY: 'E_POLICY',
  /** A profile's run-before hook failed: the command was not run. Exit 1. */
  HOOK: 'E_HOOK',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface EngineErrorOptions {
  cause?: unknown;
  hint?: string;
  details?: Record<string, unknown>;
}

export class EngineError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly details: Readonly<Record<string, unknown>> | undefined;
  constructor(code: ErrorCode, message: string, opts: EngineErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = opts.hint;
    this.details = opts.details;
  }
}

export function isEngineError(e: unknown, code?: ErrorCode): e is EngineError {
  const c = (e as { code?: unknown } | null)?.code;
  return typeof c === 'string' && c.startsWith('E_') && (code === undefined || c === code);
}

/** An error about stored bytes (damaged, malformed or of an unknown version), not about reaching them. */
export function isDamageError(e: unknown): e is EngineError {
  return isEngineError(e, ErrorCode.INTEGRITY) || isEngineError(e, ErrorCode.FORMAT_CORRUPT) || isEngineError(e, ErrorCode.FORMAT_UNSUPPORTED);
}

export class UsageError extends EngineError {
  constructor(message: string, opts: EngineErrorOptions = {}) {
    super(ErrorCode.USAGE, message, opts);
  }
}

export class BudgetError extends EngineError {
  constructor(message: string, opts: EngineErrorOptions = {}) {
    super(ErrorCode.BUDGET, message, opts);
  }
}

export class RepoNotFoundError extends EngineError {
  constructor(location: string, opts: EngineErrorOptions = {}) {
    super(ErrorCode.REPO_NOT_FOUND, `no repository at ${location}`, {
      hint: 'check --repo / ENGINE_REPOSITORY, or create one with `engine init`',
      ...opts,
    });
  }
}

export class RepoExistsError extends EngineError {
  constructor(location: string) {
    super(ErrorCode.REPO_EXISTS, `a repository (or other files) already exists at ${location}`, {
      hint: 'choose an empty or new location for `engine init`',
    });
  }
}

export class BadCredentialsError extends EngineError {
  constructor(message = 'wrong password or no key: no key file of this repository opens with the given password') {
    super(ErrorCode.BAD_CREDENTIALS, message, {
      hint: 'check ENGINE_PASSWORD / --password-file; nothing was written to the repository',
    });
  }
}

export class FormatError extends EngineError {
  constructor(code: typeof ErrorCode.FORMAT_CORRUPT | typeof ErrorCode.FORMAT_UNSUPPORTED, message: string, opts: EngineErrorOptions = {}) {
    super(code, message, opts);
  }
}

/** Data that fails authentication or does not match its id. */
export class IntegrityError extends EngineError {
  constructor(message: string, opts: EngineErrorOptions = {}) {
    super(ErrorCode.INTEGRITY, message, {
      hint: 'the repository holds damaged data: `engine check --read-data` lists every damaged object; keep them for inspection',
      ...opts,
    });
  }
}

/**
 * Which integrity check failed, kept in `details.failure` so that it travels with the error as
 * data (across worker threads) and is never read back out of the message text.
 */
export const IntegrityFailure = { AUTHENTICATION: 'authentication' } as const;

/** An envelope whose AEAD tag does not verify: damaged, or not sealed with this key. */
export class AuthenticationFailedError extends IntegrityError {
  constructor(message: string, opts: EngineErrorOptions = {}) {
    super(message, { ...opts, details: { ...opts.details, failure: IntegrityFailure.AUTHENTICATION } });
  }
}

export function isAuthenticationFailure(e: unknown): e is IntegrityError {
  return isEngineError(e, ErrorCode.INTEGRITY) && e.details?.['failure'] === IntegrityFailure.AUTHENTICATION;
}

export class AbortedError extends EngineError {
  constructor(message = 'interrupted') {
    super(ErrorCode.ABORTED, message);
  }
}

export class InternalError extends EngineError {
  constructor(message: string, opts: EngineErrorOptions = {}) {
    super(ErrorCode.INTERNAL, message, { hint: 'this is a bug in engine; please report it with the command you ran', ...opts });
  }
}
