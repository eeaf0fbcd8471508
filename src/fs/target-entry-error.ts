// The error for one entry of the restore target that is left as it is, and the code of a failed fs call.
import { EngineError, ErrorCode, type EngineErrorOptions } from '../errors/engine-error.js';

/**
 * An entry of the target that is left as it is: something stands in the way that must not or
 * cannot be removed (a mount point, a folder that keeps changing). Per entry: the rest goes on.
 */
export class TargetEntryError extends EngineError {
  readonly path: string;
  constructor(path: string, message: string, opts: EngineErrorOptions = {}) {
    super(ErrorCode.PARTIAL, message, opts);
    this.path = path;
  }
}

export function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}
