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
    out.result(`${id.slice(0, 8).padEnd(10)}${s.time.slice(0, 19).replace('T', ' ').padEnd(21)}${s.hostname.slice(0, 15).padEnd(16)}${formatBytes(s.summary.totalBytes).padEnd(12)}${s.paths.join(', ')}`);
  }
  out.result(`${all.length} snapshot(s)`);
  return 0;
}
