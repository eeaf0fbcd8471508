// What engine says about the Node it runs on (docs/BACKENDS.md "Node versions and the AWS SDK").
//
// Decision (issue 16): engine supports Node 20, 22 and 24 and tests all three, but Node 20 is past
// its end of life (2026-04-30) and the AWS SDK, whose newest release still runs on Node 20, warns
// on every S3 client it builds that its releases published after the first week of January 2027
// will need Node 22. That warning is answered, not hidden: engine says it itself, in one line
// that names what the user can do (install Node 22 or 24), on stderr, and not in --json output
// (a script reading JSON has no use for it; `engine doctor` shows the same text as a reason).
// The SDK's own multi-line warning stays disabled because engine's line replaces it and
// because it speaks of an "upgrade" the user cannot get from engine: one package cannot depend
// on one SDK for Node 20 and a newer one for Node 22. Once the SDK drops Node 20, engine keeps
// the last release that supports it for as long as it supports Node 20, and this line is why.
// The line is said when the S3 client is loaded (where the SDK warned); local repositories
// are not affected by the SDK, and `engine doctor` shows the line on every Node it concerns.

/** Each major's end of life (the last day it gets fixes), from the Node release schedule. */
const END_OF_LIFE: Readonly<Record<number, string>> = {
  18: '2025-04-30',
  19: '2023-06-01',
  20: '2026-04-30',
  21: '2024-06-01',
  22: '2027-04-30',
  23: '2025-06-01',
  24: '2028-04-30',
  25: '2026-06-01',
};

/** The first Node major the AWS SDK's releases after January 2027 run on. */
export const S3_CLIENT_NODE_MAJOR = 22;

/**
 * Why the running Node (or `version`) is a problem, in one line, or undefined when it is not: a
 * major past its end of life on `now`, or older than the S3 client's releases after January 2027
 * need. For `engine doctor` to show, and said once by engine before an S3 repository is opened.
 */
export function nodeSupportNotice(version: string = process.versions.node, now: Date = new Date()): string | undefined {
  const major = Number.parseInt(version.replace(/^v/, ''), 10);
  if (!Number.isInteger(major)) return undefined;
  const eol = END_OF_LIFE[major];
  const pastEol = eol !== undefined && now.getTime() > Date.parse(`${eol}T23:59:59Z`);
  const oldForS3 = major < S3_CLIENT_NODE_MAJOR;
  if (!pastEol && !oldForS3) return undefined;
  const parts: string[] = [];
  if (pastEol) parts.push(`Node ${version.replace(/^v/, '')} is past its end of life (${eol}) and gets no security fixes`);
  if (oldForS3) parts.push(`releases of the S3 client engine uses published after January 2027 need Node ${S3_CLIENT_NODE_MAJOR} or newer`);
  return `${parts.join('; ')}: install Node 22 or 24 (engine is tested on 20, 22 and 24)`;
}

let said = false;

/**
 * Says nodeSupportNotice() once per process on stderr, unless in --json mode, and keeps the AWS
 * SDK's own warning (which this line replaces) silent. Call before the S3 client is loaded.
 */
export function answerS3NodeWarning(json: boolean | undefined): void {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  if (said) return;
  said = true;
  const notice = nodeSupportNotice();
  if (notice && !json) process.stderr.write(`note: ${notice}\n`);
}
