// S3 throughput of engine on loopback, all in one run, as ratios (issue 3):
//   (1) upload: a backup's upload throughput (bytes stored / backup seconds) over raw SDK
//       PutObject throughput of the very same objects (the packs and metadata the backup stored,
//       put again by a bare S3Client at 1, 2, 4 and 8 requests in flight; the best counts).
//       Measured twice: straight to the server, where a 2-core machine's backup is bound by its
//       CPU (chunking, hashing, compressing, encrypting) long before loopback's ~200 MB/s; and
//       through a link of LINK bytes/s (the proxy paces bodies), which is what a backup to a real
//       bucket sees: there the ratio says whether the backup keeps the link full;
//   (2) latency: restore throughput with LATENCY ms added to every request (an HTTP proxy in
//       front of the server) over the same restore without added latency, both with a cold cache.
// The server is a real S3-compatible one on 127.0.0.1 (s3rver, or minio when on the PATH), started
// and stopped here. On a 2-core machine the server shares the CPU with engine: both (1) sides pay
// for it alike.
//
// Usage: node dist/bench/s3.js [--size 1G] [--latency 50] [--link 32M] [--mem-budget 512M]
//          [--repeat 2] [--dir /tmp/engine-bench-s3] [--json]
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { startFaultProxy } from '../test/support/s3/fault-proxy.js';
import { startS3Server, type S3TestServer } from '../test/support/s3/server.js';
import { parseSize } from '../src/util/bytes.js';
import { answerS3NodeWarning } from '../src/session/node-support.js';
import { makeMixedCorpus } from '../src/benchmark/corpus.js';

const ENGINE = fileURLToPath(new URL('../../bin/engine', import.meta.url));
const PASSWORD = 'engine-bench-password';
const MB = 1e6;

