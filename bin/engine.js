#!/usr/bin/env node
// The CLI entry that bin/engine runs (with the memory settings it adds). In an installed package
// dist/ is shipped (built by `prepack`); in a clone it is built by `npm run build`, which the
// demo, the tests and the benchmarks run first.
import('../dist/src/cli/main.js').catch((err) => {
  const missing = err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/src/cli/main.js');
  process.stderr.write(missing ? 'engine: not built: dist/src/cli/main.js is missing. In a clone, run `npm run build` first.\n' : `engine: cannot start (${err && err.message})\n`);
  process.exit(1);
});
