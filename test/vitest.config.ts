import { configDefaults, defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PRIMITIVE_FREE_TESTS } from './primitive-free.js';

const root = fileURLToPath(new URL('..', import.meta.url));

// Every test runs with native primitives where they load, and again with ENGINE_NATIVE=off
// forcing every fallback, except the files whose results cannot depend on the primitives
// (test/primitive-free.ts, checked against the import graph). Subprocess tests pass the variable
// on to the CLI they start.
const include = ['src/**/*.test.ts', 'workers/**/*.test.ts', 'native-bindings/**/*.test.ts', 'test/**/*.test.ts'];
// Kill tests (test/crash) exercise write ordering, which does not depend on the primitives: they
// run once, in the native project.
const crash = 'test/crash/**';

// The AWS SDK warns once per process that its releases after January 2027 need Node 22. The
// engine processes the tests start answer it with a line of their own (src/cli/node-support.ts,
// checked in test/integration/s3.test.ts); tests that build S3 clients in this process would
// print the SDK's multi-line warning into the test log, so it is disabled here as engine does.
const quiet = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
// The engines the tests start keep their local index caches here, not in the user's ~/.cache.
const cache = { XDG_CACHE_HOME: join(tmpdir(), 'engine-test-cache') };

export default defineConfig({
  test: {
    root,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // 2-core machines: heavy integration tests share the CPU with the worker pools they start.
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'native', include, env: { ENGINE_NATIVE: 'auto', ...quiet, ...cache } } },
      { extends: true, test: { name: 'fallback', include, exclude: [...configDefaults.exclude, crash, ...PRIMITIVE_FREE_TESTS], env: { ENGINE_NATIVE: 'off', ...quiet, ...cache } } },
    ],
  },
});
