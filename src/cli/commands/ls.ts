import type { BlobId } from '../../format/ids.js';
import { displayName } from '../../fs/names.js';
import type { TreeNode } from '../../format/tree.js';
import { IndexedRepository } from '../../repository/indexed-repository.js';
import type { GlobalOptions } from '../context.js';
import type { Output } from '../output.js';
import { memoryPlan, openIndex, openRepository } from '../session.js';
import { snapshotFilterFromFlags, type SnapshotFilterFlags } from '../snapshot-filter-flags.js';

export async function lsCommand(ref: string, flags: GlobalOptions & SnapshotFilterFlags & { memBudget?: string }, out: Output): Promise<number> {
  const session = await openRepository(flags, out);
  const { repo } = session;
  const index = await openIndex(session, memoryPlan(session, flags.memBudget, out), out);
  const { id, snapshot } = await repo.resolveSnapshot(ref, snapshotFilterFromFlags(flags));
  if (out.json) out.data({ message_type: 'snapshot', id, ...snapshot });
  else out.info(`snapshot ${id.slice(0, 8)} of ${snapshot.paths.join(', ')} at ${snapshot.time}`);
  // Names and targets printed escaped (displayName): a byte that is not UTF-8 as `\xff`, a newline
  // as `\n`, so every name prints apart and none forges a second line, in JSON as in text.
  await walk(new IndexedRepository(repo, index), snapshot.tree, '', (path, node) => {
    const shown = `/${displayName(path)}`;
    const target = node.linkTarget !== undefined ? displayName(node.linkTarget) : undefined;
    if (out.json) {
      out.data({ message_type: 'node', path: shown, type: node.type, mode: node.mode, size: node.size ?? null, mtime: new Date(Number(BigInt(node.mtimeNs) / 1_000_000n)).toISOString(), ...(target !== undefined ? { linkTarget: target } : {}), ...(node.xattrs ? { xattrs: node.xattrs.map((x) => displayName(x.name)) } : {}) });
    } else {
      out.result(`${shown}${node.type === 'dir' ? '/' : ''}${node.type === 'symlink' ? ` -> ${target}` : ''}`);
    }
  });
  return 0;
}

/** Depth-first, one chunk of each directory on the way down held at a time. */
async function walk(indexed: IndexedRepository, treeId: BlobId, prefix: string, visit: (path: string, node: TreeNode) => void): Promise<void> {
  for await (const node of indexed.treeEntries(treeId)) {
    const path = prefix ? `${prefix}/${node.name}` : node.name;
    visit(path, node);
    if (node.type === 'dir' && node.subtree) await walk(indexed, node.subtree, path, visit);
  }
}
