// The layering of engine, as rules a tool checks (`npm run lint:deps`, run by .ci/run).
// Floors, bottom up: native-bindings (primitives, knows nothing of the project) -> format and
// crypto (bytes on disk; know nothing of storage or the CLI) -> backend (stores named objects;
// knows nothing of packs, keys or formats) -> repository (the one front door to stored data) ->
// archiver, restorer, check, prune, repair, inspect (the work) -> cli (flags in, text out).
// Tests may reach across floors (a format test may read a tree back through the repository);
// the shipped code may not.
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
      to: { path: '^src/(cli|backend|repository|archiver|restorer|check|prune|repair|inspect|benchmark)/' },
    },
    {
      name: 'backends-know-no-packs',
      severity: 'error',
      comment: 'A backend stores named objects; packs, keys and formats are the repository\'s business.',
      from: { path: '^src/backend/', pathNot: '\\.test\\.ts$' },
      to: { path: '^src/(repository|format|crypto|index|archiver|restorer|cli|check|prune|repair|inspect)/' },
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
