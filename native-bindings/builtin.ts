// Primitives Node carries itself (native code inside the node binary: no addon, no install
// script), present only from some Node version on. They are found by feature detection, never by
// parsing the version; the version only words the reason a candidate is rejected.

/** The reason a built-in is missing: "node:zlib zstd needs Node >= 22.15, this is v20.19.5". */
export function needsNode(feature: string, since: string): Error {
  return new Error(`${feature} needs Node >= ${since}, this is ${process.version}`);
}
