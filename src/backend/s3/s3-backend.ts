// S3 backend on @aws-sdk/client-s3, for AWS and for S3-compatible servers (MinIO, Garage, Ceph,
// Scaleway, Backblaze B2...). One request per call and no retries here: the SDK's own retries are
// turned off (maxAttempts 1) so that the retry decorator (backend/retry-backend.ts) is the one
// place that decides, with the same policy for every backend.
//
// Integrity of uploads: every PutObject carries Content-MD5, which the server verifies before it
// stores anything; and when the server answers with a plain MD5 ETag (single-part uploads without
// SSE-KMS), the ETag is compared too, which catches servers that ignore Content-MD5.
// Integrity of downloads: the length received must be the length announced and asked for; the
// contents themselves are authenticated by the repository layer (AEAD and content ids).
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type StorageClass,
} from '@aws-sdk/client-s3';
import { AbortedError, EngineError, ErrorCode, RepoExistsError } from '../../errors/engine-error.js';
import { notFound, throwIfAborted } from '../errors.js';
import type { Backend, ByteRange, ObjectInfo, ObjectOptions } from '../types.js';
import { formatS3Location, type S3Location } from './location.js';

export type ChecksumMode = 'when-required' | 'when-supported';

export interface S3BackendOptions {
  /** Region; when undefined the SDK's chain (AWS_REGION, profile) decides, and us-east-1 for endpoints. */
  region?: string;
  storageClass?: string;
  /**
   * The SDK's extra CRC checksums: several S3-compatible servers reject them or store the
   * aws-chunked framing as data, so endpoints default to "when-required" (Content-MD5 still
   * protects every upload); AWS defaults to "when-supported".
   */
  checksums?: ChecksumMode;
  /** Compare a plain MD5 ETag with the MD5 sent (off for buckets with SSE-KMS or SSE-C). */
  verifyEtag?: boolean;
  /** Sockets open at once: uploads and downloads in flight never exceed it. */
  maxSockets?: number;
  connectTimeoutMs?: number;
  /** A socket that stays silent this long is closed and the request fails (and is retried). */
  idleTimeoutMs?: number;
}

export class S3Backend implements Backend {
  readonly location: string;
  readonly parallelism: number;
  private readonly loc: S3Location;
  private readonly client: S3Client;
  private readonly opts: S3BackendOptions;

  constructor(loc: S3Location, opts: S3BackendOptions = {}) {
    this.loc = loc;
    this.opts = opts;
    this.location = formatS3Location(loc);
    const maxSockets = opts.maxSockets ?? 32;
    this.parallelism = maxSockets;
    const checksums = opts.checksums ?? (loc.endpoint ? 'when-required' : 'when-supported');
    const mode = checksums === 'when-required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED';
    const agent = { keepAlive: true, maxSockets };
    this.client = new S3Client({
      ...(loc.endpoint ? { endpoint: loc.endpoint, forcePathStyle: true } : {}),
      ...(opts.region ? { region: opts.region } : loc.endpoint ? { region: 'us-east-1' } : {}),
      maxAttempts: 1,
      // With "Expect: 100-continue" (the SDK's default for bodies of 2 MiB and more), the default
      // handler sends each pack on a fresh connection outside the pool (no keep-alive, no socket
      // cap): a TLS handshake per pack on a real bucket. Sending the body at once costs only a
      // wasted upload when the server refuses the request.
      expectContinueHeader: false,
      requestChecksumCalculation: mode,
      responseChecksumValidation: mode,
      requestHandler: {
        connectionTimeout: opts.connectTimeoutMs ?? 10_000,
        socketTimeout: opts.idleTimeoutMs ?? 60_000,
        httpAgent: agent,
        httpsAgent: agent,
      },
    });
  }

  private key(name: string): string {
    if (name.includes('..') || name.startsWith('/')) throw new EngineError(ErrorCode.INTERNAL, `unsafe object name "${name}"`);
    return `${this.loc.prefix}${name}`;
  }

