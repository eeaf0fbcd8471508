// Where check, prune and repair keep their scratch: under the cache folder engine uses for the
// repository's cache (the same base folder), or the system's temporary folder with --no-cache.
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cacheBaseDir, cacheDirFor } from '../session/open-backend.js';
import { scratchFor } from './scratch.js';

const MiB = 1024 * 1024;

describe('scratchFor', () => {
  const xdg = process.env.XDG_CACHE_HOME;
  afterEach(() => {
    if (xdg === undefined) delete process.env.XDG_CACHE_HOME;
    else process.env.XDG_CACHE_HOME = xdg;
  });

  it('is scratch/ in the cache base folder, the one the repositories cache folders are in', () => {
    process.env.XDG_CACHE_HOME = '/xdg';
    expect(scratchFor({}, 256 * MiB).tmpDir).toBe(join('/xdg', 'engine', 'scratch'));
    expect(scratchFor({ cacheDir: '/given' }, 256 * MiB).tmpDir).toBe(join('/given', 'scratch'));
    expect(cacheBaseDir()).toBe(join('/xdg', 'engine'));
    expect(join(cacheDirFor('/repo', '/given'), '..')).toBe(cacheBaseDir('/given'));
  });

  it('is the system temporary folder with --no-cache', () => {
    expect(scratchFor({ cache: false, cacheDir: '/given' }, 256 * MiB).tmpDir).toBe(tmpdir());
  });
});
