import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../errors/engine-error.js';
import { formatS3Location, parseS3Location } from './location.js';

describe('S3 locations', () => {
  it('reads an S3-compatible endpoint with bucket and nested prefix', () => {
    const l = parseS3Location('s3:https://s3.example.net:9000/my-bucket/hosts/nas');
    expect(l).toEqual({ endpoint: 'https://s3.example.net:9000', bucket: 'my-bucket', prefix: 'hosts/nas/' });
    expect(formatS3Location(l)).toBe('s3:https://s3.example.net:9000/my-bucket/hosts/nas');
  });

  it('reads an endpoint with a bucket and no prefix, trailing slashes or not', () => {
    for (const loc of ['s3:http://127.0.0.1:4568/b-1', 's3:http://127.0.0.1:4568/b-1/']) {
      expect(parseS3Location(loc)).toEqual({ endpoint: 'http://127.0.0.1:4568', bucket: 'b-1', prefix: '' });
    }
  });

  it('reads the AWS form, bucket and optional prefix, with no endpoint', () => {
    expect(parseS3Location('s3:my.bucket/a/b')).toEqual({ endpoint: undefined, bucket: 'my.bucket', prefix: 'a/b/' });
    expect(parseS3Location('s3:my.bucket')).toEqual({ endpoint: undefined, bucket: 'my.bucket', prefix: '' });
    expect(formatS3Location(parseS3Location('s3:my.bucket/a/b'))).toBe('s3:my.bucket/a/b');
  });

  it.each([
    ['s3:', 'no bucket'],
    ['s3:http://host:9000/', 'no bucket'],
    ['s3:ftp://host/b', 'only http'],
    ['s3:x', 'not a valid bucket'],
    ['s3:b!d/x', 'not a valid bucket'],
    ['s3:bucket/../x', '"." or ".."'],
    ['s3:http://host/b?versionId=1', 'query'],
  ])('refuses %s with a usage error naming the problem', (loc, why) => {
    expect(() => parseS3Location(loc)).toThrow(expect.objectContaining({ code: ErrorCode.USAGE, message: expect.stringContaining(why) }));
  });

  it.each([
    ['s3:http://AKIAEXAMPLE:sup3r-s3cret@host:9000/bucket', 'sup3r-s3cret'],
    // AWS secrets hold "/" and "+"; a "/" makes the URL unparsable, and "@" may appear twice.
    ['s3:https://AKIAEXAMPLE:wJalr/K7MDENG+bPxRfiCY@host/bkt', 'K7MDENG+bPxRfiCY'],
    ['s3:https://AKIAEXAMPLE:p@ss@host/bkt', 'p@ss'],
  ])('refuses credentials in the location without ever echoing them (%#)', (loc, secret) => {
    let err: unknown;
    try {
      parseS3Location(loc);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: ErrorCode.USAGE });
    const text = `${(err as Error).message} ${(err as { hint?: string }).hint ?? ''}`;
    expect(text).not.toContain(secret);
    expect(text).not.toContain('AKIAEXAMPLE');
  });
});
