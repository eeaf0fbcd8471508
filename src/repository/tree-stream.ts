// Directories one entry at a time (FORMAT.md "Trees"): a reader that yields a directory's entries
// in name order, holding one chunk of them at a time, and a writer that takes entries in name order
// and saves each chunk as it fills. With them, nothing that walks or writes trees holds a whole
// directory: a directory of a million files costs a chunk (~1 MiB) to read or write.
import { FormatError, ErrorCode } from '../errors/engine-error.js';
import { type BlobId, BlobType } from '../format/ids.js';
import { compareNames, decodeTreeBlob, encodeChunkList, encodeNode, encodeNodeList, type TreeBlob, type TreeNode, TREE_WRAPPER_BYTES } from '../format/tree.js';
import { displayName, isWellFormed } from '../fs/names.js';
import { isChunkBoundaryName, TREE_CHUNK_MAX_BYTES, TREE_CHUNK_MAX_ENTRIES, TREE_CHUNK_MIN_ENTRIES } from '../format/tree-chunks.js';
import type { BlobIndex } from './blob-index.js';

/**
 * What reading and writing trees needs of a repository. An interface rather than Repository
 * itself, so that repository.ts can use this module without the two importing each other.
 */
export interface TreeRepository {
  loadBlob(index: BlobIndex, type: BlobType, id: BlobId): Promise<Uint8Array>;
  upgradeConfig(): Promise<boolean>;
}

/** Loads and decodes one tree blob, whichever kind it is. */
export async function loadTreeBlob(repo: TreeRepository, index: BlobIndex, id: BlobId): Promise<TreeBlob> {
  return decodeTreeBlob(await repo.loadBlob(index, BlobType.TREE, id), `tree ${id}`);
}

export interface TreeReadOptions {
  /** Told of each chunk blob before it is read (prune counts them as used). */
  onChunk?: (id: BlobId) => void;
  /** Wraps each blob read (the restorer bounds its tree reads with it). */
  run?: <T>(load: () => Promise<T>) => Promise<T>;
}

/**
 * The entries of a directory in name order, one chunk loaded at a time (the next is fetched while
 * this one is consumed). A chunk that holds a chunk list, is empty, or whose entries do not follow
 * the previous chunk's in order is damage: it is thrown, naming the chunk.
 */
export async function* treeEntries(repo: TreeRepository, index: BlobIndex, treeId: BlobId, opts: TreeReadOptions = {}): AsyncGenerator<TreeNode> {
  const run = opts.run ?? (<T>(load: () => Promise<T>) => load());
  const top = await run(() => loadTreeBlob(repo, index, treeId));
  if (top.kind === 'nodes') {
    yield* top.nodes;
    return;
  }
  const chunks = top.chunks;
  const fetch = (i: number): Promise<TreeNode[]> => {
    const id = chunks[i]!;
    opts.onChunk?.(id);
    const p = run(() => loadChunk(repo, index, treeId, id));
    // Awaited below; a consumer that stops early must not leave an unhandled rejection behind.
    p.catch(() => undefined);
    return p;
  };
  let last: string | null = null;
  let next = fetch(0);
  for (let i = 0; i < chunks.length; i++) {
    const nodes = await next;
    if (i + 1 < chunks.length) next = fetch(i + 1);
    if (last !== null && compareNames(last, nodes[0]!.name) >= 0) {
      throw new FormatError(ErrorCode.FORMAT_CORRUPT, `tree ${treeId}: chunk ${chunks[i]} starts with "${displayName(nodes[0]!.name)}", not after "${displayName(last)}" that ends the chunk before it`, { details: { blobId: chunks[i] } });
    }
    last = nodes[nodes.length - 1]!.name;
    yield* nodes;
  }
}

/** One chunk of a chunked directory: a non-empty list of nodes (a nested chunk list is damage). */
export async function loadChunk(repo: TreeRepository, index: BlobIndex, listId: BlobId, id: BlobId): Promise<TreeNode[]> {
  const blob = await loadTreeBlob(repo, index, id);
  if (blob.kind !== 'nodes') throw new FormatError(ErrorCode.FORMAT_CORRUPT, `tree ${listId}: its chunk ${id} is itself a chunk list (nested chunk lists are invalid)`, { details: { blobId: id } });
  if (blob.nodes.length === 0) throw new FormatError(ErrorCode.FORMAT_CORRUPT, `tree ${listId}: its chunk ${id} is empty`, { details: { blobId: id } });
  return blob.nodes;
}

/** All of a directory's entries at once: only for trees known to be small (a snapshot's root, tests). */
export async function collectTree(repo: TreeRepository, index: BlobIndex, treeId: BlobId): Promise<TreeNode[]> {
  const nodes: TreeNode[] = [];
  for await (const n of treeEntries(repo, index, treeId)) nodes.push(n);
  return nodes;
}

