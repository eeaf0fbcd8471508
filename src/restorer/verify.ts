// restore --verify (restic's flag): once the restore is done, every regular file it restored is
// read back from the target and checked against the snapshot: its size, and each of its blobs'
// ids (keyed BLAKE3 of the bytes read, as at backup). What the disk gives back is what is
// checked, not what was handed to it: a write lost or garbled below the restore (a full or
// failing disk, a broken driver, another writer) shows here. Files the restore kept as they were
// (--overwrite) are not checked: they were never the snapshot's.
import type { PathSet } from './path-set.js';
import fs, { constants as C } from 'node:fs';
import type { BlobId } from '../format/ids.js';
import { DirTree } from '../fs/dir-handle.js';
import type { IndexedRepository } from '../repository/indexed-repository.js';
import type { IncludeFilter } from './includes.js';
import { joinRel } from './rel-paths.js';

export interface VerifyResult {
  files: number;
  bytes: number;
  /** Files that did not read back as in the snapshot, with what differed (paths relative to the target). */
  bad: { path: string; message: string }[];
}

export async function verifyRestored(indexed: IndexedRepository, root: BlobId, target: string, filter: IncludeFilter, skipped: PathSet, signal?: AbortSignal): Promise<VerifyResult> {
  const result: VerifyResult = { files: 0, bytes: 0, bad: [] };
  // One buffer, as large as the largest blob met (the chunker's largest chunk at most).
  let buf = new Uint8Array(1 << 20);
  // Files are opened through their folders' handles, as the restore made them: no component is
  // followed if it was swapped for a link since, and O_NONBLOCK keeps a FIFO planted in a file's
  // place from blocking the open (it is then not a regular file, and said so).
  const tree = DirTree.open(target);
  const walk = async (tree: BlobId, rel: string): Promise<void> => {
    for await (const node of indexed.treeEntries(tree)) {
      signal?.throwIfAborted();
      const r = joinRel(rel, node.name);
      const scope = filter.scope(r);
      if (scope === 'no') continue;
      if (node.type === 'dir') {
        if (node.subtree) await walk(node.subtree, r);
        continue;
      }
      if (scope === 'partial' || node.type !== 'file' || skipped.has(r)) continue;
      const problem = checkFile(rel, node.name, node.size ?? 0, node.content ?? []);
      result.files++;
      result.bytes += node.size ?? 0;
      if (problem) result.bad.push({ path: r, message: problem });
    }
  };
  const checkFile = (dir: string, name: string, size: number, content: readonly BlobId[]): string | null => {
    let fd: number;
    try {
      fd = tree.withEntry(dir, name, (_dirFd, at) => fs.openSync(at, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK));
    } catch (err) {
      return `cannot be read back (${(err as NodeJS.ErrnoException).code ?? String(err)})`;
    }
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) return 'is not a regular file';
      if (st.size !== size) return `is ${st.size} bytes, the snapshot's ${size}`;
      let offset = 0;
      for (const [i, id] of content.entries()) {
        const length = indexed.index.lookup(id)?.rawLength;
        // A blob the index does not know was reported by the restore already (the file is damaged).
        if (length === undefined) return `its blob ${i} (${id.slice(0, 12)}) is not in the index`;
        if (buf.length < length) buf = new Uint8Array(length);
        const view = buf.subarray(0, length);
        let got = 0;
        while (got < length) {
          const bytesRead = fs.readSync(fd, view, got, length - got, offset + got);
          if (bytesRead === 0) break;
          got += bytesRead;
        }
        if (got !== length || indexed.repo.blobIdOf(view) !== id) return `differs from the snapshot at bytes ${offset}-${offset + length - 1} (blob ${i})`;
        offset += length;
      }
      return offset === size ? null : `its blobs hold ${offset} bytes, the snapshot says ${size}`;
    } catch (err) {
      return `cannot be read back (${(err as NodeJS.ErrnoException).code ?? String(err)})`;
    } finally {
      fs.closeSync(fd);
    }
  };
  try {
    await walk(root, '');
  } finally {
    tree.close();
  }
  return result;
}
