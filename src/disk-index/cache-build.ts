// Fills the cache: reads index objects from the repository into a new run, and merges small runs into larger ones.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { IndexId } from '../format/ids.js';
import { mapLimit } from '../util/concurrency.js';
import { noteDropped } from '../util/gc.js';
import type { Repository } from '../repository/repository.js';
import { withIndexObjectRepairHint } from '../repository/index-repair-hint.js';
import { runName } from './cache-folder.js';
import { IndexRun } from './index-run.js';
import type { PageCache } from './page-cache.js';
import type { MacFn } from './page-file.js';
import { mergeRuns, RunBuilder } from './run-builder.js';

/** A run is merged into the one before it once it holds a quarter of that one's entries. */
const MERGE_RATIO = 4;
const MAX_RUNS = 6;

/** What reading index objects into a run is told (a part of DiskIndexOptions). */
export interface BuildRunOptions {
  /** Index objects downloaded at once while building (each held whole, sealed and decrypted). */
  readsInFlight: number;
  /** Bytes of index objects held at once while building (sealed and decrypted). */
  readBytes: number;
  signal?: AbortSignal;
  /** Told of what opening does that takes time (for --verbose). */
  onProgress?: (message: string) => void;
}

/** What reading index objects does with each: how much of the memory it holds, how to load it, what to do with it. */
export interface IndexObjectReader<T> {
  /** The object's stored size (it is held about twice that: sealed and decrypted). */
  sizeOf(object: T): number;
  /** Its plaintext, or null to leave it out. */
  load(object: T): Promise<Uint8Array | null>;
  /** Called in listing order, once every object of its batch is loaded. */
  add(object: T, plain: Uint8Array): void;
  /** What progress notes call the index being read ("index cache"). */
  what: string;
}

/**
 * Reads index objects in listing order, a batch at a time: at most readsInFlight objects, and at
 * most readBytes of them, loaded at once and then added in listing order (the first entry of a
 * blob is the one every reader picks).
 */
export async function readIndexObjects<T>(objects: readonly T[], reader: IndexObjectReader<T>, opts: BuildRunOptions): Promise<void> {
  let lastNote = performance.now();
  for (let i = 0; i < objects.length; ) {
    opts.signal?.throwIfAborted();
    let bytes = 0;
    let end = i;
    while (end < objects.length && end - i < opts.readsInFlight && (end === i || bytes + 2 * reader.sizeOf(objects[end]!) <= opts.readBytes)) {
      bytes += 2 * reader.sizeOf(objects[end]!);
      end++;
    }
    const part = objects.slice(i, end);
    i = end;
    const plains = await mapLimit(part, part.length, (o) => reader.load(o));
    plains.forEach((plain, k) => {
      if (plain) reader.add(part[k]!, plain);
    });
    // Each object read is garbage now: outside the V8 heap, collected late unless told.
    noteDropped(bytes);
    if (performance.now() - lastNote > 5000) {
      opts.onProgress?.(`${reader.what}: ${i} of ${objects.length} index objects read`);
      lastNote = performance.now();
    }
  }
}

/** Reads the index objects in listing order, a few at a time, into one new run. */
export async function buildRun(repo: Repository, ids: readonly IndexId[], sizes: ReadonlyMap<IndexId, number>, place: { path: string; tmpDir: string; mac: MacFn; sortMemBytes: number }, repoId: Uint8Array, opts: BuildRunOptions, superseded: ReadonlySet<string>): Promise<{ supersedes: string[] }> {
  const builder = new RunBuilder(place);
  try {
    await readIndexObjects(
      ids,
      {
        sizeOf: (id) => sizes.get(id) ?? 0,
        load: (id) => repo.loadIndexPlain(id),
        add: (id, plain) => {
          try {
            builder.addIndexObject(id, plain);
          } catch (err) {
            throw withIndexObjectRepairHint(err, id);
          }
        },
        what: 'index cache',
      },
      opts,
    );
    return builder.finish(repoId, superseded);
  } catch (err) {
    builder.abandon();
    rmSync(place.path, { force: true });
    throw err;
  }
}

/** Merges the newest runs while a run holds at least a quarter of the one before it (or there are too many). */
export function compact(runs: IndexRun[], dir: string, mac: MacFn, cache: PageCache, repoId: Uint8Array): IndexRun[] {
  const out = [...runs];
  while (out.length > 1) {
    const a = out[out.length - 2]!;
    const b = out[out.length - 1]!;
    if (out.length <= MAX_RUNS && b.blobCount * MERGE_RATIO < a.blobCount) break;
    const path = join(dir, runName());
    mergeRuns([a, b], { path, mac }, repoId);
    const merged = IndexRun.open(path, mac, cache, repoId);
    a.close();
    b.close();
    out.splice(out.length - 2, 2, merged);
  }
  return out;
}
