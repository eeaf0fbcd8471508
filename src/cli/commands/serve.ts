import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { UsageError } from '../../errors/engine-error.js';
import { SnapshotFs } from '../../inspect/snapshot-fs.js';
import { webdavHandler } from '../../inspect/webdav.js';
import { IndexedRepository } from '../../repository/indexed-repository.js';
import { closeSessionIndex } from '../../session/session-index.js';
import type { GlobalOptions } from '../context.js';
import type { Output } from '../output.js';
import { memoryPlan, openIndex, openRepository } from '../session.js';

export interface ServeFlags extends GlobalOptions {
  webdav?: boolean;
  listen?: string;
  memBudget?: string;
}

/**
 * `engine serve --webdav`: the snapshots as a read-only WebDAV share on a loopback address, in
 * place of restic's FUSE `mount` (docs/SELECTION.md "Browsing snapshots"). It has no
 * authentication, so it listens on loopback only: anyone who reaches it reads every backup.
 * Runs until interrupted (Ctrl-C: exit 0), holding the shared lock as a restore does.
 */
export async function serveCommand(flags: ServeFlags, out: Output, signal: AbortSignal): Promise<number> {
  if (!flags.webdav) throw new UsageError('nothing to serve: give --webdav', { hint: 'engine serve --webdav [--listen 127.0.0.1:8080], then open http://127.0.0.1:8080/ in a file manager or mount it with davfs' });
  const { host, port } = listenAddress(flags.listen ?? '127.0.0.1:8080');
  const session = await openRepository(flags, out, { exclusive: false, command: 'serve', signal });
  const index = await openIndex(session, memoryPlan(session, flags.memBudget, out), out, signal);
  try {
    const fs = new SnapshotFs(new IndexedRepository(session.repo, index));
    const server = createServer(webdavHandler(fs, (m) => out.warn(m)));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(new UsageError(`cannot listen on ${host}:${port}: ${err.code ?? err.message}`, { hint: 'give another --listen address, e.g. 127.0.0.1:8081' })));
      server.listen(port, host, () => resolve());
    });
    const bound = server.address() as AddressInfo;
    const url = `http://${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}/`;
    if (out.json) out.data({ message_type: 'serving', url });
    else out.result(`serving the snapshots read-only at ${url} (WebDAV; Ctrl-C to stop)`);
    await new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return 0;
  } finally {
    await closeSessionIndex(index);
  }
}

/** HOST:PORT, loopback only (127.0.0.0/8, ::1, localhost): the share has no authentication. */
export function listenAddress(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text.trim());
  const host = m ? (m[1] ?? m[2]!) : '';
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UsageError(`--listen ${text}: not HOST:PORT`, { hint: 'e.g. --listen 127.0.0.1:8080 (port 0 picks a free one)' });
  const loopback = host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
  if (!loopback) throw new UsageError(`--listen ${text}: only a loopback address is allowed`, { hint: 'the share has no authentication: anyone who reaches it reads every backup; reach it from elsewhere through ssh -L' });
  return { host, port };
}
