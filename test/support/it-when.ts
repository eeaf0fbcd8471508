// Tests parameterized by implementation (the libc calls, or the fallback) where some cases apply to
// one of them only: a case that does not apply to this parameterization is not defined at all,
// rather than defined and skipped, since the other parameterization runs its own cases.
import { it } from 'vitest';

export function itWhen(applies: boolean): typeof it {
  return applies ? it : ((() => undefined) as unknown as typeof it);
}
