// Primitives Node carries itself (native code inside the node binary: no addon, no install
// script), present only from some Node version on. They are found by feature detection, never by
// parsing the version; the version only words the reason a candidate is rejected.

/** The first release, per release line, with a feature: [[22, 15], [23, 8]] is 22.15+, 23.8+ and any later major. */
export type Since = readonly (readonly [major: number, minor: number])[];

/** Whether a Node of version `running` ships a feature added in `since` (by its version alone). */
export function nodeShips(since: Since, running: string = process.version): boolean {
  const m = /^v?(\d+)\.(\d+)/.exec(running);
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  const last = since[since.length - 1];
  if (last !== undefined && major > last[0]) return true;
  const line = since.find(([lineMajor]) => lineMajor === major);
  return line !== undefined && minor >= line[1];
}

function words(since: Since): string {
  const [first, ...rest] = since;
  if (first === undefined) return '?';
  const more = rest.map(([major, minor]) => `${major}.${minor} on the ${major} line`);
  return `${first[0]}.${first[1]}${more.length > 0 ? ` (or ${more.join(', ')})` : ''}`;
}

/**
 * The reason a built-in is missing: "node:zlib zstd needs Node >= 22.15 (or 23.8 on the 23 line),
 * this is v20.19.5"; on a Node that should have it (a build without it, e.g. linked to an older
 * shared OpenSSL), says so instead of asking for a version the user already runs.
 */
export function needsNode(feature: string, since: Since, running: string = process.version): Error {
  if (nodeShips(since, running)) {
    return new Error(`${feature} is missing from this Node (${running}), although Node >= ${words(since)} normally has it: built without it?`);
  }
  return new Error(`${feature} needs Node >= ${words(since)}, this is ${running}`);
}
