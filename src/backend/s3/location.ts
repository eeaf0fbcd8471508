// Parses the two shapes of an S3 repository location:
//   s3:http(s)://host[:port]/bucket[/prefix]   any S3-compatible endpoint, path-style addressing
//   s3:bucket[/prefix]                         AWS itself, region from the usual AWS chain
import { UsageError } from '../../errors/engine-error.js';

export interface S3Location {
  /** Endpoint URL for S3-compatible servers; undefined for AWS. */
  readonly endpoint: string | undefined;
  readonly bucket: string;
  /** Key prefix inside the bucket, empty or ending in "/". */
  readonly prefix: string;
}

// Bucket names as S3 allows them (3-63 characters, lowercase, digits, dots, hyphens), plus
// underscores and capitals that some S3-compatible servers accept.
const BUCKET = /^[A-Za-z0-9][A-Za-z0-9._-]{1,62}$/;

export function parseS3Location(location: string): S3Location {
  if (!location.startsWith('s3:')) throw new UsageError(`"${location}" is not an S3 location`, { hint: 'S3 locations start with s3:' });
  const rest = location.slice(3);
  // A location may hold a credential typed by mistake (http://key:secret@host): never echo it.
  const shown = location.replace(/\/\/[^?#]*@/, '//***@');
  const bad = (why: string): UsageError =>
    new UsageError(`invalid S3 location "${shown}": ${why}`, {
      hint: 'use s3:http(s)://host[:port]/bucket[/prefix] for an S3-compatible server, or s3:bucket[/prefix] for AWS',
    });
  let endpoint: string | undefined;
  let path: string;
  if (/^https?:\/\//.test(rest)) {
    let url: URL;
    try {
      url = new URL(rest);
    } catch {
      throw bad('the endpoint is not a valid URL');
    }
    if (url.username || url.password) throw bad('credentials do not belong in the location; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
    if (url.search || url.hash) throw bad('the location cannot hold a query or fragment');
    endpoint = `${url.protocol}//${url.host}`;
    path = decodeURIComponent(url.pathname);
  } else {
    if (rest.includes('://')) throw bad('only http:// and https:// endpoints are supported');
    path = rest;
  }
  const parts = path.split('/').filter((p) => p.length > 0);
  const bucket = parts.shift();
  if (!bucket) throw bad('no bucket given');
  if (!BUCKET.test(bucket)) throw bad(`"${bucket}" is not a valid bucket name`);
  if (parts.some((p) => p === '.' || p === '..')) throw bad('the prefix cannot contain "." or ".." components');
  return { endpoint, bucket, prefix: parts.length > 0 ? `${parts.join('/')}/` : '' };
}

/** The location as shown in messages: endpoint, bucket and prefix, never a credential. */
export function formatS3Location(l: S3Location): string {
  const path = `${l.bucket}${l.prefix ? `/${l.prefix.replace(/\/$/, '')}` : ''}`;
  return l.endpoint ? `s3:${l.endpoint}/${path}` : `s3:${path}`;
}
