// The fast lane, `npm run test:unit`: unit and property tests in this process and real worker
// threads, no engine subprocess, no S3 server, no kill tests. Minutes matter while working; the
// whole suite (`npm test`, test/vitest.config.ts) still runs before a change lands.
import { configDefaults, defineConfig } from 'vitest/config';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PRIMITIVE_FREE_TESTS } from './primitive-free.js';

const root = fileURLToPath(new URL('..', import.meta.url));

const include = ['src/**/*.test.ts', 'workers/**/*.test.ts', 'native-bindings/**/*.test.ts', 'test/format-vectors.test.ts', 'test/backend/memory.test.ts', 'test/backend/local.test.ts', 'test/primitive-free.test.ts'];
// These start an engine or a benchmark process (built files under dist/): the whole suite runs them.
const subprocess = ['src/benchmark/gate.test.ts', 'src/benchmark/pipeline.test.ts'];
const quiet = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
const cache = { XDG_CACHE_HOME: join(tmpdir(), 'engine-test-cache') };

export default defineConfig({
  test: {
    root,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    maxWorkers: 2,
    projects: [
      { extends: true, test: { name: 'unit', include, exclude: [...configDefaults.exclude, ...subprocess], env: { ENGINE_NATIVE: 'auto', ...quiet, ...cache } } },
      {
        extends: true,
        test: { name: 'unit-fallback', include, exclude: [...configDefaults.exclude, ...subprocess, ...PRIMITIVE_FREE_TESTS], env: { ENGINE_NATIVE: 'off', ...quiet, ...cache } },
      },
    ],
  },
});
