// What engine knows about its own package: the npm name it is published under (the command it
// installs is `engine`; the npm package named "engine" is someone else's) and its version,
// read from the package.json above this module (src/ in a clone run by tsx, dist/src/ built or
// installed), so `engine --version` and `engine bench` never disagree with what was installed.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const PACKAGE_NAME = 'engine-backup';

const here = dirname(fileURLToPath(import.meta.url));

/** The version in the nearest package.json named PACKAGE_NAME above this module, or null. */
export function engineVersion(): string | null {
  return ownPackage()?.version ?? null;
}

/** The folder of that package.json (where bin/engine is), or null. */
export function packageRoot(): string | null {
  return ownPackage()?.root ?? null;
}

function ownPackage(): { root: string; version: string } | null {
  for (let dir = here; ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === PACKAGE_NAME && typeof pkg.version === 'string') return { root: dir, version: pkg.version };
    } catch {
      // no package.json here, or not JSON: look further up
    }
    if (dirname(dir) === dir) return null;
  }
}
