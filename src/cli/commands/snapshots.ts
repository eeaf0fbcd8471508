import type { GlobalOptions } from '../context.js';
import type { Output } from '../output.js';
import { openRepository } from '../session.js';
import { formatBytes } from '../../util/bytes.js';

export async function snapshotsCommand(flags: GlobalOptions, out: Output): Promise<number> {
  const { repo } = await openRepository(flags, out);
  const all = await repo.listSnapshots();
  if (out.json) {
    out.data(all.map(({ id, snapshot }) => ({ id, short_id: id.slice(0, 8), ...snapshot })));
    return 0;
  }
  out.result(`${'ID'.padEnd(10)}${'Time'.padEnd(21)}${'Host'.padEnd(16)}${'Size'.padEnd(12)}Paths`);
  for (const { id, snapshot: s } of all) {
    // `summary` is optional (FORMAT.md "Snapshots"; other writers and repair may leave it out):
    // its column stays blank. Host and paths are checked too: a snapshot is never a reason to crash.
    const summary = s.summary as Partial<typeof s.summary> | undefined;
    const size = typeof summary?.totalBytes === 'number' ? formatBytes(summary.totalBytes) : '';
    const host = typeof s.hostname === 'string' ? s.hostname : '';
    out.result(`${id.slice(0, 8).padEnd(10)}${s.time.slice(0, 19).replace('T', ' ').padEnd(21)}${host.slice(0, 15).padEnd(16)}${size.padEnd(12)}${s.paths.join(', ')}`);
  }
  out.result(`${all.length} snapshot(s)`);
  return 0;
}
