// The layering of engine, as rules a tool checks (`npm run lint:deps`, run by .ci/run).
// Floors, bottom up (docs/ARCHITECTURE.md draws them): native-bindings (primitives, knows nothing
// of the project) -> util, memory, worker-pool, errors, chunker, then format and crypto (bytes on
// disk; know nothing of storage or the CLI), fs -> backend (stores named objects; knows nothing
// of packs, keys or formats) -> repository (the one front door to stored data) -> disk-index ->
// archiver, restorer, check, prune, repair, inspect (the work) -> session (opening) -> cli and
// benchmark. Tests may reach across floors (a format test may read a tree back through the
// repository, a fault test may forge stored objects), except up into the CLI; shipped code may not.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A cycle makes two modules one: neither can be understood, tested or moved alone.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'native-bindings-stand-alone',
      severity: 'error',
      comment: 'Primitives know nothing of the project: they are swapped per platform and tested on their own.',
      from: { path: '^native-bindings/', pathNot: '\\.test\\.ts$' },
      to: { path: '^(src|workers|bench|test)/' },
    },
    {
      name: 'format-and-crypto-below-storage-and-cli',
      severity: 'error',
      comment: 'The bytes on disk are defined without knowing where they are stored or who asked.',
      from: { path: '^src/(format|crypto)/', pathNot: '\\.test\\.ts$' },
      to: { path: '^src/(cli|session|backend|repository|disk-index|archiver|restorer|check|prune|repair|inspect|benchmark|worker-pool)/' },
    },
    {
      name: 'backends-know-no-packs',
      severity: 'error',
      comment: 'A backend stores named objects; packs, keys and formats are the repository\'s business.',
      from: { path: '^src/backend/', pathNot: '\\.test\\.ts$' },
      to: { path: '^src/(repository|format|crypto|disk-index|archiver|restorer|cli|check|prune|repair|inspect|session|benchmark)/' },
    },
    {
      name: 'repository-knows-no-work',
      severity: 'error',
      comment: 'The repository is the floor the work stands on: it never calls up into a command, the session or the CLI.',
      from: { path: '^src/repository/', pathNot: '\\.test\\.ts$' },
      to: { path: '^src/(cli|session|disk-index|archiver|restorer|check|prune|repair|inspect|benchmark)/' },
    },
    {
      name: 'utilities-know-no-work',
      severity: 'error',
      comment: 'Utilities, the memory planner, the worker pool, errors, file-system access, path patterns and the chunker are used by every floor above and use none of them.',
      from: { path: '^src/(util|memory|worker-pool|errors|fs|chunker|filter)/', pathNot: '\\.test\\.ts$' },
      to: { path: '^src/(cli|session|backend|repository|disk-index|archiver|restorer|check|prune|repair|inspect|benchmark)/' },
    },
    {
      name: 'storage-layout-and-pack-format-only-in-repository',
      severity: 'error',
      comment: 'Only the repository knows where objects are stored, how a pack is laid out, and its keys: the rest asks it for packs, snapshots, index objects and keys by id (Repository also keeps its backend and keys private, so the type checker refuses repo.backend elsewhere). Tests may reach in to damage or forge stored objects.',
      from: { path: '^(src|workers|bench)/', pathNot: ['^src/repository/', '^src/format/', '\\.test\\.ts$'] },
      to: { path: ['^src/repository/(layout|storage)\\.ts$', '^src/format/pack\\.ts$'] },
    },
    {
      name: 'nothing-below-the-cli-imports-it',
      severity: 'error',
      comment: 'The CLI is flags in, one library call, text out: the library, the benchmark, workers, bench scripts and tests never reach up into it (a test of a command lives next to it in src/cli/).',
      from: { path: '^(src|workers|native-bindings|bench|test)/', pathNot: '^src/cli/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'no-dev-folders-in-shipped-code',
      severity: 'error',
      comment: 'The package ships dist/src, dist/workers and dist/native-bindings only (package.json "files").',
      from: { path: '^(src|workers|native-bindings)/', pathNot: '\\.test\\.ts$' },
      to: { path: '^(bench|test)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
  },
};
