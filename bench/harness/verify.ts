// Did the restore give back the tree? File by file (size and SHA-256 of every file), or, more
// cheaply, by the number and total size of the files.

import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import path from 'node:path';
import { countTree, listFiles } from './tree.js';

export type Manifest = Map<string, { size: number; sha256: string }>;

export interface RestoreComparison {
  files: number;
  bytes: number;
  ok: boolean;
  mismatches: string[];
}

async function sha256File(p: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(p, { highWaterMark: 1024 * 1024 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Relative path -> size and SHA-256 of every regular file. */
export async function manifest(root: string): Promise<Manifest> {
  const m: Manifest = new Map();
  for (const f of await listFiles(root)) m.set(f.rel, { size: f.size, sha256: await sha256File(path.join(root, f.rel)) });
  return m;
}

/** The restored tree at `root` against the manifest of the original; at most 20 mismatches named. */
export async function compareRestore(expected: Manifest, root: string): Promise<RestoreComparison> {
  const mismatches: string[] = [];
  if (!existsSync(root)) return { files: 0, bytes: 0, ok: false, mismatches: [`restored tree not found at ${root}`] };
  const got = await manifest(root);
  let bytes = 0;
  for (const [rel, g] of got) {
    bytes += g.size;
    const e = expected.get(rel);
    if (!e) mismatches.push(`unexpected file ${rel}`);
    else if (e.size !== g.size || e.sha256 !== g.sha256) mismatches.push(`content differs: ${rel}`);
  }
  for (const rel of expected.keys()) if (!got.has(rel)) mismatches.push(`missing file ${rel}`);
  return { files: got.size, bytes, ok: mismatches.length === 0, mismatches: mismatches.slice(0, 20) };
}

/** The restored tree has as many files and bytes as the original (no contents read). */
export async function countMatches(root: string, expected: { files: number; bytes: number }): Promise<{ files: number; bytes: number; ok: boolean }> {
  const c = await countTree(root);
  return { ...c, ok: c.files === expected.files && c.bytes === expected.bytes };
}
