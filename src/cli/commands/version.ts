import { arch, platform } from 'node:os';
import { engineVersion } from '../../package-info.js';
import { primitives } from '../context.js';
import type { Output } from '../output.js';

/**
 * restic's `version`: one line saying what runs (engine's version, Node's, the platform) and, as
 * engine's primitives differ from machine to machine, which implementation of each is in use
 * (`engine doctor` says why).
 */
export async function versionCommand(out: Output): Promise<number> {
  const version = engineVersion() ?? 'unknown';
  const { report } = await primitives();
  const used = Object.fromEntries(report.map((r) => [r.primitive, `${r.chosen} (${r.kind})`]));
  if (out.json) {
    out.data({ message_type: 'version', version, node_version: process.version, os: platform(), arch: arch(), primitives: used });
    return 0;
  }
  out.result(`engine ${version} on Node ${process.version} ${platform()}/${arch()}`);
  out.result(`primitives: ${report.map((r) => `${r.primitive} ${r.chosen} (${r.kind})`).join(', ')}`);
  return 0;
}
