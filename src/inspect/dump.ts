// What `engine dump` writes (restic cmd/restic/cmd_dump.go, internal/dump, read at a80be14): a
// file's content, blob after blob, or a folder as a tar stream of everything below it. Content is
// read a blob at a time with one blob read ahead, trees a chunk at a time: memory holds at most two
// blobs and one chunk per level of the walk, whatever the size of the file or folder.
import { IntegrityError, UsageError } from '../errors/engine-error.js';
import type { BlobId } from '../format/ids.js';
import type { TreeNode } from '../format/tree.js';
import { displayName, encodeName } from '../fs/names.js';
import type { TreeLoader } from './diff.js';
import { padding, TAR_END, tarHeader } from './tar.js';

/** Hands bytes on (to standard output or a file); resolves when more may be written. */
export type ByteSink = (chunk: Uint8Array) => Promise<void>;

export interface DumpSource {
  readonly load: TreeLoader;
  /** A data blob's verified plaintext. */
  loadData(id: BlobId): Promise<Uint8Array>;
  /** A data blob's plaintext length as indexed, or undefined when the index does not have it. */
  rawLength(id: BlobId): number | undefined;
}

/** What a path in a snapshot names: the root (for "/"), or one node. */
export type Located = { kind: 'root' } | { kind: 'node'; node: TreeNode; path: string };

/**
 * The node at `path` (restic splits it after path.Clean; "/" is the whole snapshot). A component
 * that is missing, or a file where a folder is needed, is a usage error naming the path.
 */
export async function locate(load: TreeLoader, root: BlobId, path: string): Promise<Located> {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.length === 0) return { kind: 'root' };
  let tree: BlobId = root;
  let at = '';
  for (let i = 0; i < parts.length; i++) {
    const name = parts[i]!;
    at = `${at}/${name}`;
    let found: TreeNode | undefined;
    for await (const n of load(tree)) {
      if (n.name === name) {
        found = n;
        break;
      }
    }
    if (!found) throw new UsageError(`path "${displayName(at)}" not found in snapshot`, { hint: 'list the snapshot with `engine ls SNAPSHOT` to see its paths' });
    if (i === parts.length - 1) return { kind: 'node', node: found, path: at };
    if (found.type !== 'dir' || !found.subtree) throw new UsageError(`"${displayName(at)}" should be a dir, but is a ${found.type}`);
    tree = found.subtree;
  }
  throw new Error('unreachable');
}

/**
 * restic's `SNAPSHOT:SUBFOLDER` (dump, ls): the snapshot reference and the folder inside it whose
 * contents stand for the snapshot's root ('' when none is given).
 */
export function splitSubfolder(ref: string): { ref: string; subfolder: string } {
  const colon = ref.indexOf(':');
  return colon < 0 ? { ref, subfolder: '' } : { ref: ref.slice(0, colon), subfolder: ref.slice(colon + 1) };
}

/** The tree of `subfolder` in the snapshot whose root tree is `root` (the root itself for '' or '/'). */
export async function subfolderTree(load: TreeLoader, root: BlobId, subfolder: string): Promise<BlobId> {
  const found = await locate(load, root, subfolder);
  if (found.kind === 'root') return root;
  if (found.node.type !== 'dir' || !found.node.subtree) throw new UsageError(`"${displayName(found.path)}" is a ${found.node.type}, not a folder`, { hint: 'SNAPSHOT:PATH names a folder of the snapshot' });
  return found.node.subtree;
}

/** A file's content in order, one blob read ahead of the one being written. */
export async function writeContent(src: DumpSource, node: TreeNode, sink: ByteSink): Promise<number> {
  const ids = node.content ?? [];
  let written = 0;
  let next: Promise<Uint8Array> | undefined = ids.length > 0 ? src.loadData(ids[0]!) : undefined;
  for (let i = 0; i < ids.length; i++) {
    const blob = await next!;
    next = i + 1 < ids.length ? src.loadData(ids[i + 1]!) : undefined;
    // A read ahead that fails while this one is written is reported when its turn comes.
    next?.catch(() => undefined);
    await sink(blob);
    written += blob.length;
  }
  return written;
}

/**
 * A tar archive of the entries of `tree`, named `base` + their path below it (restic: the full path
 * in the snapshot, without the leading '/'; the folder itself is not an entry). Files, folders and
 * symlinks, as restic: other entries (fifos, devices, sockets) are left out. Returns the count of
 * entries written.
 */
export async function writeTar(src: DumpSource, tree: BlobId, base: string, sink: ByteSink): Promise<number> {
  const count = await writeTarEntries(src, tree, base, sink);
  await sink(TAR_END);
  return count;
}

async function writeTarEntries(src: DumpSource, tree: BlobId, base: string, sink: ByteSink): Promise<number> {
  let count = 0;
  for await (const node of src.load(tree)) {
    const path = base === '' ? node.name : `${base}/${node.name}`;
    if (node.type !== 'file' && node.type !== 'dir' && node.type !== 'symlink') continue;
    const size = node.type === 'file' ? declaredSize(src, node, path) : 0;
    await sink(
      tarHeader({
        name: encodeName(node.type === 'dir' ? `${path}/` : path),
        type: node.type,
        mode: node.mode,
        uid: node.uid,
        gid: node.gid,
        size,
        mtimeNs: BigInt(node.mtimeNs),
        ...(node.type === 'symlink' ? { linkname: encodeName(node.linkTarget ?? '') } : {}),
        ...(node.xattrs ? { xattrs: node.xattrs.map((x) => ({ name: encodeName(x.name), value: Buffer.from(x.value, 'base64') })) } : {}),
      }),
    );
    count++;
    if (node.type === 'file') {
      const n = await writeContent(src, node, sink);
      if (n !== size) throw new IntegrityError(`${displayName(path)}: its blobs hold ${n} bytes, not the ${size} its blob lengths promised (damaged repository)`);
      const pad = padding(size);
      if (pad > 0) await sink(Buffer.alloc(pad));
    } else if (node.type === 'dir' && node.subtree) {
      count += await writeTarEntries(src, node.subtree, path, sink);
    }
  }
  return count;
}

/**
 * The size a tar header announces must be exactly what follows: the sum of the blobs' indexed
 * lengths, checked against the node's size before anything of the file is written, so a damaged or
 * forged tree cannot make the archive misaligned.
 */
function declaredSize(src: DumpSource, node: TreeNode, path: string): number {
  let sum = 0;
  for (const id of node.content ?? []) {
    const n = src.rawLength(id);
    if (n === undefined) throw new IntegrityError(`${displayName(path)}: data blob ${id} is referenced but not in the index (missing data)`, { details: { blobId: id } });
    sum += n;
  }
  if (sum !== (node.size ?? 0)) throw new IntegrityError(`${displayName(path)}: its blobs hold ${sum} bytes, its entry says ${node.size ?? 0} (damaged repository)`);
  return sum;
}
