// The index cache rebuilt by the command that rewrites the whole index (prune), from the index
// objects it writes, as it writes them: the next command opens the cache warm instead of reading
// every index object again (a cold open: 17-18 s at ten million blobs). The run is built beside
// the cache's runs and takes their place at `install`, under the cache's update lock, once the
// objects it covers are the repository's index (the old ones deleted). Anything that goes wrong
// here costs only that speed: the cache is set aside and the next open rebuilds it.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { IndexId } from '../format/ids.js';
import type { Repository } from '../repository/repository.js';
import { mkdirpSync } from '../fs/mkdirp.js';
import { basename, clearFolder, manifestPath, MANIFEST_VERSION, runName, writeManifest } from './cache-folder.js';
import type { MacFn } from './page-file.js';
import { RunBuilder } from './run-builder.js';
import { takeUpdateLock } from './update-lock.js';

export class CacheReplacement {
  private readonly dir: string;
  private readonly repo: Repository;
  private readonly path: string;
  private readonly mac: MacFn;
  private builder: RunBuilder | null;
  private installed = false;

  /** Starts a run in the cache folder `dir` (the one DiskIndex.open is given), sorting within `sortMemBytes`. */
  constructor(repo: Repository, dir: string, tmpDir: string, sortMemBytes: number) {
    this.repo = repo;
    this.dir = dir;
    mkdirpSync(join(dir, 'tmp'));
    this.path = join(dir, runName());
    this.mac = (data) => repo.indexCacheMac(data);
    this.builder = new RunBuilder({ path: this.path, tmpDir, mac: this.mac, sortMemBytes });
  }

  /** An index object as stored (its decrypted payload). */
  add(indexId: IndexId, plain: Uint8Array): void {
    this.builder?.addIndexObject(indexId, plain);
  }

  /**
   * Writes the run and makes it the cache's only one. Index objects stored since that it does
   * not cover (a repack's own) are read by the next open, incrementally.
   */
  async install(signal?: AbortSignal): Promise<void> {
    const builder = this.builder;
    if (!builder) return;
    this.builder = null;
    const repoId = Buffer.from(this.repo.config.id, 'hex');
    try {
      builder.finish(repoId);
    } catch (err) {
      builder.abandon();
      rmSync(this.path, { force: true });
      throw err;
    }
    const release = await takeUpdateLock(this.dir, signal);
    try {
      writeManifest(this.dir, { version: MANIFEST_VERSION, repoId: this.repo.config.id, runs: [basename(this.path)] }, this.mac);
      this.installed = true;
      clearFolder(this.dir, [basename(this.path)]);
    } catch (err) {
      rmSync(manifestPath(this.dir), { force: true });
      throw err;
    } finally {
      release();
    }
  }

  /** Gives up, unless installed: the run is removed (the cache as it was is rebuilt by the next open, which finds its objects gone). */
  abandon(): void {
    if (this.installed) return;
    this.builder?.abandon();
    this.builder = null;
    rmSync(this.path, { force: true });
  }
}
