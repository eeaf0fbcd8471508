// The snapshots as a read-only WebDAV share (RFC 4918 class 1, the read half): what `restic mount`
// gives through FUSE, without a native FUSE module for Node (none is kept up for current Node
// majors and ARM; docs/SELECTION.md "Browsing snapshots"). Every file manager opens it, and
// `mount -t davfs http://127.0.0.1:8080/ /mnt` makes it a folder. Methods: OPTIONS, PROPFIND
// (depth 0 and 1; "infinity" is answered as 1, as many servers do), GET and HEAD (one byte range
// at most); anything that would write is refused with 405. Responses are streamed: a folder's
// listing as its tree is read, a file blob by blob for the range asked.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeName, displayName, encodeName } from '../fs/names.js';
import type { FsEntry, SnapshotFs } from './snapshot-fs.js';

const ALLOW = 'OPTIONS, GET, HEAD, PROPFIND';

export function webdavHandler(fs: SnapshotFs, onError: (message: string) => void): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    handle(fs, req, res).catch((err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      onError(`${req.method} ${req.url}: ${message}`);
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end(`${message}\n`);
      } else {
        res.destroy();
      }
    });
  };
}

async function handle(fs: SnapshotFs, req: IncomingMessage, res: ServerResponse): Promise<void> {
  // A web page the user has open can point a name of its own at 127.0.0.1 (DNS rebinding) and
  // read the share through the browser: only requests addressed to a loopback name are answered.
  if (!isLoopbackHost(req.headers.host)) return plain(res, 403, 'this share answers requests to localhost, 127.0.0.1 or [::1] only');
  const segments = pathSegments(req.url ?? '/');
  if (segments === null) return plain(res, 400, 'bad path');
  switch (req.method) {
    case 'OPTIONS':
      res.writeHead(200, { dav: '1', allow: ALLOW, 'content-length': '0' });
      res.end();
      return;
    case 'PROPFIND':
      return propfind(fs, segments, req, res);
    case 'GET':
    case 'HEAD':
      return get(fs, segments, req, res);
    default:
      res.writeHead(405, { allow: ALLOW, 'content-type': 'text/plain; charset=utf-8' });
      res.end('read-only: snapshots are never changed through this share\n');
  }
}

async function propfind(fs: SnapshotFs, segments: string[], req: IncomingMessage, res: ServerResponse): Promise<void> {
  // The request body (which properties) is not needed: every property asked for is among those
  // always sent. It is read and dropped so the connection stays usable.
  req.resume();
  const entry = await fs.lookup(segments.join('/'));
  if (!entry) return plain(res, 404, 'not found');
  const depth = req.headers.depth === '0' ? 0 : 1;
  res.writeHead(207, { 'content-type': 'application/xml; charset=utf-8' });
  res.write('<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:">\n');
  res.write(responseXml(segments, entry));
  if (depth === 1 && entry.kind === 'dir') {
    for await (const child of entry.entries()) {
      if (!res.write(responseXml([...segments, child.name], child)) && !(await drained(res))) return;
    }
  }
  res.end('</D:multistatus>\n');
}

async function get(fs: SnapshotFs, segments: string[], req: IncomingMessage, res: ServerResponse): Promise<void> {
  const entry = await fs.lookup(segments.join('/'));
  if (!entry) return plain(res, 404, 'not found');
  const head = req.method === 'HEAD';
  if (entry.kind === 'other') return plain(res, 403, 'not a file: a symlink or special file has no content to read here');
  if (entry.kind === 'dir') {
    // A browser gets a plain index of the folder.
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'last-modified': entry.mtime.toUTCString() });
    if (head) return void res.end();
    res.write(`<!doctype html><meta charset="utf-8"><title>${xml(displayName('/' + segments.join('/')))}</title><ul>\n`);
    for await (const child of entry.entries()) {
      const href = hrefOf([...segments, child.name], child.kind === 'dir');
      if (!res.write(`<li><a href="${xml(href)}">${xml(displayName(child.name))}${child.kind === 'dir' ? '/' : ''}</a></li>\n`) && !(await drained(res))) return;
    }
    return void res.end('</ul>\n');
  }
  const range = byteRange(req.headers.range, entry.size);
  if (range === 'unsatisfiable') {
    res.writeHead(416, { 'content-range': `bytes */${entry.size}` });
    return void res.end();
  }
  const [start, end] = range ?? [0, entry.size];
  res.writeHead(range ? 206 : 200, {
    'content-type': 'application/octet-stream',
    'content-length': String(end - start),
    'accept-ranges': 'bytes',
    'last-modified': entry.mtime.toUTCString(),
    ...(range ? { 'content-range': `bytes ${start}-${end - 1}/${entry.size}` } : {}),
  });
  if (head || end === start) return void res.end();
  for await (const piece of entry.read(start, end)) {
    if (!res.write(piece) && !(await drained(res))) return;
  }
  res.end();
}

