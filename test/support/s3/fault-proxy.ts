// An HTTP reverse proxy on 127.0.0.1 in front of an S3 server (s3rver, minio or an external
// endpoint), for tests and benchmarks. It injects the faults real networks and real S3 services
// produce (HTTP 500s, reset connections, bodies cut short, slow answers) and latency at the HTTP
// level, so that the real S3Backend and the AWS SDK run their real code paths (error parsing,
// classification into transient and permanent, retries, abort) instead of a mocked backend.
//
// Requests go upstream unchanged: method, path, query and every header, Host included (SigV4
// signs it, and the server re-checks the signature against the headers it receives). Bodies are
// streamed both ways, never buffered whole; upstream sockets are kept alive. Plain http only.
import { Agent, createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { Transform } from 'node:stream';
import { finished } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { Prng } from '../../../src/benchmark/prng.js';

export type FaultKind = '500' | 'reset' | 'truncate' | 'slow';

export interface FaultSettings {
  /** Probability in [0, 1] that a request gets a fault. */
  rate: number;
  /** The kinds of fault, taken in turn by the requests chosen to fail. */
  kinds: FaultKind[];
  /** Seed of the PRNG that decides which requests fail and how (default 1): same seed, same run. */
  seed?: number;
}

export interface FaultProxyOptions {
  /** Delay added before forwarding each request. */
  latencyMs?: number;
  faults?: FaultSettings;
}

export type RequestCounts = Record<'GET' | 'PUT' | 'HEAD' | 'DELETE' | 'POST' | 'total', number>;

export interface FaultProxy {
  /** e.g. http://127.0.0.1:40124 */
  readonly endpoint: string;
  /** Random faults; may be replaced or changed at any time (a new object or seed restarts the PRNG). */
  faults: FaultSettings;
  /** Requests seen, per method (every request, faulty or not). */
  readonly counts: RequestCounts;
  /** Faults injected, per kind. */
  readonly injected: Record<FaultKind, number>;
  /** GET requests naming an object (path-style /bucket/key), listings excluded. */
  objectGets(): number;
  /** One line for assertion messages: counts, faults, and the paths of the objects read. */
  describe(): string;
  /** From now on every request fails that way; null returns to normal (and cancels failAfter). */
  failAll(kind: '500' | 'reset' | null): void;
  /** The next n requests pass, every later one fails that way (until failAll(null)). */
  failAfter(n: number, kind: FaultKind): void;
  resetCounts(): void;
  setLatency(ms: number): void;
  /**
   * Makes the proxy a link of this many bytes per second in each direction (request bodies up,
   * response bodies down, each direction shared by every connection), or unlimited with null:
   * how a benchmark sees whether a backup keeps a link full.
   */
  setLinkRate(bytesPerSec: number | null): void;
  /** Closes the server and destroys every open connection. */
  stop(): Promise<void>;
}

const ERROR_XML = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code><Message>injected</Message></Error>';
const METHODS = ['GET', 'PUT', 'HEAD', 'DELETE', 'POST'] as const;

export async function startFaultProxy(upstream: string, opts: FaultProxyOptions = {}): Promise<FaultProxy> {
  const upstreamUrl = new URL(upstream);
  if (upstreamUrl.protocol !== 'http:') throw new Error(`fault proxy: only http:// upstreams are supported, not ${upstream}`);
  const agent = new Agent({ keepAlive: true });
  let latencyMs = opts.latencyMs ?? 0;
  let forced: { kind: FaultKind; pass: number } | null = null;
  // The PRNG follows proxy.faults: a new settings object or a new seed starts a new sequence.
  let rng = new Prng(1);
  let turn = 0;
  let rngFor: { settings: FaultSettings; seed: number | undefined } | null = null;
  const counts: RequestCounts = { GET: 0, PUT: 0, HEAD: 0, DELETE: 0, POST: 0, total: 0 };
  const injected: Record<FaultKind, number> = { '500': 0, reset: 0, truncate: 0, slow: 0 };
  const objectPaths: string[] = [];
  let up: Link | null = null;
  let down: Link | null = null;

  const random = (): Prng => {
    const f = proxy.faults;
    if (rngFor?.settings !== f || rngFor.seed !== f.seed) {
      rng = new Prng(f.seed ?? 1);
      rngFor = { settings: f, seed: f.seed };
    }
    return rng;
  };

  const choose = (): FaultKind | null => {
    if (forced) {
      if (forced.pass > 0) {
        forced.pass--;
        return null;
      }
      return forced.kind;
    }
    const f = proxy.faults;
    if (!(f.rate > 0) || f.kinds.length === 0) return null;
    // Which requests fail is random; the kinds take turns, so a handful of faults covers them all.
    return random().chance(f.rate) ? f.kinds[turn++ % f.kinds.length]! : null;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const method = req.method ?? '';
    counts.total++;
    if ((METHODS as readonly string[]).includes(method)) counts[method as (typeof METHODS)[number]]++;
    const path = (req.url ?? '').split('?')[0]!;
    if (method === 'GET' && /^\/[^/]+\/./.test(path)) objectPaths.push(path);
    const kind = choose();
    if (kind) injected[kind]++;
    const delay = latencyMs + (kind === 'slow' ? 1000 + random().int(1000) : 0);
    if (delay > 0) await sleep(delay);
    if (req.socket.destroyed) return;
    if (kind === 'reset') return void req.socket.destroy();
    if (kind === '500') {
      // Like a server failing once the upload is in: read the body, store nothing, answer 500.
      req.resume();
      const ok = await finished(req).then(() => true, () => false);
      if (!ok) return;
      res.writeHead(500, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(ERROR_XML) });
      res.end(ERROR_XML);
      return;
    }
    const fwd = httpRequest({ host: upstreamUrl.hostname, port: upstreamUrl.port, method, path: req.url, headers: req.rawHeaders, agent });
    fwd.on('error', () => {
      if (res.headersSent) req.socket.destroy();
      else res.writeHead(502, { 'content-type': 'text/plain' }).end('fault proxy: upstream failed');
    });
    req.on('error', () => fwd.destroy());
    res.on('close', () => {
      if (!res.writableFinished) fwd.destroy();
    });
    fwd.on('response', (ur) => {
      ur.on('error', () => req.socket.destroy());
      if (kind === 'truncate') return truncate(req, res, ur);
      res.writeHead(ur.statusCode ?? 502, ur.statusMessage, ur.rawHeaders);
      (down ? ur.pipe(down.throttle()) : ur).pipe(res);
    });
    (up ? req.pipe(up.throttle()) : req).pipe(fwd);
  };

  /** Sends the status, the headers (real Content-Length) and half the body, then drops the connection. */
  const truncate = (req: IncomingMessage, res: ServerResponse, ur: IncomingMessage): void => {
    const length = Number(ur.headers['content-length'] ?? -1);
    const status = ur.statusCode ?? 0;
    if (req.method === 'HEAD' || status === 204 || status === 304 || !(length >= 2)) {
      ur.destroy();
      req.socket.destroy();
      return;
    }
    res.writeHead(status, ur.statusMessage, ur.rawHeaders);
    let left = Math.floor(length / 2);
    ur.on('data', (chunk: Buffer) => {
      if (left <= 0) return;
      const part = chunk.subarray(0, left);
      left -= part.length;
      if (left > 0) {
        if (!res.write(part)) {
          ur.pause();
          res.once('drain', () => ur.resume());
        }
        return;
      }
      ur.destroy();
      res.write(part, () => req.socket.destroy());
    });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => req.socket.destroy());
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const addr = server.address() as { port: number };

  const proxy: FaultProxy = {
    endpoint: `http://127.0.0.1:${addr.port}`,
    faults: opts.faults ?? { rate: 0, kinds: [] },
    counts,
    injected,
    failAll: (kind) => void (forced = kind ? { kind, pass: 0 } : null),
    failAfter: (n, kind) => void (forced = { kind, pass: n }),
    resetCounts: () => {
      for (const k of Object.keys(counts) as (keyof RequestCounts)[]) counts[k] = 0;
      for (const k of Object.keys(injected) as FaultKind[]) injected[k] = 0;
      objectPaths.length = 0;
    },
    objectGets: () => objectPaths.length,
    describe: () => {
      const c = counts;
      const shown = objectPaths.slice(0, 20).map(decodeURIComponent).join(', ') + (objectPaths.length > 20 ? ', ...' : '');
      return `fault proxy ${proxy.endpoint}: ${c.total} requests (GET ${c.GET}, of objects ${objectPaths.length}; PUT ${c.PUT}; HEAD ${c.HEAD}; DELETE ${c.DELETE}; POST ${c.POST}); injected ${Object.entries(injected).map(([k, v]) => `${k} ${v}`).join(', ')}; objects read: ${shown || 'none'}`;
    },
    setLatency: (ms) => void (latencyMs = ms),
    setLinkRate: (rate) => {
      up = rate ? new Link(rate) : null;
      down = rate ? new Link(rate) : null;
    },
    stop: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      agent.destroy();
      await closed;
    },
  };
  return proxy;
}

/** One direction of a link: every chunk waits for its slot, so all connections share the rate. */
class Link {
  private readonly bytesPerMs: number;
  private nextFree = 0;
  constructor(bytesPerSec: number) {
    this.bytesPerMs = bytesPerSec / 1000;
  }
  throttle(): Transform {
    return new Transform({
      transform: (chunk: Buffer, _enc, done) => {
        const now = performance.now();
        this.nextFree = Math.max(now, this.nextFree) + chunk.length / this.bytesPerMs;
        setTimeout(() => done(null, chunk), this.nextFree - now);
      },
    });
  }
}
