// engine cat TYPE [ID]: restic's `cat` (cmd/restic/cmd_cat.go), for debugging: a repository object
// decrypted and printed. config, snapshot, index and key print JSON; blob and tree print the
// blob's plaintext bytes; pack prints the pack's decrypted header as JSON (restic prints the raw
// pack, which the storage already shows as it is). `masterkey` is not offered: it would print the
// key that decrypts everything. Every id is checked before anything is read, and what is read is
// authenticated and verified by the repository like any other read.
import { UsageError } from '../../errors/engine-error.js';
import { decodeKeyFile } from '../../format/key-file.js';
import { BlobType, blobTypeName, type BlobId, type IndexId, type PackId } from '../../format/ids.js';
import { splitSubfolder, subfolderTree } from '../../inspect/dump.js';
import { IndexedRepository } from '../../repository/indexed-repository.js';
import type { StoredKeyFile } from '../../repository/repository.js';
import type { GlobalOptions } from '../context.js';
import type { Output } from '../output.js';
import { memoryPlan, openIndex, openRepository } from '../session.js';
import { stdoutSink, untilReaderLeaves } from '../sink.js';

const TYPES = ['config', 'snapshot', 'index', 'key', 'blob', 'tree', 'pack'] as const;
type CatType = (typeof TYPES)[number];

const FULL_ID = /^[0-9a-f]{64}$/;

export async function catCommand(type: string, arg: string | undefined, flags: GlobalOptions & { memBudget?: string }, out: Output): Promise<number> {
  await untilReaderLeaves(() => cat(type, arg, flags, out));
  return 0;
}

async function cat(type: string, arg: string | undefined, flags: GlobalOptions & { memBudget?: string }, out: Output): Promise<void> {
  if (type === 'masterkey') {
    throw new UsageError('cat masterkey is not offered: it would print the key that decrypts the whole repository', { hint: 'back up the repository with its key files and password instead; `engine cat key ID` shows a key file (the master key in it is encrypted)' });
  }
  if (!(TYPES as readonly string[]).includes(type)) throw new UsageError(`invalid type "${type}"`, { hint: `give one of ${TYPES.join('|')}` });
  const t = type as CatType;
  if (t !== 'config' && (arg === undefined || arg === '')) throw new UsageError(`cat ${t} needs an id`, { hint: t === 'snapshot' ? 'give "latest" or a snapshot id (prefix)' : `give the ${t}'s id` });
  // Ids as restic takes them: full ids, but for snapshots (a prefix or "latest"), keys (a
  // unique prefix, as `engine key remove`) and trees (a tree id, or SNAPSHOT:PATH for a folder's).
  if ((t === 'index' || t === 'blob' || t === 'pack') && !FULL_ID.test(arg!)) throw new UsageError(`"${arg}" is not a valid ${t} id`, { hint: 'give the full id: 64 lowercase hex digits' });
  if (t === 'key' && !/^[0-9a-f]{4,64}$/.test(arg!)) throw new UsageError(`"${arg}" is not a valid ${t} id`, { hint: 'give the id or a unique prefix of at least 4 lowercase hex digits' });

  const session = await openRepository(flags, out);
  const { repo } = session;
  const sink = stdoutSink();
  const printJson = (v: unknown): Promise<void> => sink.write(`${JSON.stringify(v, null, 2)}\n`);

  switch (t) {
    case 'config':
      // K_id and K_gear of a version 5 config are keys: never printed (docs/FORMAT.md "Config").
      await printJson(repo.config.idKeys ? { ...repo.config, idKeys: 'present (K_id and K_gear shared with the repository copied from; not shown)' } : repo.config);
      return;
    case 'snapshot': {
      const { snapshot } = await repo.resolveSnapshot(arg!);
      await printJson(snapshot);
      return;
    }
    case 'key': {
      const matches: StoredKeyFile[] = [];
      for await (const k of repo.listKeyFiles()) if (k.id.startsWith(arg!)) matches.push(k);
      const key = unique(matches, arg!, 'key', '`engine key list`');
      // Decoded (so a malformed or planted file is refused) and printed field by field: the key
      // file's own JSON, whose `data` is the master key encrypted under the password's key.
      await printJson(decodeKeyFile(await repo.loadKeyFile(key), key.name));
      return;
    }
    case 'index': {
      const file = await repo.loadIndexObject(arg as IndexId);
      // Written a pack at a time: an index object may name hundreds of thousands of blobs.
      await sink.write(`{\n  "supersedes": ${JSON.stringify(file.supersedes)},\n  "packs": [`);
      let first = true;
      for (const p of file.packs) {
        const blobs = p.blobs.map((b) => ({ id: b.id, type: blobTypeName(b.type), offset: b.offset, length: b.length, uncompressed_length: b.rawLength }));
        await sink.write(`${first ? '' : ','}\n    ${JSON.stringify({ id: p.packId, blobs })}`);
        first = false;
      }
      await sink.write(`${first ? '' : '\n  '}]\n}\n`);
      return;
    }
    case 'pack': {
      let size: number | undefined;
      for await (const p of repo.packs.list()) {
        if (p.packId === arg) {
          size = p.size;
          break;
        }
      }
      if (size === undefined) throw new UsageError(`pack ${arg} is not in the repository`, { hint: 'find pack ids with `engine cat index ID` or `engine check`' });
      const header = await repo.packs.loadHeader(arg as PackId, size);
      await printJson(header.map((b) => ({ type: blobTypeName(b.type), id: b.id, offset: b.offset, length: b.length, uncompressed_length: b.rawLength })));
      return;
    }
    case 'blob':
    case 'tree': {
      const index = await openIndex(session, memoryPlan(session, flags.memBudget, out), out);
      const indexed = new IndexedRepository(repo, index);
      let id: BlobId;
      if (t === 'tree' && !FULL_ID.test(arg!)) {
        // restic: `cat tree SNAPSHOT[:PATH]`, the tree of the snapshot's root or of a folder in it.
        const { ref, subfolder } = splitSubfolder(arg!);
        const { snapshot } = await repo.resolveSnapshot(ref);
        id = await subfolderTree((tid: BlobId) => indexed.treeEntries(tid), snapshot.tree, subfolder);
      } else {
        id = arg as BlobId;
      }
      const loc = index.lookup(id);
      if (!loc) throw new UsageError(`${t === 'tree' ? 'tree' : 'blob'} ${id} is not in the index`, { hint: 'find ids with `engine find --blob/--tree` or `engine cat tree SNAPSHOT`' });
      if (t === 'tree' && loc.type !== BlobType.TREE) throw new UsageError(`${id} is a data blob, not a tree`, { hint: `engine cat blob ${id}` });
      await sink.write(await indexed.loadBlob(loc.type, id));
      return;
    }
  }
}

function unique<T extends { id: string }>(matches: T[], prefix: string, what: string, lister: string): T {
  if (matches.length === 0) throw new UsageError(`no ${what} matches "${prefix}"`, { hint: `list them with ${lister}` });
  if (matches.length > 1) throw new UsageError(`"${prefix}" matches ${matches.length} ${what}s`, { hint: 'give more digits of the id' });
  return matches[0]!;
}
