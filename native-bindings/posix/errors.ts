// Failures of the libc calls, shaped like Node's own fs errors (`code` is the errno name, as in
// ENOENT or ENOTSUP) so callers handle both alike.

export class PosixError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  readonly path: string | undefined;

  constructor(code: string, errno: number, syscall: string, path?: string) {
    super(`${code}: ${syscall} failed${path === undefined ? '' : ` on ${path}`}`);
    this.name = 'PosixError';
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
    this.path = path;
  }
}

/** Thrown by the fallback for a call it cannot make: the caller checks `caps` first. */
export function unsupported(syscall: string): PosixError {
  return new PosixError('ENOSYS', 0, syscall);
}

/** True for the errors that mean "this filesystem (or kernel) does not do that". */
export function isNotSupported(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS';
}
