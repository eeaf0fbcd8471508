// Makes the native addons unresolvable, as on a platform they have no build for or an install
// that skipped them: `node --import=<this file>` (through NODE_OPTIONS, so the launcher's node and
// the engine it starts get it). Their import then fails exactly as for a missing package, with
// ERR_MODULE_NOT_FOUND. Module hooks do not reach worker threads, which is fine: workers load only
// the implementations the main thread chose (loadChosenPrimitives), never an addon it rejected.
import { register } from 'node:module';

const HIDDEN = ['sodium-native', 'zstd-napi', '@napi-rs/blake-hash'];

const hooks = `
const HIDDEN = ${JSON.stringify(HIDDEN)};
export async function resolve(specifier, context, next) {
  if (HIDDEN.some((p) => specifier === p || specifier.startsWith(p + '/'))) {
    const err = new Error("Cannot find package '" + specifier + "' (hidden by test/support/no-addons-hook.mjs)");
    err.code = 'ERR_MODULE_NOT_FOUND';
    throw err;
  }
  return next(specifier, context);
}
`;
register(`data:text/javascript,${encodeURIComponent(hooks)}`);
