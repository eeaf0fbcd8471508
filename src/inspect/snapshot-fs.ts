// A read-only folder view of a repository's snapshots, as restic's `mount` lays it out:
//   /ids/<short id>/...             each snapshot by id
//   /snapshots/<time>/...           each snapshot by its time (UTC, 2026-12-07T13:45:00Z), and latest
//   /hosts/<host>/<time>/...        by host
//   /tags/<tag>/<time>/...          by tag
// Below a snapshot, its trees. Lookups walk the trees one component at a time, streamed (a folder
// of a million entries is never held), and a file's bytes are read blob by blob for the range
// asked. Names read from the repository are hostile: nothing here touches the local filesystem.
import { IntegrityError } from '../errors/engine-error.js';
import { BlobType, type BlobId, type SnapshotId } from '../format/ids.js';
import type { Snapshot } from '../format/snapshot.js';
import type { TreeNode } from '../format/tree.js';
import type { IndexedRepository } from '../repository/indexed-repository.js';

export interface FsDir {
  readonly kind: 'dir';
  readonly name: string;
  readonly mtime: Date;
  /** The entries, streamed in name order. */
  entries(): AsyncIterable<FsEntry>;
}

export interface FsFile {
  readonly kind: 'file';
  readonly name: string;
  readonly mtime: Date;
  readonly size: number;
  /** Bytes [start, end) of the file, blob by blob. */
  read(start: number, end: number): AsyncIterable<Uint8Array>;
}

/** A symlink, FIFO or device: listed, not readable (a WebDAV client has no such thing). */
export interface FsOther {
  readonly kind: 'other';
  readonly name: string;
  readonly mtime: Date;
}

export type FsEntry = FsDir | FsFile | FsOther;

interface Listed {
  id: SnapshotId;
  snapshot: Snapshot;
}

/** Refreshes the list of snapshots at most this often. */
const LIST_TTL_MS = 30_000;

export class SnapshotFs {
  private readonly indexed: IndexedRepository;
  private listed: Listed[] = [];
  private listedAt = -Infinity;

  constructor(indexed: IndexedRepository) {
    this.indexed = indexed;
  }

  /** The entry at `path` ('/'-separated, decoded), or null when there is none. */
  async lookup(path: string): Promise<FsEntry | null> {
    const parts = path.split('/').filter((p) => p !== '' && p !== '.');
    if (parts.includes('..')) return null;
    let entry: FsEntry = await this.root();
    for (const part of parts) {
      if (entry.kind !== 'dir') return null;
      let found: FsEntry | null = null;
      for await (const e of entry.entries()) {
        if (e.name === part) {
          found = e;
          break;
        }
      }
      if (!found) return null;
      entry = found;
    }
    return entry;
  }

  private async snapshots(): Promise<Listed[]> {
    if (Date.now() - this.listedAt > LIST_TTL_MS) {
      this.listed = await this.indexed.repo.listSnapshots();
      this.listedAt = Date.now();
    }
    return this.listed;
  }

  private async root(): Promise<FsDir> {
    const all = await this.snapshots();
    const newest = all.length > 0 ? new Date(all[all.length - 1]!.snapshot.time) : new Date(0);
    const virtual = (name: string, list: () => Promise<FsEntry[]>): FsDir => ({ kind: 'dir', name, mtime: newest, entries: () => iterate(list) });
    const byTime = (group: Listed[]): FsEntry[] => {
      const out = group.map((l) => this.snapshotDir(timeName(l.snapshot.time), l));
      if (group.length > 0) out.push(this.snapshotDir('latest', group[group.length - 1]!));
      return dedupeNames(out);
    };
    const groups = (key: (s: Snapshot) => string[]): FsEntry[] => {
      const by = new Map<string, Listed[]>();
      for (const l of all) for (const k of key(l.snapshot)) if (isSafeName(k)) by.set(k, [...(by.get(k) ?? []), l]);
      return [...by.keys()].sort().map((k) => virtual(k, async () => byTime(by.get(k)!)));
    };
    return virtual('', async () => [
      virtual('hosts', async () => groups((s) => [String(s.hostname)])),
      virtual('ids', async () => all.map((l) => this.snapshotDir(l.id.slice(0, 8), l))),
      virtual('snapshots', async () => byTime(all)),
      virtual('tags', async () => groups((s) => (Array.isArray(s.tags) ? s.tags.map(String) : []))),
    ]);
  }

  private snapshotDir(name: string, l: Listed): FsDir {
    return { kind: 'dir', name, mtime: new Date(l.snapshot.time), entries: () => this.treeDir(l.snapshot.tree) };
  }

  private async *treeDir(tree: BlobId): AsyncIterable<FsEntry> {
    for await (const node of this.indexed.treeEntries(tree)) yield this.entryOf(node);
  }

  private entryOf(node: TreeNode): FsEntry {
    const mtime = new Date(Number(BigInt(node.mtimeNs) / 1_000_000n));
    if (node.type === 'dir') {
      const subtree = node.subtree;
      return { kind: 'dir', name: node.name, mtime, entries: () => (subtree ? this.treeDir(subtree) : iterate(async () => [])) };
    }
    if (node.type === 'file') {
      const content = node.content ?? [];
      return { kind: 'file', name: node.name, mtime, size: node.size ?? 0, read: (start, end) => this.readFile(content, node.size ?? 0, start, end) };
    }
    return { kind: 'other', name: node.name, mtime };
  }

  private async *readFile(content: readonly BlobId[], size: number, start: number, end: number): AsyncIterable<Uint8Array> {
    let offset = 0;
    for (const id of content) {
      if (offset >= end) return;
      // The index knows each blob's length: blobs before the range are passed without a read.
      const length = this.indexed.index.lookup(id)?.rawLength;
      if (length !== undefined && offset + length <= start) {
        offset += length;
        continue;
      }
      const bytes = await this.indexed.loadBlob(BlobType.DATA, id);
      const from = Math.max(0, start - offset);
      const to = Math.min(bytes.length, end - offset);
      if (to > from) yield bytes.subarray(from, to);
      offset += bytes.length;
    }
    // The entry's size promised more than its blobs hold (a damaged or forged tree): the reader
    // must see a failed transfer, not a short file that looks whole.
    if (offset < end) throw new IntegrityError(`its blobs hold ${offset} bytes, its entry says ${size} (damaged repository)`);
  }
}

async function* iterate(list: () => Promise<FsEntry[]>): AsyncIterable<FsEntry> {
  yield* await list();
}

/** A snapshot's time as a folder name: to the second, UTC, with Z (no ':' trouble in URLs is expected of clients). */
function timeName(time: string): string {
  const d = new Date(time);
  return Number.isNaN(d.getTime()) ? 'invalid-time' : d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Two snapshots in the same second: the later ones get -1, -2... (restic does the same). */
function dedupeNames(entries: FsEntry[]): FsEntry[] {
  const seen = new Map<string, number>();
  return entries.map((e) => {
    const n = seen.get(e.name) ?? 0;
    seen.set(e.name, n + 1);
    return n === 0 ? e : { ...e, name: `${e.name}-${n}` };
  });
}

/** A host or tag from a snapshot is a folder name only if it can be one. */
function isSafeName(s: string): boolean {
  return s !== '' && s !== '.' && s !== '..' && !s.includes('/') && !s.includes('\0');
}
