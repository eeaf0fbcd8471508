// What both vitest configs (the whole suite and the fast lane) share: the root, the time limits,
// the worker count, and the environment every test process gets.
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const baseTest = {
  root: fileURLToPath(new URL('..', import.meta.url)),
  testTimeout: 120_000,
  hookTimeout: 120_000,
  // 2-core machines: heavy integration tests share the CPU with the worker pools they start.
  maxWorkers: 2,
};

export const sharedEnv = {
  // The AWS SDK warns once per process that its releases after January 2027 need Node 22. The
  // engine processes the tests start answer it with a line of their own (src/session/node-support.ts,
  // checked in test/integration/s3.test.ts); tests that build S3 clients in this process would
  // print the SDK's multi-line warning into the test log, so it is disabled here as engine does.
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  // The engines the tests start keep their local index caches here, not in the user's ~/.cache.
  XDG_CACHE_HOME: join(tmpdir(), 'engine-test-cache'),
};
