// engine find PATTERN...: restic's `find` (cmd/restic/cmd_find.go): every snapshot, newest first
// (-R oldest first), or those given with -s; per snapshot `Found matching entries in snapshot
// <id> from <time>` and the matching paths (-l: long lines), a blank line between snapshots;
// --json: restic's one array of {"matches":[...],"hits":N,"snapshot":"<id>"}. No match is not an
// error (exit 0). --blob/--tree: the pattern arguments are ids, and the files and folders holding
// them are listed.
import { UsageError } from '../../errors/engine-error.js';
import { PatternList } from '../../filter/pattern.js';
import type { BlobId, SnapshotId } from '../../format/ids.js';
import type { Snapshot } from '../../format/snapshot.js';
import { displayName } from '../../fs/names.js';
import { findByPattern, findObjects } from '../../inspect/find.js';
import { IndexedRepository } from '../../repository/indexed-repository.js';
import { repoLocation, type GlobalOptions } from '../context.js';
import { selectSnapshots } from '../../repository/snapshot-filter.js';
import { snapshotFilterFromFlags, warnFilterIgnored, type SnapshotFilterFlags } from '../snapshot-filter-flags.js';
import { localTime, longLine, nodeJson } from '../node-format.js';
import type { Output } from '../output.js';
import { memoryPlan, openIndex, openRepository } from '../session.js';
import { stdoutSink, untilReaderLeaves } from '../sink.js';
import { parseFindTime } from '../find-time.js';

export interface FindFlags extends GlobalOptions, SnapshotFilterFlags {
  memBudget?: string;
  snapshot?: string[];
  newest?: string;
  oldest?: string;
  ignoreCase?: boolean;
  long?: boolean;
  humanReadable?: boolean;
  reverse?: boolean;
  blob?: boolean;
  tree?: boolean;
}

export async function findCommand(args: string[], flags: FindFlags, out: Output): Promise<number> {
  if (args.length === 0) throw new UsageError('find needs at least one pattern', { hint: "e.g. engine find '*.conf', or engine find --blob ID" });
  if (flags.blob && flags.tree) throw new UsageError('--blob and --tree cannot be given together', { hint: 'look for blobs and trees in two runs' });
  const byId = flags.blob === true || flags.tree === true;
  if (byId) for (const a of args) if (!/^[0-9a-f]{8,64}$/.test(a)) throw new UsageError(`"${a}" is not an id`, { hint: 'give full ids or prefixes of at least 8 lowercase hex digits' });
  const oldestNs = flags.oldest !== undefined ? parseFindTime(flags.oldest, '--oldest') : undefined;
  const newestNs = flags.newest !== undefined ? parseFindTime(flags.newest, '--newest') : undefined;
  if (oldestNs !== undefined && newestNs !== undefined && oldestNs > newestNs) throw new UsageError('--oldest must specify a time before --newest');
  // restic filter.Match: '' matches everything ('**' does the same on absolute paths; PatternList
  // drops ''). Invalid patterns are refused here, before the repository is opened.
  const patterns = byId ? null : new PatternList(args.map((text) => ({ text: text === '' ? '**' : text, caseInsensitive: flags.ignoreCase === true })));

  const session = await openRepository(flags, out);
  const { repo } = session;
  const index = await openIndex(session, memoryPlan(session, flags.memBudget, out), out);
  const indexed = new IndexedRepository(repo, index);
  const load = (id: BlobId) => indexed.treeEntries(id);
  const snapshots = await chooseSnapshots(repo, flags, out);

  const sink = stdoutSink();
  await untilReaderLeaves(async () => {
    if (out.json) await sink.write('[');
    let written = 0;
    let printedSnapshot = false;
    for (const { id, snapshot } of snapshots) {
      if (byId) {
        for await (const o of findObjects(load, snapshot.tree, flags.blob ? args : [], flags.tree ? args : [])) {
          if (out.json) {
            await sink.write(`${written > 0 ? ',' : ''}${JSON.stringify({ object_type: o.kind, id: o.id, path: displayName(o.path), ...(o.parentTree ? { parent_tree: o.parentTree } : {}), snapshot: id, time: snapshot.time })}`);
          } else {
            let text = `Found ${o.kind} ${o.id}\n`;
            text += o.kind === 'blob' ? ` ... in file ${displayName(o.path)}\n     (tree ${o.parentTree})\n` : ` ... path ${displayName(o.path)}\n`;
            text += ` ... in snapshot ${id.slice(0, 8)} (${localTime(Date.parse(snapshot.time))})\n`;
            await sink.write(text);
          }
          written++;
        }
        continue;
      }
      let hits = 0;
      for await (const { path, node } of findByPattern(load, snapshot.tree, { patterns: patterns!, ...(oldestNs !== undefined ? { oldestNs } : {}), ...(newestNs !== undefined ? { newestNs } : {}) })) {
        if (out.json) {
          await sink.write(`${hits === 0 ? `${written > 0 ? ',' : ''}{"matches":[` : ','}${JSON.stringify(nodeJson(path, node))}`);
        } else {
          if (hits === 0) {
            await sink.write(`${printedSnapshot ? '\n' : ''}Found matching entries in snapshot ${id.slice(0, 8)} from ${localTime(Date.parse(snapshot.time))}\n`);
            printedSnapshot = true;
          }
          await sink.write(`${flags.long ? longLine(path, node, flags.humanReadable === true) : displayName(path)}\n`);
        }
        hits++;
      }
      if (out.json && hits > 0) {
        await sink.write(`],"hits":${hits},"snapshot":"${id}"}`);
        written++;
      }
    }
    if (out.json) await sink.write(']\n');
  });
  return 0;
}

/** -s IDs (each "latest" or an id prefix: the filters then are not used, as restic), else every snapshot the filters keep; newest first unless -R. */
async function chooseSnapshots(repo: IndexedRepository['repo'], flags: FindFlags, out: Output): Promise<{ id: SnapshotId; snapshot: Snapshot }[]> {
  const selection = selectSnapshots(await repo.listSnapshots(), flags.snapshot ?? [], snapshotFilterFromFlags(flags), repoLocation(flags));
  if (selection.filterIgnored) warnFilterIgnored(out);
  const list = [...selection.snapshots];
  list.sort((a, b) => (a.snapshot.time < b.snapshot.time ? -1 : a.snapshot.time > b.snapshot.time ? 1 : 0));
  if (!flags.reverse) list.reverse();
  return list;
}
