// A digest of every file and symlink under a folder, by relative path, to compare a restore with
// its source (the demo and the scale benchmark). Files are hashed streaming, so a large tree costs
// no more memory than a small one.
import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import { join, relative } from 'node:path';

export async function digestTree(dir: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (d: string): Promise<void> => {
    for (const e of await fsp.readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isSymbolicLink()) out.set(relative(dir, p), `link:${await fsp.readlink(p)}`);
      else if (e.isFile()) {
        const h = createHash('sha256');
        for await (const chunk of createReadStream(p)) h.update(chunk as Buffer);
        out.set(relative(dir, p), h.digest('hex'));
      }
    }
  };
  await walk(dir);
  return out;
}
