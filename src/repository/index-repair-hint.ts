// The hint a damaged index object gets: the index can be rebuilt from the packs, nothing else is lost.
import { EngineError, isDamageError } from '../errors/engine-error.js';
import type { IndexId } from '../format/ids.js';
import { INDEX_PREFIX, indexName } from './layout.js';

/** What to do about a damaged index object: rebuild the index from the packs (nothing else is lost). */
export const INDEX_REPAIR_HINT = 'an index object is damaged: `engine repair index` rebuilds the index from the packs themselves (then `engine check` to confirm)';

/** A damage error about an index object gets the hint that fixes it, not the generic one. */
export function withIndexRepairHint(err: unknown, name: string): unknown {
  if (!name.startsWith(INDEX_PREFIX) || !isDamageError(err)) return err;
  const details = { ...(err.details ?? {}), object: name };
  return new EngineError(err.code, err.message, { hint: INDEX_REPAIR_HINT, details, cause: err });
}

/** withIndexRepairHint for index object `id`, for callers that decode its plaintext themselves. */
export function withIndexObjectRepairHint(err: unknown, id: IndexId): unknown {
  return withIndexRepairHint(err, indexName(id));
}
