// `npm run demo`: the main job end to end on this machine, with no outside service. Generates a
// sample tree, creates a local repository, backs the tree up twice (the second run reads nothing),
// verifies every blob (`engine check --read-data`), restores it and compares every byte with the source.
import { spawnSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeMixedCorpus } from '../src/benchmark/corpus.js';
import { digestTree } from './digest-tree.js';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const work = join(root, '.demo');
const source = join(work, 'source');
const repo = join(work, 'repo');
const target = join(work, 'restored');
const env = { ...process.env, ENGINE_PASSWORD: process.env.ENGINE_PASSWORD ?? 'demo password' };

function engine(args: string[]): Record<string, unknown> | null {
  const t0 = performance.now();
  // bin/engine is the launcher users run (it sets the allocator and GC up before Node starts).
  const r = spawnSync(join(root, 'bin/engine'), args, { env, encoding: 'utf8' });
  const secs = ((performance.now() - t0) / 1000).toFixed(1);
  process.stdout.write(`$ engine ${args.join(' ')}   (${secs} s, exit ${r.status})\n`);
  if (r.status !== 0) {
    process.stderr.write(r.stderr);
    throw new Error(`engine ${args[0]} failed with exit ${r.status}`);
  }
  const last = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(last) as Record<string, unknown>;
  } catch {
    process.stdout.write(r.stdout);
    return null;
  }
}

async function main(): Promise<void> {
  await fsp.rm(work, { recursive: true, force: true });
  await fsp.mkdir(source, { recursive: true });
  process.stdout.write(`generating a 200 MiB sample tree in ${source}\n`);
  await makeMixedCorpus(source, { seed: 42, totalBytes: 200 * 1024 * 1024 });
  engine(['init', '--repo', repo]);
  const first = engine(['backup', '--repo', repo, '--json', '--mem-budget', '256M', source]);
  process.stdout.write(`  first backup: read ${first?.files_read} files, stored ${first?.data_added_packed} bytes, peak RSS ${first?.peak_rss_bytes} bytes\n`);
  const second = engine(['backup', '--repo', repo, '--json', source]);
  process.stdout.write(`  second backup: read ${second?.filesRead} files (${second?.filesUnmodified} unmodified)\n`);
  engine(['snapshots', '--repo', repo]);
  const check = engine(['check', '--repo', repo, '--read-data', '--json']);
  process.stdout.write(`  check: ${check?.num_errors} error(s), read ${check?.packs_read} packs, ${check?.blobs_read} blobs\n`);
  engine(['restore', 'latest', '--repo', repo, '--target', target, '--json']);
  const a = await digestTree(source);
  const b = await digestTree(join(target, source));
  const diffs = [...a].filter(([k, v]) => b.get(k) !== v).map(([k]) => k);
  if (diffs.length > 0 || a.size !== b.size) throw new Error(`restore differs from the source: ${diffs.slice(0, 5).join(', ')}`);
  process.stdout.write(`restored ${b.size} entries identical to the source. Repository: ${repo}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
