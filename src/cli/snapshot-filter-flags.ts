// restic's snapshot filter flags (--host/-H, --tag, --path), as commander options and as the
// filter they make (src/repository/snapshot-filter.ts). Kept light: main.ts imports it to build
// the command table.
import { Option } from 'commander';
import { makeSnapshotFilter, type SnapshotFilter } from '../repository/snapshot-filter.js';
import type { GlobalOptions } from './context.js';
import type { Output } from './output.js';

export interface SnapshotFilterFlags {
  host?: string[];
  tag?: string[];
  path?: string[];
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/**
 * One of the three options. `latest`: they choose which snapshot "latest" means (ls, restore,
 * diff); `all`: they choose every snapshot the command works on when no id is given (snapshots,
 * forget, tag).
 */
export function snapshotFilterOption(which: 'host' | 'tag' | 'path', scope: 'latest' | 'all', shortHost = true): Option {
  const when = scope === 'latest' ? ', when the snapshot is "latest"' : '';
  switch (which) {
    case 'host':
      return new Option(`${shortHost ? '-H, ' : ''}--host <host>`, `only consider snapshots of this host${when} (repeatable: any of them; default: $ENGINE_HOST; "" for any host)`).argParser(collect);
    case 'tag':
      return new Option('--tag <tag[,tag,...]>', `only consider snapshots with all these tags${when} (repeatable: any of the lists; "" for snapshots without tags)`).argParser(collect);
    case 'path':
      return new Option('--path <path>', `only consider snapshots of this path${when} (repeatable: they must hold every one)`).argParser(collect);
  }
}

/**
 * The filter of a command's flags; relative --path values are taken from the current folder.
 * Without --host, ENGINE_HOST is the host filter (as restic's RESTIC_HOST): a machine that names
 * itself so sees its own snapshots; `--host ""` considers every host.
 */
export function snapshotFilterFromFlags(flags: GlobalOptions & SnapshotFilterFlags, env: NodeJS.ProcessEnv = process.env): SnapshotFilter {
  const fromEnv = flags.host === undefined && (env.ENGINE_HOST ?? '') !== '';
  const f = makeSnapshotFilter({ hosts: fromEnv ? [env.ENGINE_HOST!] : (flags.host ?? []), tags: flags.tag ?? [], paths: flags.path ?? [] }, process.cwd());
  return fromEnv ? { ...f, hostsFromEnvironment: true } : f;
}

/** restic's warning when ids are given with a filter (the ids are taken, the filter is not used). */
export function warnFilterIgnored(out: Output): void {
  out.warn('--host, --tag and --path are ignored: explicit snapshot ids are given (use "latest" to pick one by the filter)');
}
