// Builds the backend a repository is opened on from its location and the storage options (the
// CLI's --repo and storage flags): the store itself, then its decorators, innermost first:
//   store → [fault injection, tests only] → bandwidth limit → retry → metadata cache
// The limit sits under the retry so retried bytes count against it too; the cache sits on top so
// a cache hit costs neither a request nor bandwidth.
import { createHash } from 'node:crypto';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { withCache } from '../backend/decorators/cache-backend.js';
import { parseFaultSpec, withFaults } from '../backend/decorators/faulty-backend.js';
import { withRateLimit } from '../backend/decorators/rate-limit-backend.js';
import { DEFAULT_RETRY_POLICY, withRetry } from '../backend/decorators/retry-backend.js';
import { LocalBackend } from '../backend/local/local-backend.js';
import { parseS3Location } from '../backend/s3/location.js';
import type { ChecksumMode } from '../backend/s3/s3-backend.js';
import type { Backend } from '../backend/types.js';
import { UsageError } from '../errors/engine-error.js';
import { parseSize } from '../util/bytes.js';
import { keyStoreDefaults } from '../repository/key-store.js';
import { answerS3NodeWarning } from './node-support.js';

/** How to reach the storage: the CLI's storage flags, as given (sizes and rates as text). */
export interface StorageOptions {
  limitUpload?: string;
  limitDownload?: string;
  /** commander's --no-cache: false when given. */
  cache?: boolean;
  cacheDir?: string;
  s3StorageClass?: string;
  s3Checksums?: string;
  s3Region?: string;
  s3NoVerifyEtag?: boolean;
  s3Connections?: string;
}

/** What openBackend says and how: --json (no notes on stderr), --verbose, and --mem-budget for key files. */
export interface OpenBackendOptions extends StorageOptions {
  json?: boolean;
  /** --verbose (the CLI counts -v: any level above 0 is on). */
  verbose?: boolean | number;
  memBudget?: string;
}

export interface OpenedBackend {
  backend: Backend;
  /** Whether the repository is on another machine (remote stores get the cache and more requests in flight). */
  remote: boolean;
  /** The folder of the off-heap index (local and remote repositories alike); null with --no-cache. */
  indexCacheDir: string | null;
}

/**
 * The S3 client (about 25 MB of code and heap) is loaded only for an s3: location: a local
 * repository on a small board keeps that memory for its work.
 */
