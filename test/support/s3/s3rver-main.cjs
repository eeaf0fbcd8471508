// Runs s3rver on 127.0.0.1 and prints {"port": N} once it listens. Started by server.ts as
// `node --openssl-legacy-provider s3rver-main.cjs DIR BUCKET...`: without that flag s3rver's
// paginated ListObjectsV2 fails with HTTP 500 on Node >= 17 (shared/PACKAGES.md).
'use strict';
const S3rver = require('s3rver');

const [directory, ...buckets] = process.argv.slice(2);
const server = new S3rver({
  address: '127.0.0.1',
  port: 0,
  silent: true,
  directory,
  configureBuckets: buckets.map((name) => ({ name })),
});
server.run().then(
  (addr) => process.stdout.write(`${JSON.stringify({ port: addr.port })}\n`),
  (err) => {
    process.stderr.write(`s3rver failed to start: ${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  },
);
process.on('SIGTERM', () => server.close().finally(() => process.exit(0)));
