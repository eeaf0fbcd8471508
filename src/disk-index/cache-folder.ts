// The cache folder on disk: its checked manifest naming the runs, opening and checking those runs, and clearing what is not kept.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IndexId } from '../format/ids.js';
import { CacheDamagedError } from './errors.js';
import { IndexRun } from './index-run.js';
import type { PageCache } from './page-cache.js';
import type { MacFn } from './page-file.js';
import { LOCK } from './update-lock.js';

const MANIFEST = 'manifest.json';
export const MANIFEST_VERSION = 1;

export interface Manifest {
  version: number;
  repoId: string;
  runs: string[];
}

/** The manifest's path in the cache folder (removed to set a damaged cache aside). */
export function manifestPath(dir: string): string {
  return join(dir, MANIFEST);
}

export function runName(): string {
  return `run-${Date.now().toString(36)}-${randomBytes(6).toString('hex')}.eic`;
}

export function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

export function closeAll(runs: IndexRun[] | null): void {
  for (const r of runs ?? []) r.close();
}

/** Whether the runs cover the listed index objects exactly, or at least nothing that is gone. */
export function covers(runs: IndexRun[], listed: readonly IndexId[], how: 'exactly' | 'subset'): boolean {
  const present = new Set(listed);
  let n = 0;
  for (const r of runs) {
    for (const id of r.coveredIds) {
      if (!present.has(id)) return false;
      n++;
    }
  }
  return how === 'subset' || n === present.size;
}

/** Whether no run holds the entries of an index object that some run's objects supersede. */
export function consistent(runs: IndexRun[]): boolean {
  const superseded = new Set<string>(runs.flatMap((r) => r.supersedes));
  if (superseded.size === 0) return true;
  return runs.every((r) => r.indexIds.every((id) => !superseded.has(id)));
}

/** The runs the manifest names, opened and checked; null when there is no usable cache. */
export function tryOpenRuns(dir: string, mac: MacFn, cache: PageCache, repoId: Uint8Array): IndexRun[] | null {
  let manifest: Manifest;
  try {
    manifest = readManifest(dir, mac);
  } catch {
    return null;
  }
  if (manifest.version !== MANIFEST_VERSION || manifest.repoId !== Buffer.from(repoId).toString('hex')) return null;
  const runs: IndexRun[] = [];
  try {
    for (const name of manifest.runs) runs.push(IndexRun.open(join(dir, name), mac, cache, repoId));
    return runs;
  } catch (err) {
    closeAll(runs);
    // A damaged or missing run: the cache is rebuilt. Anything else (a full disk) is an error.
    if (err instanceof CacheDamagedError || (err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function readManifest(dir: string, mac: MacFn): Manifest {
  const text = readFileSync(join(dir, MANIFEST), 'utf8');
  const nl = text.indexOf('\n');
  const body = text.slice(nl + 1);
  if (Buffer.from(mac(Buffer.from(body))).toString('hex') !== text.slice(0, nl)) throw new CacheDamagedError(join(dir, MANIFEST), 'the manifest fails its check');
  return JSON.parse(body) as Manifest;
}

export function writeManifest(dir: string, m: Manifest, mac: MacFn): void {
  const body = JSON.stringify(m);
  const tmp = join(dir, `${MANIFEST}.tmp-${process.pid}`);
  writeFileSync(tmp, `${Buffer.from(mac(Buffer.from(body))).toString('hex')}\n${body}`, { mode: 0o600 });
  const fd = openSync(tmp, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, MANIFEST));
}

/** Removes everything but the manifest, the lock and the runs to keep (only under the update lock). */
export function clearFolder(dir: string, keep: readonly string[]): void {
  const keepSet = new Set([MANIFEST, LOCK, 'tmp', ...keep]);
  for (const name of readdirSync(dir)) if (!keepSet.has(name)) rmSync(join(dir, name), { force: true, recursive: true });
  for (const name of readdirSync(join(dir, 'tmp'))) rmSync(join(dir, 'tmp', name), { force: true, recursive: true });
}
