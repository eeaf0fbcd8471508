// engine dump SNAPSHOT[:SUBFOLDER] PATH: restic's `dump` (cmd/restic/cmd_dump.go): a file's content to
// standard output (or --target FILE), or a folder ("/" for the whole snapshot) as a tar archive.
// Streamed: a blob at a time, with backpressure from the reader (src/cli/sink.ts).
import { EngineError, ErrorCode, UsageError } from '../../errors/engine-error.js';
import { BlobType, type BlobId } from '../../format/ids.js';
import { displayName } from '../../fs/names.js';
import { type DumpSource, locate, splitSubfolder, subfolderTree, writeContent, writeTar } from '../../inspect/dump.js';
import { TAR_END } from '../../inspect/tar.js';
import { IndexedRepository } from '../../repository/indexed-repository.js';
import type { GlobalOptions } from '../context.js';
import { snapshotFilterFromFlags, type SnapshotFilterFlags } from '../snapshot-filter-flags.js';
import type { Output } from '../output.js';
import { memoryPlan, openIndex, openRepository } from '../session.js';
import { fileSink, type Sink, stdoutSink, untilReaderLeaves } from '../sink.js';

export interface DumpFlags extends GlobalOptions, SnapshotFilterFlags {
  memBudget?: string;
  archive?: string;
  target?: string;
}

export async function dumpCommand(ref: string, path: string, flags: DumpFlags, out: Output, signal?: AbortSignal): Promise<number> {
  const archive = flags.archive ?? 'tar';
  if (archive === 'zip') {
    throw new UsageError('--archive zip is not available: engine writes tar archives only', { hint: 'use --archive tar (the default), or convert afterwards, e.g. with bsdtar: engine dump ... | bsdtar -cf out.zip --format zip @-' });
  }
  if (archive !== 'tar') throw new UsageError(`unknown archive format "${archive}"`, { hint: 'give --archive tar' });
  if (path === '') throw new UsageError('dump needs a path in the snapshot', { hint: 'give a file or folder as `engine ls` shows it, or "/" for the whole snapshot' });

  const session = await openRepository(flags, out, { exclusive: false, command: 'dump', ...(signal ? { signal } : {}) });
  const { repo } = session;
  const index = await openIndex(session, memoryPlan(session, flags.memBudget, out), out, signal);
  const indexed = new IndexedRepository(repo, index);
  const { ref: snapshotRef, subfolder } = splitSubfolder(ref);
  // As restic's dump: --host, --tag and --path (and ENGINE_HOST) choose what "latest" is.
  const { snapshot } = await repo.resolveSnapshot(snapshotRef, snapshotFilterFromFlags(flags));
  const src: DumpSource = {
    load: (id: BlobId) => indexed.treeEntries(id),
    loadData: (id) => indexed.loadBlob(BlobType.DATA, id),
    rawLength: (id) => index.lookup(id)?.rawLength,
  };
  // SNAPSHOT:SUBFOLDER (restic): that folder's contents are the root, and the archive's names start there.
  const root = await subfolderTree(src.load, snapshot.tree, subfolder);
  const found = await locate(src.load, root, path);
  const isArchive = found.kind === 'root' || found.node.type === 'dir';
  if (found.kind === 'node' && found.node.type !== 'file' && found.node.type !== 'dir') {
    throw new UsageError(`"${displayName(found.path)}" should be a file, but is a ${found.node.type}`, { hint: 'dump writes files, or folders as a tar archive' });
  }
  if (isArchive && flags.target === undefined && process.stdout.isTTY) {
    throw new UsageError('stdout is the terminal, please redirect output', { hint: 'pipe it (engine dump ... | tar -x) or give --target FILE' });
  }

  const sink: Sink = flags.target !== undefined ? await fileSink(flags.target, '--target') : stdoutSink();
  const write = async (chunk: Uint8Array): Promise<void> => {
    if (signal?.aborted) throw new EngineError(ErrorCode.ABORTED, 'dump interrupted');
    await sink.write(chunk);
  };
  try {
    await untilReaderLeaves(async () => {
      if (found.kind === 'root') await writeTar(src, root, '', write);
      else if (found.node.type === 'dir') {
        if (found.node.subtree) await writeTar(src, found.node.subtree, found.path.slice(1), write);
        else await write(TAR_END);
      } else await writeContent(src, found.node, write);
    });
  } finally {
    await sink.close();
  }
  return 0;
}
