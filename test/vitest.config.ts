import { configDefaults, defineConfig } from 'vitest/config';
import { PRIMITIVE_FREE_TESTS } from './primitive-free.js';
import { baseTest, sharedEnv } from './vitest.shared.js';

// Every test runs with native primitives where they load, and again with ENGINE_NATIVE=off
// forcing every fallback, except the files whose results cannot depend on the primitives
// (test/primitive-free.ts, checked against the import graph). Subprocess tests pass the variable
// on to the CLI they start.
const include = ['src/**/*.test.ts', 'workers/**/*.test.ts', 'native-bindings/**/*.test.ts', 'test/**/*.test.ts'];
// Kill tests (test/crash) exercise write ordering, which does not depend on the primitives: they
// run once, in the native project.
const crash = 'test/crash/**';

export default defineConfig({
  test: {
    ...baseTest,
    projects: [
      { extends: true, test: { name: 'native', include, env: { ENGINE_NATIVE: 'auto', ...sharedEnv } } },
      { extends: true, test: { name: 'fallback', include, exclude: [...configDefaults.exclude, crash, ...PRIMITIVE_FREE_TESTS], env: { ENGINE_NATIVE: 'off', ...sharedEnv } } },
    ],
  },
});