export async function openBackend(location: string, flags: OpenBackendOptions, warn: (m: string) => void = () => undefined): Promise<OpenedBackend> {
  // Key files are read right after the storage is opened, by every command: skipped ones are
  // named on this command's output, tried ones with --verbose, and a key whose Argon2id memory
  // does not fit --mem-budget is not run (src/repository/key-store.ts).
  keyStoreDefaults.onWarning = warn;
  // As Output.info prints: on stderr, and not in --json mode.
  keyStoreDefaults.onTry = flags.verbose && !flags.json ? (m) => process.stderr.write(`${m}\n`) : () => undefined;
  if (flags.memBudget !== undefined) keyStoreDefaults.memBudgetBytes = parseSize(flags.memBudget, '--mem-budget');
  let store: Backend;
  let remote = false;
  if (location.startsWith('s3:')) {
    remote = true;
    // The SDK warns that its releases after January 2027 need Node 22: engine answers that in
    // one line of its own, once, on Node < 22 (src/session/node-support.ts has the decision).
    answerS3NodeWarning(flags.json);
    const checksums = flags.s3Checksums;
    if (checksums !== undefined && checksums !== 'when-required' && checksums !== 'when-supported') {
      throw new UsageError(`--s3-checksums ${checksums}: expected "when-required" or "when-supported"`);
    }
    const region = flags.s3Region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
    const { S3Backend } = await import('../backend/s3/s3-backend.js');
    store = new S3Backend(parseS3Location(location), {
      ...(region ? { region } : {}),
      ...(flags.s3StorageClass ? { storageClass: flags.s3StorageClass } : {}),
      ...(checksums ? { checksums: checksums as ChecksumMode } : {}),
      verifyEtag: flags.s3NoVerifyEtag !== true,
      ...(flags.s3Connections ? { maxSockets: positiveInt(flags.s3Connections, '--s3-connections') } : {}),
      ...(process.env.ENGINE_S3_IDLE_TIMEOUT_MS ? { idleTimeoutMs: positiveInt(process.env.ENGINE_S3_IDLE_TIMEOUT_MS, 'ENGINE_S3_IDLE_TIMEOUT_MS') } : {}),
    });
  } else {
    const path = location.startsWith('local:') ? location.slice('local:'.length) : location;
    store = new LocalBackend(resolve(path));
  }

  let backend = store;
  const faults = faultSpec();
  if (faults) backend = withFaults(backend, parseFaultSpec(faults));
  const up = flags.limitUpload !== undefined ? parseRate(flags.limitUpload, '--limit-upload') : undefined;
  const down = flags.limitDownload !== undefined ? parseRate(flags.limitDownload, '--limit-download') : undefined;
  if (up !== undefined || down !== undefined) backend = withRateLimit(backend, { ...(up ? { uploadBytesPerSec: up } : {}), ...(down ? { downloadBytesPerSec: down } : {}) });
  const baseDelayMs = process.env.ENGINE_RETRY_BASE_MS ? positiveInt(process.env.ENGINE_RETRY_BASE_MS, 'ENGINE_RETRY_BASE_MS') : DEFAULT_RETRY_POLICY.baseDelayMs;
  backend = withRetry(backend, {
    ...DEFAULT_RETRY_POLICY,
    baseDelayMs,
    maxDelayMs: Math.max(baseDelayMs, Math.min(DEFAULT_RETRY_POLICY.maxDelayMs, baseDelayMs * 64)),
    onRetry: (e) => {
      if (flags.verbose) warn(`retrying ${e.op} "${e.name}" in ${Math.round(e.delayMs)} ms (attempt ${e.attempt}): ${e.error instanceof Error ? e.error.message : String(e.error)}`);
    },
  });
  if (remote && flags.cache !== false) backend = withCache(backend, cacheDirFor(store.location, flags.cacheDir), warn);
  return { backend, remote, indexCacheDir: flags.cache === false ? null : join(cacheDirFor(store.location, flags.cacheDir), 'local-index') };
}

/** The folder engine caches in: --cache-dir, else $ENGINE_CACHE_DIR, else $XDG_CACHE_HOME/engine (or ~/.cache/engine). */
export function cacheBaseDir(cacheDir?: string): string {
  return cacheDir ?? (process.env.ENGINE_CACHE_DIR || undefined) ?? join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'engine');
}

/**
 * The cache folder of one repository: in the cache base folder, named by a hash of the location,
 * so two repositories never share (and never prune) each other's cached objects.
 */
export function cacheDirFor(location: string, cacheDir?: string): string {
  return join(cacheBaseDir(cacheDir), createHash('sha256').update(location).digest('hex').slice(0, 16));
}

/** A bare number is KiB/s (as in restic); with a unit it is that many bytes per second: 500K, 10M. */
export function parseRate(text: string, what: string): number {
  const bytes = /^\s*\d+(\.\d+)?\s*$/.test(text) ? Math.floor(Number(text) * 1024) : parseSize(text, what);
  if (!(bytes > 0)) throw new UsageError(`${what} ${text}: the limit must be above zero`, { hint: 'give KiB/s (e.g. 2048) or a size per second (e.g. 2M)' });
  return bytes;
}

function positiveInt(text: string, what: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${what} ${text}: expected a whole number above zero`);
  return n;
}

/** ENGINE_TEST_HOOKS may hold `faults=<spec>` among its `;`-separated hooks (tests only). */
function faultSpec(): string | undefined {
  const hooks = process.env.ENGINE_TEST_HOOKS?.split(';') ?? [];
  return hooks.find((h) => h.startsWith('faults='))?.slice('faults='.length);
}
