// Snapshots of a local repository's object listing, to assert what a command wrote (or did not).
import { promises as fsp } from 'node:fs';
import { join, relative } from 'node:path';

export interface RepoFile {
  readonly name: string;
  readonly size: number;
  readonly mtimeMs: number;
}

export async function listRepo(root: string): Promise<Map<string, RepoFile>> {
  const out = new Map<string, RepoFile>();
  async function walk(dir: string): Promise<void> {
    for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else {
        const st = await fsp.stat(p);
        const name = relative(root, p);
        out.set(name, { name, size: st.size, mtimeMs: st.mtimeMs });
      }
    }
  }
  await walk(root);
  return out;
}

/** Names present in `after` but not in `before`, and names whose size or mtime changed. */
export function repoChanges(before: Map<string, RepoFile>, after: Map<string, RepoFile>): { added: string[]; changed: string[]; removed: string[] } {
  const added: string[] = [];
  const changed: string[] = [];
  const removed: string[] = [];
  for (const [k, v] of after) {
    const b = before.get(k);
    if (!b) added.push(k);
    else if (b.size !== v.size || b.mtimeMs !== v.mtimeMs) changed.push(k);
  }
  for (const k of before.keys()) if (!after.has(k)) removed.push(k);
  return { added, changed, removed };
}

/** The data packs, largest first (tree packs are small, so the first ones hold file data). */
export async function dataPacks(root: string): Promise<RepoFile[]> {
  return [...(await listRepo(root)).values()].filter((f) => f.name.startsWith('data/')).sort((a, b) => b.size - a.size);
}

/** Flips one bit of the byte at `at` of a stored file: damage a check must find. */
export async function flipByte(path: string, at: number): Promise<void> {
  const fh = await fsp.open(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    b[0] = b[0]! ^ 0x08;
    await fh.write(b, 0, 1, at);
  } finally {
    await fh.close();
  }
}
