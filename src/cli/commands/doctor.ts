import { arch, cpus, platform, totalmem } from 'node:os';
import type { Output } from '../output.js';
import { primitives } from '../context.js';
import { loadPosix, posixPolicyFromEnv } from '../../../native-bindings/posix/index.js';
import { formatBytes } from '../../util/bytes.js';
import { nodeSupportNotice } from '../../session/node-support.js';

export async function doctorCommand(out: Output): Promise<number> {
  const { report, policy } = await primitives();
  const posixPolicy = posixPolicyFromEnv();
  const posix = (await loadPosix(posixPolicy)).report;
  if (out.json) {
    out.data({ node: process.version, nodeNotice: nodeSupportNotice() ?? null, platform: platform(), arch: arch(), cpus: cpus().length, memoryBytes: totalmem(), policy, primitives: report, posix: { policy: posixPolicy, ...posix } });
    return 0;
  }
  out.result(`node ${process.version} on ${platform()}/${arch()}, ${cpus().length} cores, ${formatBytes(totalmem())}; native primitives (addons, Node built-ins): ${policy === 'fallback' ? 'off (ENGINE_NATIVE=off: WASM/JS fallbacks)' : 'on'}`);
  // A Node past its end of life, or too old for the S3 client's next releases, is said here too.
  const notice = nodeSupportNotice();
  if (notice !== undefined) out.result(notice);
  // One line per primitive: the implementation in use and its kind (native: an addon; builtin: in
  // Node itself; wasm, js: a fallback), then every candidate passed over and why.
  for (const r of report) {
    out.result(`${r.primitive.padEnd(18)} ${r.chosen} (${r.kind})`);
    for (const rej of r.rejected) out.result(`${''.padEnd(18)}   rejected ${rej.impl}: ${rej.reason}`);
  }
  // The OS calls Node lacks: what restores can put back beyond contents, modes and owners.
  const caps = Object.entries(posix.caps).map(([k, v]) => `${k} ${v ? 'yes' : 'no'}`).join(', ');
  out.result(`${'file metadata'.padEnd(18)} ${posix.chosen} (${posix.kind}): ${caps}`);
  for (const rej of posix.rejected) out.result(`${''.padEnd(18)}   rejected ${rej.impl}: ${rej.reason}`);
  return 0;
}