interface Options {
  size: number;
  latencyMs: number;
  linkBytesPerSec: number;
  memBudget: string | undefined;
  repeat: number;
  dir: string;
  json: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { size: 2 ** 30, latencyMs: 50, linkBytesPerSec: 32 * 2 ** 20, memBudget: undefined, repeat: 2, dir: path.join(os.tmpdir(), 'engine-bench-s3'), json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${a} needs a value`);
      return x;
    };
    if (a === '--size') o.size = parseSize(v(), '--size');
    else if (a === '--latency') o.latencyMs = Number(v());
    else if (a === '--link') o.linkBytesPerSec = parseSize(v(), '--link');
    else if (a === '--mem-budget') o.memBudget = v();
    else if (a === '--repeat') o.repeat = Math.max(1, Number(v()));
    else if (a === '--dir') o.dir = v();
    else if (a === '--json') o.json = true;
    else throw new Error(`unknown argument ${a} (see the header of bench/s3.ts)`);
  }
  return o;
}


async function engine(args: string[], env: NodeJS.ProcessEnv): Promise<{ seconds: number; json: Record<string, unknown> }> {
  const t0 = performance.now();
  const child = spawn(ENGINE, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const code = await new Promise<number>((r) => child.on('close', (c) => r(c ?? -1)));
  const seconds = (performance.now() - t0) / 1000;
  if (code !== 0) throw new Error(`engine ${args[0]} exited ${code}: ${err.slice(-2000)}`);
  const last = out.trim().split('\n').pop() ?? '{}';
  return { seconds, json: JSON.parse(last.startsWith('{') ? last : '{}') as Record<string, unknown> };
}

function client(server: S3TestServer): S3Client {
  return new S3Client({
    endpoint: server.endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 1,
    requestHandler: { httpAgent: { keepAlive: true, maxSockets: 32 } },
  });
}

async function listKeys(s3: S3Client, bucket: string, prefix: string): Promise<{ key: string; size: number }[]> {
  const out: { key: string; size: number }[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) if (o.Key) out.push({ key: o.Key, size: o.Size ?? 0 });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/** Puts every object again with a bare client, `inFlight` at a time; returns bytes per second. */
async function rawPut(s3: S3Client, bucket: string, objects: { key: string; body: Uint8Array }[], inFlight: number, prefix: string): Promise<number> {
  let next = 0;
  const bytes = objects.reduce((n, o) => n + o.body.length, 0);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < objects.length) {
        const o = objects[next++]!;
        const md5 = createHash('md5').update(o.body).digest('base64');
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: `${prefix}${o.key}`, Body: o.body, ContentLength: o.body.length, ContentMD5: md5 }));
      }
    }),
  );
  return bytes / ((performance.now() - t0) / 1000);
}

interface UploadResult {
  storedBytes: number;
  backupSeconds: number;
  backupMBps: number;
  rawPutMBpsByInFlight: Record<string, number>;
  rawPutBestMBps: number;
  ratio: number;
  peakRssMiB: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const log = (m: string): void => void process.stderr.write(`${m}\n`);
  // The raw PUT baseline builds S3 clients here: the SDK's Node warning is answered as engine does.
  answerS3NodeWarning(false);
  const src = path.join(o.dir, `src-${o.size}`);
  if (!existsSync(path.join(src, '.complete'))) {
    await fs.rm(src, { recursive: true, force: true });
    log(`generating a ${(o.size / 2 ** 20).toFixed(0)} MiB corpus in ${src}`);
    await makeMixedCorpus(src, { seed: 1, totalBytes: o.size });
    await fs.writeFile(path.join(src, '.complete'), '');
  }
  const server = await startS3Server('engine-bench');
  const proxy = await startFaultProxy(server.endpoint);
  const work = await fs.mkdtemp(path.join(o.dir, 'run-'));
  const env: NodeJS.ProcessEnv = { ...process.env, ...server.env(), ENGINE_PASSWORD: PASSWORD, XDG_CACHE_HOME: path.join(work, 'cache') };
  const budget = o.memBudget ? ['--mem-budget', o.memBudget] : [];
  try {
    const prefix = `bench-${Date.now()}`;
    const direct = `s3:${server.endpoint}/${server.bucket}/${prefix}`;
    const viaProxy = `s3:${proxy.endpoint}/${server.bucket}/${prefix}`;
    await engine(['init', '--repo', direct], env);

    // (1) Backup, then the same objects put raw; straight to the server, then through a link.
    const s3 = client(server);
    const viaLink = client({ ...server, endpoint: proxy.endpoint });
    const upload = async (label: string, repo: string, prefixOf: string, put: S3Client): Promise<UploadResult> => {
      log(`backup (${label}) ...`);
      const backup = await engine(['backup', '--repo', repo, '--json', ...budget, src], env);
      const keys = (await listKeys(s3, server.bucket, `${prefixOf}/`)).filter((k) => !k.key.endsWith('/config') && !k.key.includes('/keys/'));
      const storedBytes = keys.reduce((n, k) => n + k.size, 0);
      const backupSeconds = Number(backup.json.total_duration);
      const objects: { key: string; body: Uint8Array }[] = [];
      for (const k of keys) {
        const got = await s3.send(new GetObjectCommand({ Bucket: server.bucket, Key: k.key }));
        objects.push({ key: k.key, body: await got.Body!.transformToByteArray() });
      }
      const raw: Record<string, number> = {};
      for (const inFlight of [1, 2, 4, 8]) {
        log(`raw PutObject (${label}), ${inFlight} in flight ...`);
        raw[inFlight] = (await rawPut(put, server.bucket, objects, inFlight, `raw-${label}-${inFlight}-`)) / MB;
      }
      const rawBest = Math.max(...Object.values(raw));
      const backupMBps = storedBytes / backupSeconds / MB;
      return { storedBytes, backupSeconds, backupMBps, rawPutMBpsByInFlight: raw, rawPutBestMBps: rawBest, ratio: backupMBps / rawBest, peakRssMiB: Number(backup.json.peak_rss_bytes) / 2 ** 20 };
    };
    const loopback = await upload('loopback', direct, prefix, s3);
    // The same backup into a local repository: where a backup is bound by its CPU, S3 should cost
    // it nothing.
    const localRepo = path.join(work, 'local-repo');
    await engine(['init', '--repo', localRepo], env);
    log('backup (local repository) ...');
    const local = await engine(['backup', '--repo', localRepo, '--json', ...budget, src], env);
    const localSeconds = Number(local.json.total_duration);
    await fs.rm(localRepo, { recursive: true, force: true });
    const linkPrefix = `${prefix}-link`;
    const linkRepo = `s3:${proxy.endpoint}/${server.bucket}/${linkPrefix}`;
    await engine(['init', '--repo', linkRepo], env);
    proxy.setLinkRate(o.linkBytesPerSec);
    const link = await upload('link', linkRepo, linkPrefix, viaLink);
    proxy.setLinkRate(null);
    viaLink.destroy();

    // (2) Restores through the proxy, cold cache, without and with added latency, alternating.
    const restores: Record<'none' | 'latency', number[]> = { none: [], latency: [] };
    let restoredBytes = 0;
    let restorePeakRss = 0;
    for (let r = 0; r < o.repeat; r++) {
      for (const mode of ['none', 'latency'] as const) {
        proxy.setLatency(mode === 'latency' ? o.latencyMs : 0);
        const target = path.join(work, `restore-${mode}-${r}`);
        log(`restore (${mode === 'latency' ? `${o.latencyMs} ms per request` : 'no added latency'}) ...`);
        // A cold cache, as on the machine that restores after losing the one that backed up.
        const cache = path.join(work, `cache-restore-${mode}-${r}`);
        const res = await engine(['restore', 'latest', '--repo', viaProxy, '--target', target, '--json', ...budget], { ...env, XDG_CACHE_HOME: cache });
        restoredBytes = Number(res.json.bytes_restored);
        restorePeakRss = Math.max(restorePeakRss, Number(res.json.peak_rss_bytes));
        restores[mode].push(restoredBytes / Number(res.json.duration_seconds));
        await fs.rm(target, { recursive: true, force: true });
      }
    }
    proxy.setLatency(0);
    s3.destroy();

    const result = {
      machine: { cpus: os.availableParallelism(), node: process.version, server: server.kind },
      corpusBytes: o.size,
      upload: { loopback, link: { linkMBps: o.linkBytesPerSec / MB, ...link }, localBackupSeconds: localSeconds, s3OverLocalSpeed: localSeconds / loopback.backupSeconds },
      restore: {
        bytes: restoredBytes,
        latencyMs: o.latencyMs,
        noLatencyMBps: median(restores.none) / MB,
        latencyMBps: median(restores.latency) / MB,
        runs: { none: restores.none.map((x) => x / MB), latency: restores.latency.map((x) => x / MB) },
        ratio: median(restores.latency) / median(restores.none),
        peakRssMiB: restorePeakRss / 2 ** 20,
      },
    };
    if (o.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    else {
      const f = (x: number): string => x.toFixed(1);
      const uploadLine = (label: string, u: UploadResult): string =>
        `upload (${label}): backup stored ${f(u.storedBytes / MB)} MB in ${f(u.backupSeconds)} s = ${f(u.backupMBps)} MB/s; raw PutObject ${Object.entries(u.rawPutMBpsByInFlight)
          .map(([k, v]) => `${f(v)} MB/s at ${k}`)
          .join(', ')}; ratio backup / best raw = ${u.ratio.toFixed(2)}`;
      process.stdout.write(
        [
          `S3 on loopback (${result.machine.server}), ${(o.size / 2 ** 20).toFixed(0)} MiB corpus, ${result.machine.cpus} cores, Node ${process.version}`,
          uploadLine('loopback', loopback),
          `                  the same backup into a local repository took ${f(localSeconds)} s: S3 / local speed = ${result.upload.s3OverLocalSpeed.toFixed(2)}`,
          uploadLine(`link of ${f(o.linkBytesPerSec / MB)} MB/s`, link),
          `restore: ${f(result.restore.noLatencyMBps)} MB/s without added latency, ${f(result.restore.latencyMBps)} MB/s with ${o.latencyMs} ms per request (medians of ${o.repeat})`,
          `         ratio = ${result.restore.ratio.toFixed(2)}; peak RSS ${f(result.restore.peakRssMiB)} MiB (backups: ${f(loopback.peakRssMiB)} and ${f(link.peakRssMiB)} MiB)`,
          '',
        ].join('\n'),
      );
    }
  } finally {
    await proxy.stop();
    await server.stop();
    await fs.rm(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench/s3: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
