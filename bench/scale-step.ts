// One measured step of the scale benchmark that needs the library rather than the CLI: open the
// off-heap index of a repository (warm or cold, in this fresh process) and measure lookups of
// synthetic blobs that are there (a sample the synthesis recorded, each checked against where it
// was stored) and of ids that are not. Prints one JSON line.
//
// The peak resident set is reset (Linux: `5` to /proc/self/clear_refs) once the repository's key
// is derived, so `indexPeakRssBytes` shows what the index costs on top of the process, without the
// Argon2id memory of the opening; `peakRssBytes` is the peak of the whole process.
//
// As the CLI does (src/cli/early-key.ts), the key is derived before the index and repository
// modules are loaded, so the Argon2id memory sits on the small process a command has then: those
// modules are imported afterwards.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { argon2idForEarlyKey } from '../native-bindings/argon2id/index.js';
import { LocalBackend } from '../src/backend/local/local-backend.js';
import type { Backend } from '../src/backend/types.js';
import type { BlobId } from '../src/format/ids.js';
import { prepareWrapKey } from '../src/repository/key-store.js';
import { currentRssBytes, peakRssBytes } from '../src/util/memory.js';
import { readSampleRecord, SAMPLE_RECORD_BYTES } from './scale-ids.js';

export interface IndexStepSpec {
  repo: string;
  indexDir: string;
  password: string;
  budgetBytes: number;
  /** The synthesis's record of sampled blobs and where they are (bench/scale-ids.ts), or null (the empty repository). */
  sampleFile: string | null;
  lookups: number;
}

export interface IndexStepResult {
  kind: string;
  openSeconds: number;
  indexObjectsRead: number;
  /** Index objects the backend was asked for while the index opened (0 for a warm open). */
  indexObjectsLoaded: number;
  entries: number;
  residentBytes: number;
  presentLookupsPerSecond: number;
  absentLookupsPerSecond: number;
  pageReadsPerPresentLookup: number;
  /** Resident set just after the index opened (what a command starts its work with). */
  rssAfterOpenBytes: number;
  /** Peak from after the key derivation to the index being open (before any lookup). */
  openPeakRssBytes: number;
  /** Peak from after the key derivation to the end of the lookups (the page cache filled). */
  indexPeakRssBytes: number;
  peakRssBytes: number;
}

/** Counts the index objects loaded through it. */
function counting(inner: Backend, counter: { loads: number }): Backend {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop === 'load') {
        return (name: string, ...rest: unknown[]) => {
          if (name.startsWith('index/')) counter.loads++;
          return (target.load as (...a: unknown[]) => unknown).call(target, name, ...rest);
        };
      }
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}

async function main(spec: IndexStepSpec): Promise<IndexStepResult> {
  const policy = process.env.ENGINE_NATIVE === 'off' ? 'fallback' : 'auto';
  const password = new TextEncoder().encode(spec.password);
  await prepareWrapKey(await argon2idForEarlyKey(policy), new LocalBackend(spec.repo), () => Promise.resolve(password), spec.budgetBytes);
  const [{ loadPrimitives }, { DiskIndex }, { indexAllowance }, { Repository }, { enableExplicitGc }] = await Promise.all([
    import('../native-bindings/index.js'),
    import('../src/disk-index/disk-index.js'),
    import('../src/memory/planner.js'),
    import('../src/repository/repository.js'),
    import('../src/util/gc.js'),
  ]);
  const { primitives } = await loadPrimitives(policy);
  const counter = { loads: 0 };
  const repo = await Repository.open(counting(new LocalBackend(spec.repo), counter), primitives, password);
  // The sample is read before the peak is reset: its ids are the benchmark's, not the index's
  // (random records of the same size at N = 0, not looked up there, so that the baseline holds the same).
  const records = spec.sampleFile ? readFileSync(spec.sampleFile) : randomBytes(spec.lookups * SAMPLE_RECORD_BYTES);
  const sample = Array.from({ length: records.length / SAMPLE_RECORD_BYTES }, (_, k) => readSampleRecord(records, k));
  const absentIds = Array.from({ length: spec.lookups }, () => randomBytes(32).toString('hex') as BlobId);
  const peakOfOpening = peakRssBytes();
  try {
    writeFileSync('/proc/self/clear_refs', '5');
  } catch {
    // not Linux: indexPeakRssBytes then includes the opening
  }
  // As the CLI does once it has a plan (src/session/memory-plan.ts): dead buffers collected promptly.
  enableExplicitGc(8 * 1024 * 1024);
  const a = indexAllowance(spec.budgetBytes);
  const index = await DiskIndex.open(repo, { dir: spec.indexDir, pageCacheBytes: a.pageCacheBytes, sortMemBytes: a.sortMemBytes, readBytes: a.readBytes, readsInFlight: repo.metadataReads });
  const loadsAtOpen = counter.loads;
  const openPeak = peakRssBytes();
  const rssAfterOpen = currentRssBytes();
  if (process.env.SCALE_DEBUG) process.stderr.write(`${JSON.stringify(process.memoryUsage())}\n`);
  // Present: a random sample of the synthetic blobs, each checked against where it must be.
  let present = 0;
  let t = performance.now();
  const pagesBefore = index.pageReads;
  for (const want of spec.sampleFile ? sample : []) {
    const loc = index.lookup(want.id);
    if (!loc || loc.packId !== want.packId || loc.offset !== want.offset || loc.length !== want.length || loc.rawLength !== want.rawLength) {
      throw new Error(`synthetic blob ${want.id} not found where it was stored (pack ${want.packId}, offset ${want.offset})`);
    }
    present++;
  }
  const presentSecs = (performance.now() - t) / 1000;
  const pageReads = index.pageReads - pagesBefore;
  t = performance.now();
  let absent = 0;
  for (const id of absentIds) {
    if (index.has(id)) throw new Error('a random id was found in the index');
    absent++;
  }
  const absentSecs = (performance.now() - t) / 1000;
  const st = index.stats;
  const result: IndexStepResult = {
    kind: st.kind,
    openSeconds: st.openSeconds,
    indexObjectsRead: st.indexObjectsRead,
    indexObjectsLoaded: loadsAtOpen,
    entries: index.blobCount,
    residentBytes: index.residentBytes,
    presentLookupsPerSecond: present > 0 ? present / presentSecs : 0,
    absentLookupsPerSecond: absent / absentSecs,
    pageReadsPerPresentLookup: present > 0 ? pageReads / present : 0,
    openPeakRssBytes: openPeak,
    rssAfterOpenBytes: rssAfterOpen,
    indexPeakRssBytes: peakRssBytes(),
    peakRssBytes: Math.max(peakOfOpening, peakRssBytes()),
  };
  index.close();
  return result;
}

// Run as `node scale-step.js SPEC-JSON`; prints the result as one JSON line.
const arg = process.argv[2];
if (arg) {
  main(JSON.parse(arg) as IndexStepSpec).then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
    },
    (err: unknown) => {
      process.stderr.write(`scale step failed: ${err instanceof Error ? err.stack : String(err)}\n`);
      process.exit(1);
    },
  );
}
