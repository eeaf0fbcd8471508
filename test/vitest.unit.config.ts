// The fast lane, `npm run test:unit`: unit and property tests in this process and real worker
// threads, no engine subprocess, no S3 server, no kill tests. Minutes matter while working; the
// whole suite (`npm test`, test/vitest.config.ts) still runs before a change lands.
import { configDefaults, defineConfig } from 'vitest/config';
import { PRIMITIVE_FREE_TESTS } from './primitive-free.js';
import { baseTest, sharedEnv } from './vitest.shared.js';

const include = ['src/**/*.test.ts', 'workers/**/*.test.ts', 'native-bindings/**/*.test.ts', 'test/format-vectors.test.ts', 'test/backend/memory.test.ts', 'test/backend/local.test.ts', 'test/primitive-free.test.ts'];
// These start an engine or a benchmark process (built files under dist/): the whole suite runs them.
const subprocess = ['src/benchmark/gate.test.ts', 'src/benchmark/pipeline.test.ts'];

export default defineConfig({
  test: {
    ...baseTest,
    projects: [
      { extends: true, test: { name: 'unit', include, exclude: [...configDefaults.exclude, ...subprocess], env: { ENGINE_NATIVE: 'auto', ...sharedEnv } } },
      {
        extends: true,
        test: { name: 'unit-fallback', include, exclude: [...configDefaults.exclude, ...subprocess, ...PRIMITIVE_FREE_TESTS], env: { ENGINE_NATIVE: 'off', ...sharedEnv } },
      },
    ],
  },
});
