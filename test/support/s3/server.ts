// A real S3-compatible server on 127.0.0.1 for tests and benchmarks, started on a free port and
// stopped afterwards: a `minio` binary when one is on the PATH, else s3rver from npm. When
// ENGINE_TEST_S3_ENDPOINT is set (with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY), that
// endpoint is used instead and nothing is started.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export interface S3TestServer {
  /** e.g. http://127.0.0.1:40123 */
  readonly endpoint: string;
  readonly bucket: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly kind: 'minio' | 's3rver' | 'external';
  /** Environment for a CLI run against this server (credentials and region). */
  env(): Record<string, string>;
  stop(): Promise<void>;
}

const S3RVER_MAIN = fileURLToPath(new URL('../../../test/support/s3/s3rver-main.cjs', import.meta.url).href.replace('/dist/test/', '/test/'));

/** Which server startS3Server() will give, known before it starts (tests register checks by it). */
export function s3ServerKind(): S3TestServer['kind'] {
  if (process.env.ENGINE_TEST_S3_ENDPOINT) return 'external';
  return onPath('minio') ? 'minio' : 's3rver';
}

export async function startS3Server(bucket = 'engine-test'): Promise<S3TestServer> {
  const kind = s3ServerKind();
  const external = process.env.ENGINE_TEST_S3_ENDPOINT;
  if (kind === 'external' && external) {
    const accessKeyId = process.env.AWS_ACCESS_KEY_ID ?? '';
    const secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY ?? '';
    const b = process.env.ENGINE_TEST_S3_BUCKET ?? bucket;
    return make(external.replace(/\/$/, ''), b, accessKeyId, secretAccessKey, 'external', null, null);
  }
  const dir = await mkdtemp(join(tmpdir(), 'engine-s3-'));
  if (kind === 'minio') return startMinio(dir, bucket);
  const child = spawn(process.execPath, ['--openssl-legacy-provider', S3RVER_MAIN, dir, bucket], { stdio: ['ignore', 'pipe', 'pipe'] });
  const port = await firstLine(child).then((line) => (JSON.parse(line) as { port: number }).port);
  return make(`http://127.0.0.1:${port}`, bucket, 'S3RVER', 'S3RVER', 's3rver', child, dir);
}

function make(endpoint: string, bucket: string, accessKeyId: string, secretAccessKey: string, kind: S3TestServer['kind'], child: ChildProcess | null, dir: string | null): S3TestServer {
  return {
    endpoint,
    bucket,
    accessKeyId,
    secretAccessKey,
    kind,
    env: () => ({ AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_REGION: process.env.AWS_REGION ?? 'us-east-1' }),
    stop: async () => {
      if (child && child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      if (dir) await rm(dir, { recursive: true, force: true });
    },
  };
}

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

async function startMinio(dir: string, bucket: string): Promise<S3TestServer> {
  const port = await freePort();
  const user = 'engine-test';
  const secret = 'engine-test-secret';
  const child = spawn('minio', ['server', dir, '--address', `127.0.0.1:${port}`, '--console-address', `127.0.0.1:${await freePort()}`], {
    stdio: 'ignore',
    env: { ...process.env, MINIO_ROOT_USER: user, MINIO_ROOT_PASSWORD: secret },
  });
  const endpoint = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const ok = await fetch(`${endpoint}/minio/health/ready`).then((r) => r.ok, () => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  // The bucket is created by the backend's createRoot (engine init), like on a fresh server.
  return make(endpoint, bucket, user, secret, 'minio', child, dir);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', (line) => resolve(line));
    child.once('exit', (code) => reject(new Error(`the S3 test server exited with ${code} before listening: ${err}`)));
  });
}