  async rootExists(): Promise<boolean> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.loc.bucket }));
      return true;
    } catch (err) {
      if (statusOf(err) === 404) return false;
      throw this.wrap(err, '.', 'cannot reach the bucket');
    }
  }

  async createRoot(): Promise<void> {
    if (!(await this.rootExists())) {
      try {
        await this.client.send(new CreateBucketCommand({ Bucket: this.loc.bucket }));
      } catch (err) {
        const name = (err as { name?: string }).name;
        if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw this.wrap(err, '.', 'cannot create the bucket');
      }
    }
    const page = await this.send('.', 'cannot list', undefined, () => this.client.send(new ListObjectsV2Command({ Bucket: this.loc.bucket, Prefix: this.loc.prefix, MaxKeys: 1 })));
    if ((page.KeyCount ?? page.Contents?.length ?? 0) > 0) throw new RepoExistsError(this.location);
  }

  async save(name: string, data: Uint8Array, opts?: ObjectOptions): Promise<void> {
    const md5 = createHash('md5').update(data).digest();
    const signal = opts?.signal;
    const out = await this.send(name, 'cannot save', signal, () =>
      this.client.send(
        new PutObjectCommand({
          Bucket: this.loc.bucket,
          Key: this.key(name),
          Body: data,
          ContentLength: data.length,
          ContentMD5: md5.toString('base64'),
          ...(this.opts.storageClass ? { StorageClass: this.opts.storageClass as StorageClass } : {}),
        }),
        { abortSignal: signal },
      ),
    );
    const etag = out.ETag?.replace(/"/g, '').toLowerCase();
    if (this.opts.verifyEtag !== false && etag && /^[0-9a-f]{32}$/.test(etag) && etag !== md5.toString('hex')) {
      // The server stored something other than what was sent: it goes (so nothing ever adopts
      // it as a stray pack), and the error is transient, so the object is sent again.
      await this.client.send(new DeleteObjectCommand({ Bucket: this.loc.bucket, Key: this.key(name) })).catch(() => undefined);
      throw new EngineError(ErrorCode.BACKEND_TRANSIENT, `cannot save "${name}" to ${this.location}: the server's ETag ${etag} is not the MD5 of the bytes sent`, {
        hint: 'if the bucket encrypts with SSE-KMS or SSE-C, ETags are not MD5s: pass --s3-no-verify-etag',
      });
    }
  }

  async load(name: string, range?: ByteRange, opts?: ObjectOptions): Promise<Uint8Array> {
    if (range && range.length === 0) {
      throwIfAborted(opts?.signal, `reading "${name}"`);
      await this.stat(name);
      return new Uint8Array(0);
    }
    const signal = opts?.signal;
    return this.send(name, 'cannot read', signal, async () => {
      const out = await this.client.send(
        new GetObjectCommand({
          Bucket: this.loc.bucket,
          Key: this.key(name),
          ...(range ? { Range: `bytes=${range.offset}-${range.offset + range.length - 1}` } : {}),
        }),
        { abortSignal: signal },
      );
      const announced = out.ContentLength;
      if (announced === undefined) {
        (out.Body as Readable | undefined)?.destroy();
        throw new EngineError(ErrorCode.BACKEND_TRANSIENT, `reading "${name}" from ${this.location}: the answer has no Content-Length`);
      }
      if (range && announced !== range.length) {
        (out.Body as Readable | undefined)?.destroy();
        if (announced > range.length) {
          // HTTP lets a server ignore Range and send the whole object; reading whole packs for
          // every blob would be ruinous, so such a server is refused outright.
          throw new EngineError(ErrorCode.BACKEND_PERMANENT, `${this.location} ignored the byte range asked for when reading "${name}" (sent ${announced} bytes for a range of ${range.length})`, {
            hint: 'engine needs an S3 server that supports ranged GETs',
          });
        }
        // The server answered with fewer bytes than asked: the object itself is shorter.
        throw new EngineError(ErrorCode.INTEGRITY, `object "${name}" in ${this.location} is shorter than expected: wanted ${range.length} bytes at ${range.offset}, the server has ${announced}`);
      }
      return readBody(out.Body as Readable, announced, `reading "${name}" from ${this.location}`);
    });
  }

  async stat(name: string): Promise<ObjectInfo> {
    const out = await this.send(name, 'cannot stat', undefined, () => this.client.send(new HeadObjectCommand({ Bucket: this.loc.bucket, Key: this.key(name) })));
    return { name, size: out.ContentLength ?? 0 };
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    let token: string | undefined;
    const strip = this.loc.prefix.length;
    do {
      const page = await this.send(prefix, 'cannot list', undefined, () =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.loc.bucket, Prefix: this.key(prefix), ContinuationToken: token })),
      );
      for (const o of page.Contents ?? []) {
        if (!o.Key || o.Key.endsWith('/')) continue;
        yield { name: o.Key.slice(strip), size: o.Size ?? 0 };
      }
      if (!page.IsTruncated) break;
      // A listing that claims more pages without a new token would end short or loop forever;
      // a short listing of index/ or keys/ is worse than a failed one.
      if (!page.NextContinuationToken || page.NextContinuationToken === token) {
        throw new EngineError(ErrorCode.BACKEND_TRANSIENT, `listing "${prefix}" in ${this.location}: the server said more keys follow but gave no new continuation token`);
      }
      token = page.NextContinuationToken;
    } while (token);
  }

  async remove(name: string): Promise<void> {
    await this.send(name, 'cannot remove', undefined, () => this.client.send(new DeleteObjectCommand({ Bucket: this.loc.bucket, Key: this.key(name) })));
  }

  async close(): Promise<void> {
    this.client.destroy();
  }

  private async send<T>(name: string, op: string, signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    throwIfAborted(signal, `${op} "${name}" in ${this.location}`);
    try {
      return await fn();
    } catch (err) {
      if (signal?.aborted) throw new AbortedError(`${op} "${name}" in ${this.location}: interrupted`);
      if (err instanceof EngineError) throw err;
      throw this.wrap(err, name, op);
    }
  }

  /** Sorts an SDK or network error into not-found, transient (worth a retry) or permanent. */
  private wrap(err: unknown, name: string, op: string): EngineError {
    const status = statusOf(err);
    const errName = (err as { name?: string } | null)?.name ?? '';
    const code = (err as { code?: string } | null)?.code ?? '';
    const detail = `${errName && errName !== 'Error' ? `${errName}: ` : ''}${err instanceof Error ? err.message : String(err)}${status ? ` (HTTP ${status})` : ''}`;
    const msg = `${op} "${name}" in ${this.location}: ${detail}`;
    if (errName === 'NoSuchBucket') {
      return new EngineError(ErrorCode.BACKEND_NOT_FOUND, msg, { hint: `the bucket ${this.loc.bucket} does not exist; create the repository with \`engine init\``, cause: err });
    }
    if (status === 404 || errName === 'NoSuchKey' || errName === 'NotFound') return notFound(this.location, name, err);
    if (status === 416 || errName === 'InvalidRange') {
      // A range starting past the end: the object is shorter than the index says (damage).
      return new EngineError(ErrorCode.INTEGRITY, `object "${name}" in ${this.location} is shorter than expected (${detail})`, { cause: err });
    }
    if (status === 401 || status === 403 || errName === 'InvalidAccessKeyId' || errName === 'SignatureDoesNotMatch' || errName === 'AccessDenied') {
      return new EngineError(ErrorCode.BACKEND_PERMANENT, msg, { hint: 'check the credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE) and the bucket policy', cause: err });
    }
    if (errName === 'CredentialsProviderError' || /Could not load credentials/i.test(detail)) {
      return new EngineError(ErrorCode.BACKEND_PERMANENT, msg, { hint: 'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in the environment', cause: err });
    }
    if (/Region is missing/i.test(detail)) {
      return new EngineError(ErrorCode.USAGE, msg, { hint: 'set AWS_REGION (or a region in your AWS profile), or give --s3-region', cause: err });
    }
    if (status === undefined || status >= 500 || status === 408 || status === 429 || errName === 'SlowDown' || errName === 'RequestTimeout' || errName === 'TimeoutError' || TRANSIENT_CODES.has(code)) {
      return new EngineError(ErrorCode.BACKEND_TRANSIENT, msg, { cause: err });
    }
    return new EngineError(ErrorCode.BACKEND_PERMANENT, msg, { cause: err });
  }
}

const TRANSIENT_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH', 'ERR_STREAM_PREMATURE_CLOSE']);

function statusOf(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
}

/**
 * Reads a response body into one buffer of the announced size: no list of chunks and no second
 * copy. A body that ends early or runs long is a network fault (transient), not damaged data.
 */
async function readBody(body: Readable, length: number, what: string): Promise<Uint8Array> {
  const out = Buffer.allocUnsafe(length);
  let got = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (got + chunk.length > length) throw new EngineError(ErrorCode.BACKEND_TRANSIENT, `${what}: the body is longer than its Content-Length ${length}`);
      chunk.copy(out, got);
      got += chunk.length;
    }
  } catch (err) {
    body.destroy();
    if (err instanceof EngineError) throw err;
    throw new EngineError(ErrorCode.BACKEND_TRANSIENT, `${what}: the connection broke after ${got} of ${length} bytes (${err instanceof Error ? err.message : String(err)})`, { cause: err });
  }
  if (got !== length) throw new EngineError(ErrorCode.BACKEND_TRANSIENT, `${what}: the body ended after ${got} of ${length} bytes`);
  return new Uint8Array(out.buffer, out.byteOffset, length);
}