/** Where a writer's blobs go. */
export interface TreeStore {
  /** Stores a tree blob (or only computes its id, in a dry run) and returns the id. */
  save(bytes: Uint8Array): Promise<BlobId>;
  /**
   * Runs before the first tree blob that needs a newer format is saved, and raises the config's
   * version: the first chunk of a chunked directory (3), and the first entry whose name or link
   * target is not UTF-8 (4), which an older engine would restore with U+FFFD, or that has `xattrs`
   * or `atimeNs` (4 too), which an older engine would drop without a word (FORMAT.md "Versions").
   */
  beforeChunked(): Promise<void>;
}

/** A TreeStore's `beforeChunked` for a repository: raises its config to the current version, once per process. */
export function chunkedTreeGuard(repo: TreeRepository): () => Promise<void> {
  let done: Promise<unknown> | null = null;
  return async () => {
    done ??= repo.upgradeConfig();
    await done;
  };
}

/**
 * Takes a directory's entries in name order and returns its tree id. Up to the single-blob limit
 * (4096 entries and 1 MiB) it buffers them, and stores them exactly as versions 1 and 2 did; past
 * it, it cuts the entries into chunks by the rule of FORMAT.md "Trees", saves each chunk as it is
 * complete, and stores the list of chunks last. It holds at most one chunk of encoded entries.
 */
export class TreeWriter {
  private readonly store: TreeStore;
  private encoded: string[] = [];
  private cut: boolean[] = [];
  /** Encoded size of `encoded` as one tree blob. */
  private bytes = TREE_WRAPPER_BYTES;
  private chunks: BlobId[] | null = null;
  private last: string | null = null;
  private finished = false;
  private byteNames = false;

  constructor(store: TreeStore) {
    this.store = store;
  }

  get entries(): number {
    return this.encoded.length;
  }

  async add(node: TreeNode): Promise<void> {
    if (this.finished) throw new Error('TreeWriter: add after finish');
    if (this.last !== null && compareNames(this.last, node.name) >= 0) {
      throw new FormatError(ErrorCode.FORMAT_CORRUPT, `tree: entries "${displayName(this.last)}" and "${displayName(node.name)}" are out of order or repeated`);
    }
    this.last = node.name;
    if (!this.byteNames && (!isWellFormed(node.name) || (node.linkTarget !== undefined && !isWellFormed(node.linkTarget)) || (node.xattrs !== undefined && node.xattrs.length > 0) || node.atimeNs !== undefined)) {
      // Before this entry can reach any saved blob: version 4 (names as bytes, xattrs, atimes).
      this.byteNames = true;
      await this.store.beforeChunked();
    }
    const enc = encodeNode(node);
    const cut = isChunkBoundaryName(node.name);
    if (this.chunks === null) {
      const after = this.bytes + Buffer.byteLength(enc, 'utf8') + (this.encoded.length > 0 ? 1 : 0);
      if (this.encoded.length === 0 || (this.encoded.length < TREE_CHUNK_MAX_ENTRIES && after <= TREE_CHUNK_MAX_BYTES)) {
        this.push(enc, cut, after);
        return;
      }
      // Past the single-blob limit: the entries so far are cut by the chunk rule from the start.
      await this.store.beforeChunked();
      this.chunks = [];
      const held = this.encoded;
      const heldCuts = this.cut;
      this.reset();
      for (let i = 0; i < held.length; i++) await this.chunked(held[i]!, heldCuts[i]!);
    }
    await this.chunked(enc, cut);
  }

  /** Saves what is left; returns the directory's tree id (its only blob, or its chunk list). */
  async finish(): Promise<BlobId> {
    if (this.finished) throw new Error('TreeWriter: finish twice');
    this.finished = true;
    if (this.chunks === null) return this.store.save(encodeNodeList(this.encoded));
    if (this.encoded.length > 0) await this.close();
    if (this.chunks.length < 2) throw new Error(`TreeWriter: a chunked directory made ${this.chunks.length} chunk(s)`);
    return this.store.save(encodeChunkList(this.chunks));
  }

  /** The chunk rule (FORMAT.md "Trees"), one entry at a time. */
  private async chunked(enc: string, cut: boolean): Promise<void> {
    const len = Buffer.byteLength(enc, 'utf8');
    if (this.encoded.length > 0 && this.bytes + 1 + len > TREE_CHUNK_MAX_BYTES) await this.close();
    this.push(enc, cut, this.bytes + len + (this.encoded.length > 0 ? 1 : 0));
    const n = this.encoded.length;
    if (n >= TREE_CHUNK_MAX_ENTRIES || (n >= TREE_CHUNK_MIN_ENTRIES && cut)) await this.close();
  }

  private push(enc: string, cut: boolean, bytes: number): void {
    this.encoded.push(enc);
    this.cut.push(cut);
    this.bytes = bytes;
  }

  private reset(): void {
    this.encoded = [];
    this.cut = [];
    this.bytes = TREE_WRAPPER_BYTES;
  }

  private async close(): Promise<void> {
    const bytes = encodeNodeList(this.encoded);
    this.reset();
    this.chunks!.push(await this.store.save(bytes));
  }
}
