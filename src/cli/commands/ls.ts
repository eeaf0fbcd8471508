import type { BlobId } from '../../format/ids.js';
import { displayName } from '../../fs/names.js';
import type { TreeNode } from '../../format/tree.js';
import { UsageError } from '../../errors/engine-error.js';
import { cleanPattern } from '../../filter/pattern.js';
import { splitSubfolder, subfolderTree } from '../../inspect/dump.js';
import { IndexedRepository } from '../../repository/indexed-repository.js';
import type { GlobalOptions } from '../context.js';
import { longLine, nodeJson } from '../node-format.js';
import { snapshotJson } from '../json/snapshot-json.js';
import { stdoutSink, untilReaderLeaves } from '../sink.js';
import type { Output } from '../output.js';
import { memoryPlan, openIndex, openRepository } from '../session.js';
import { snapshotFilterFromFlags, type SnapshotFilterFlags } from '../snapshot-filter-flags.js';

export interface LsFlags extends GlobalOptions, SnapshotFilterFlags {
  memBudget?: string;
  long?: boolean;
  humanReadable?: boolean;
  recursive?: boolean;
}

export async function lsCommand(ref: string, dirs: string[], flags: LsFlags, out: Output): Promise<number> {
  // restic: "All path filters must be absolute, starting with a forward slash '/'".
  for (const d of dirs) if (!d.startsWith('/')) throw new UsageError(`"${d}": folders to list must be absolute paths in the snapshot, starting with '/'`, { hint: 'as `engine ls SNAPSHOT` prints them, e.g. /home/me/docs' });
  const filter = dirs.map((d) => cleanPattern(d));
  const session = await openRepository(flags, out);
  const { repo } = session;
  const index = await openIndex(session, memoryPlan(session, flags.memBudget, out), out);
  const { ref: snapshotRef, subfolder } = splitSubfolder(ref);
  const { id, snapshot } = await repo.resolveSnapshot(snapshotRef, snapshotFilterFromFlags(flags));
  const indexed = new IndexedRepository(repo, index);
  // SNAPSHOT:SUBFOLDER (restic): that folder's contents are listed as the root.
  const root = await subfolderTree((t: BlobId) => indexed.treeEntries(t), snapshot.tree, subfolder);
  // --json: restic's lines (docs/json/ls.schema.json), the snapshot first, then one per node.
  if (out.json) out.data({ ...snapshotJson(id, snapshot), message_type: 'snapshot', struct_type: 'snapshot' });
  else out.info(`snapshot ${id.slice(0, 8)} of ${snapshot.paths.join(', ')} at ${snapshot.time}${filter.length > 0 ? ` filtered by ${filter.join(', ')}` : ''}`);
  // restic's ls: with folders given, an entry is printed when it is one of them or below one, and
  // the walk enters a folder on the way to one of them, or one of them, or (with --recursive)
  // anything below them: without it, a folder's own entries are listed, not theirs.
  const within = (path: string): boolean => filter.length === 0 || filter.some((d) => hasPathPrefix(d, path));
  const approaching = (path: string): boolean => filter.length === 0 || filter.some((d) => hasPathPrefix(path, d));
  // Names and targets printed escaped (displayName): a byte that is not UTF-8 as `\xff`, a newline
  // as `\n`, so every name prints apart and none forges a second line, in JSON as in text.
  // Each line waits for the reader (a listing of millions of entries into a slow pipe would
  // otherwise pile up in memory), and a reader that goes away (`| head`) ends the walk, exit 0.
  const sink = stdoutSink();
  const visit = async (path: string, node: TreeNode): Promise<boolean> => {
    const printed = within(path);
    if (printed) await sink.write(`${line(path, node, flags, out.json)}\n`);
    if (printed && flags.recursive) return true;
    return approaching(path);
  };
  await untilReaderLeaves(() => walk(indexed, root, '', visit));
  return 0;
}

function line(path: string, node: TreeNode, flags: LsFlags, json: boolean): string {
  if (json) {
    // restic's ls node (name, type, path, uid, gid, size for files, mode as Go's os.FileMode,
    // permissions, times, inode), with find --json's node fields (device_id, links, linktarget)
    // and engine's own `xattrs` (the names of the extended attributes).
    return JSON.stringify({
      name: displayName(node.name),
      ...nodeJson(path, node),
      ...(node.xattrs ? { xattrs: node.xattrs.map((x) => displayName(x.name)) } : {}),
      message_type: 'node',
      struct_type: 'node',
    });
  }
  if (flags.long) return longLine(path, node, flags.humanReadable === true);
  const shown = displayName(path);
  const target = node.linkTarget !== undefined ? displayName(node.linkTarget) : undefined;
  return `${shown}${node.type === 'dir' ? '/' : ''}${node.type === 'symlink' ? ` -> ${target}` : ''}`;
}

/** restic fs.HasPathPrefix: `base` is `p` or one of its ancestors, compared by components (both clean). */
function hasPathPrefix(base: string, p: string): boolean {
  if (base === '/') return true;
  return p === base || p.startsWith(`${base}/`);
}

/** Depth-first, one chunk of each directory on the way down held at a time; `visit` says whether to enter a folder. */
async function walk(indexed: IndexedRepository, treeId: BlobId, prefix: string, visit: (path: string, node: TreeNode) => Promise<boolean>): Promise<void> {
  for await (const node of indexed.treeEntries(treeId)) {
    const path = `${prefix}/${node.name}`;
    const enter = await visit(path, node);
    if (enter && node.type === 'dir' && node.subtree) await walk(indexed, node.subtree, path, visit);
  }
}