/** One `bytes=a-b`, `bytes=a-` or `bytes=-n` range as [start, end); null for none (or several: the whole file is sent). */
function byteRange(header: string | undefined, size: number): [number, number] | null | 'unsatisfiable' {
  const m = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!m || (m[1] === '' && m[2] === '')) return null;
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size;
  } else {
    start = Number(m[1]);
    // A last byte before the first is no range at all (RFC 9110 14.1.1): the header is ignored.
    if (m[2] !== '' && Number(m[2]) < start) return null;
    end = m[2] === '' ? size : Math.min(size, Number(m[2]) + 1);
  }
  if (start >= size || end <= start) return size === 0 ? null : 'unsatisfiable';
  return [start, end];
}

function responseXml(segments: string[], entry: FsEntry): string {
  const dir = entry.kind === 'dir';
  const props = [
    `<D:displayname>${xml(displayName(entry.name))}</D:displayname>`,
    dir ? '<D:resourcetype><D:collection/></D:resourcetype>' : '<D:resourcetype/>',
    `<D:getlastmodified>${entry.mtime.toUTCString()}</D:getlastmodified>`,
    ...(entry.kind === 'file' ? [`<D:getcontentlength>${entry.size}</D:getcontentlength>`, '<D:getcontenttype>application/octet-stream</D:getcontenttype>'] : []),
  ];
  return `<D:response><D:href>${xml(hrefOf(segments, dir))}</D:href><D:propstat><D:prop>${props.join('')}</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>\n`;
}

/** The URL path of an entry: each name's bytes percent-encoded (names need not be UTF-8). */
function hrefOf(segments: string[], dir: boolean): string {
  const path = segments.map((s) => percentEncode(encodeName(s))).join('/');
  return `/${path}${dir && path !== '' ? '/' : ''}`;
}

function percentEncode(bytes: Uint8Array): string {
  let out = '';
  for (const b of bytes) out += (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2d || b === 0x2e || b === 0x5f || b === 0x7e ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/** The names of a request's path, each percent-decoded to its bytes (escaped form); null when malformed. */
function pathSegments(url: string): string[] | null {
  const path = url.split('?')[0]!;
  const out: string[] = [];
  for (const raw of path.split('/')) {
    if (raw === '') continue;
    const bytes: number[] = [];
    const chars = [...raw];
    for (let i = 0; i < chars.length; i++) {
      if (chars[i] === '%') {
        const hex = `${chars[i + 1] ?? ''}${chars[i + 2] ?? ''}`;
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) return null;
        bytes.push(parseInt(hex, 16));
        i += 2;
      } else {
        bytes.push(...Buffer.from(chars[i]!, 'utf8'));
      }
    }
    out.push(decodeName(Uint8Array.from(bytes)));
  }
  return out;
}

function plain(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(`${text}\n`);
}

/** Text for XML (already through displayName: no lone surrogate): the five special characters escaped, and controls XML 1.0 cannot hold replaced. */
function xml(s: string): string {
  return s
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '\ufffd')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

/**
 * Waits until the client takes more (true), or is gone (false: the response was closed, so the
 * handler stops and lets go of what it reads instead of waiting for a 'drain' that never comes).
 */
function drained(res: ServerResponse): Promise<boolean> {
  if (res.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (ok: boolean): void => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = (): void => done(true);
    const onClose = (): void => done(false);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

/** The request's Host names a loopback address: localhost, 127.x.x.x or [::1], with any port. */
function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d+$/, '');
  return name === 'localhost' || name === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}
