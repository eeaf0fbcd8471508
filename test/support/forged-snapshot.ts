// A snapshot whose root tree the test writes itself: what an older engine wrote (another layout),
// or what a hostile repository holds (a file whose entry lies about its size). The tree blob is
// stored through the real uploader (a pack and an index object) and the snapshot saved as a copy
// of `base` with `tree` replaced and `change` applied.
import { loadPrimitives } from '../../native-bindings/index.js';
import { LocalBackend } from '../../src/backend/local/local-backend.js';
import { BlobType, type SnapshotId } from '../../src/format/ids.js';
import type { Snapshot } from '../../src/format/snapshot.js';
import { encodeTree, type TreeNode } from '../../src/format/tree.js';
import { Repository } from '../../src/repository/repository.js';
import { TEST_PASSWORD } from './cli.js';

export async function saveForgedSnapshot(repoPath: string, native: 'auto' | 'off', base: string, nodes: TreeNode[], change: (base: Snapshot) => Partial<Snapshot> = () => ({})): Promise<SnapshotId> {
  const { primitives } = await loadPrimitives(native === 'off' ? 'fallback' : 'auto');
  const r = await Repository.open(new LocalBackend(repoPath), primitives, new TextEncoder().encode(TEST_PASSWORD));
  const index = await r.loadIndex();
  const tree = encodeTree({ nodes });
  const treeId = r.blobIdOf(tree);
  await r.withBlobUploader(index, { packTargetBytes: 1 << 20, writesInFlight: 1, indexEveryPacks: 1, sealedBytes: 8 << 20 }, async (up) => {
    // Already stored (the same tree forged twice): nothing to add.
    if (!up.claim(treeId)) return;
    const sealed = r.sealBlob(tree);
    await up.sealedBudget.acquire(sealed.length);
    await up.add(BlobType.TREE, treeId, sealed, tree.length, sealed.length);
  });
  const original = await r.loadSnapshot(base as SnapshotId);
  return r.saveSnapshot({ ...original, tree: treeId, ...change(original) });
}
