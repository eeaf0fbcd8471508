// Test files whose results cannot depend on which implementation of a primitive is in use: they
// reach nothing in native-bindings/ or workers/ and start no engine process. The fallback
// project (ENGINE_NATIVE=off) skips them, since it would run the same code a second time.
// test/primitive-free.test.ts checks this list against the import graph, so a file that starts
// using a primitive cannot silently lose its fallback run.
export const PRIMITIVE_FREE_TESTS: readonly string[] = [
  'src/fs/sorted-names.test.ts',
  'src/backend/decorators/cache-backend.test.ts',
  'src/cli/backup-options.test.ts',
  'src/backend/decorators/faulty-backend.test.ts',
  'src/backend/decorators/forwarding-backend.test.ts',
  'src/backend/decorators/rate-limit-backend.test.ts',
  'src/backend/decorators/retry-backend.test.ts',
  'src/backend/s3/location.test.ts',
  'src/errors/wire.test.ts',
  'src/format/format.test.ts',
  'src/format/tree-names.test.ts',
  'src/format/tree-xattrs.test.ts',
  'src/fs/dir-handle.test.ts',
  'src/filter/glob.test.ts',
  'src/filter/pattern-file.test.ts',
  'src/filter/pattern.test.ts',
  'src/fs/names.test.ts',
  'src/inspect/diff.test.ts',
  'src/inspect/find.test.ts',
  'src/inspect/tar.test.ts',
  'src/util/concurrency.prop.test.ts',
  'src/util/concurrency.test.ts',
  'src/memory/planner.test.ts',
  'src/repository/snapshot-filter.test.ts',
  'src/retention/policy.test.ts',
  'src/session/node-support.test.ts',
  'test/backend/local.test.ts',
  'test/backend/memory.test.ts',
  'test/backend/s3.test.ts',
  'test/support/tree.test.ts',
  'test/primitive-free.test.ts',
];
