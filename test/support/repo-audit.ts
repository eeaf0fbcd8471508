// A check-style audit of a repository for tests (until `engine check` exists): every blob that a
// snapshot reaches is in the index and its pack exists with the size the index implies, and how
// many blobs are stored more than once (an interrupted run that stored again what it had stored).
import { loadPrimitives } from '../../native-bindings/index.js';
import type { Backend } from '../../src/backend/types.js';
import type { BlobId, PackId } from '../../src/format/ids.js';
import { decodeIndex } from '../../src/format/index-file.js';
import { DATA_PREFIX, idOfName, indexName } from '../../src/repository/layout.js';
import { Repository } from '../../src/repository/repository.js';
import { TEST_PASSWORD } from './cli.js';

export interface Audit {
  snapshots: number;
  /** Blobs reached from snapshots (trees and data), counted once each. */
  reachableBlobs: number;
  /** What is wrong: referenced blobs missing from the index, or whose pack is missing or too short. */
  problems: string[];
  /** Index entries beyond the first for the same blob (the same data stored twice). */
  duplicateBlobs: number;
  /** Packs stored but named by no index object. */
  unindexedPacks: number;
}

export async function auditRepository(backend: Backend, password = TEST_PASSWORD): Promise<Audit> {
  const { primitives } = await loadPrimitives('auto');
  const repo = await Repository.open(backend, primitives, new TextEncoder().encode(password));
  const index = await repo.loadIndex();
  const packs = new Map<string, number>();
  for await (const o of backend.list(DATA_PREFIX)) packs.set(idOfName(o.name), o.size);

  const problems: string[] = [];
  const seen = new Set<string>();
  const need = (id: BlobId, what: string): boolean => {
    if (seen.has(id)) return true;
    seen.add(id);
    const loc = index.lookup(id);
    if (!loc) {
      problems.push(`${what}: blob ${id} is not in the index`);
      return false;
    }
    const size = packs.get(loc.packId);
    if (size === undefined) problems.push(`${what}: pack ${loc.packId} holding blob ${id} is missing`);
    else if (loc.offset + loc.length > size) problems.push(`${what}: pack ${loc.packId} is shorter than blob ${id} needs`);
    return true;
  };
  const walk = async (treeId: BlobId, path: string): Promise<void> => {
    if (seen.has(treeId)) return;
    if (!need(treeId, `tree of ${path || '/'}`)) return;
    const tree = await repo.loadTree(index, treeId);
    for (const n of tree.nodes) {
      const p = `${path}/${n.name}`;
      if (n.subtree) await walk(n.subtree, p);
      for (const c of n.content ?? []) need(c, p);
    }
  };
  const snaps = await repo.listSnapshots();
  for (const s of snaps) await walk(s.snapshot.tree, '');

  // Duplicates: the same blob in more than one pack, across every index object.
  let entries = 0;
  const indexedPacks = new Set<PackId>();
  const distinct = new Set<string>();
  for (const id of index.indexIds) {
    const file = decodeIndex(await repo.loadUnpacked(indexName(id)), id);
    for (const p of file.packs) {
      if (indexedPacks.has(p.packId)) continue;
      indexedPacks.add(p.packId);
      for (const b of p.blobs) {
        entries++;
        distinct.add(b.id);
      }
    }
  }
  let unindexedPacks = 0;
  for (const id of packs.keys()) if (!indexedPacks.has(id as PackId)) unindexedPacks++;
  return { snapshots: snaps.length, reachableBlobs: seen.size, problems, duplicateBlobs: entries - distinct.size, unindexedPacks };
}
