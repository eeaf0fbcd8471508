#!/usr/bin/env node
// Thin launcher: the CLI is compiled to dist/ by `npm run build` (run by `prepare` on `npm ci`).
import('../dist/src/cli/main.js').catch((err) => {
  process.stderr.write(`engine: cannot start (${err && err.message}). Run \`npm run build\` first.\n`);
  process.exit(1);
});
