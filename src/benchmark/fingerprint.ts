// The machine a report was measured on: CPU model and the instruction-set features that decide
// which cipher is fast, cores, RAM, OS, Node, and the versions of the packages behind each primitive.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { arch, cpus, platform, release, totalmem, version as osVersion } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ADAPTERS } from '../../native-bindings/index.js';
import { engineVersion } from '../package-info.js';
import type { NativePolicy, PrimitiveName, SelectionReport } from '../../native-bindings/types.js';
import type { ChosenImpl, Fingerprint } from './types.js';

const X86_FEATURES = ['aes', 'pclmulqdq', 'avx2', 'avx512f', 'sha_ni'] as const;
const ARM_FEATURES = ['asimd', 'aes', 'pmull', 'sha2'] as const;

/**
 * The relevant features from /proc/cpuinfo: the `flags` line on x86, `Features` on ARM (where
 * `asimd` is NEON on 64-bit and `neon` on 32-bit). Null when the text has neither line.
 */
export function parseCpuFeatures(cpuinfo: string, cpuArch: string): Record<string, boolean> | null {
  const line = (label: string): Set<string> | null => {
    const m = new RegExp(`^${label}\\s*:(.*)$`, 'm').exec(cpuinfo);
    return m?.[1] === undefined ? null : new Set(m[1].trim().split(/\s+/));
  };
  if (cpuArch === 'x64' || cpuArch === 'ia32') {
    const flags = line('flags');
    if (flags === null) return null;
    return Object.fromEntries(X86_FEATURES.map((f) => [f, flags.has(f)]));
  }
  const feats = line('Features');
  if (feats === null) return null;
  const out: Record<string, boolean> = Object.fromEntries(ARM_FEATURES.map((f) => [f, feats.has(f)]));
  if (feats.has('neon')) out.asimd = true;
  return out;
}

function cpuFeatures(): { features: Record<string, boolean> | null; source: string } {
  if (platform() !== 'linux') return { features: null, source: `not read on ${platform()}` };
  try {
    const features = parseCpuFeatures(readFileSync('/proc/cpuinfo', 'utf8'), arch());
    return { features, source: features === null ? '/proc/cpuinfo has no flags/Features line' : '/proc/cpuinfo' };
  } catch (err) {
    return { features: null, source: `/proc/cpuinfo unreadable: ${(err as Error).message}` };
  }
}

const here = dirname(fileURLToPath(import.meta.url));
const requireHere = createRequire(import.meta.url);

function readJson(path: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(readFileSync(path, 'utf8'));
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The installed version of a package, or null. Packages whose exports hide package.json are found by walking up node_modules. */
export function packageVersion(name: string): string | null {
  try {
    const v = readJson(requireHere.resolve(`${name}/package.json`))?.version;
    if (typeof v === 'string') return v;
  } catch {
    // not exported, or not installed: look for it the way Node's resolver walks
  }
  for (let dir = here; ; dir = dirname(dir)) {
    const v = readJson(join(dir, 'node_modules', name, 'package.json'))?.version;
    if (typeof v === 'string') return v;
    if (dirname(dir) === dir) return null;
  }
}

/** Every npm package that implements a candidate of some primitive (impls named node:* are built in). */
export function primitivePackages(): string[] {
  const names = new Set<string>();
  for (const adapter of Object.values(ADAPTERS)) {
    for (const c of adapter.candidates) if (!c.impl.startsWith('node:')) names.add(c.impl);
  }
  return [...names].sort();
}

export function collectFingerprint(policy: NativePolicy, selection: readonly SelectionReport[]): Fingerprint {
  const { features, source } = cpuFeatures();
  const packages: Record<string, string | null> = {};
  for (const name of primitivePackages()) packages[name] = packageVersion(name);
  packages.openssl = process.versions.openssl ?? null;
  packages.tinybench = packageVersion('tinybench');
  const chosen: Partial<Record<PrimitiveName, ChosenImpl>> = {};
  for (const r of selection) chosen[r.primitive] = { impl: r.chosen, kind: r.kind };
  for (const name of Object.keys(ADAPTERS) as PrimitiveName[]) {
    if (chosen[name] === undefined) throw new TypeError(`selection report lacks ${name}`);
  }
  const cpuList = cpus();
  return {
    cpu: { model: cpuList[0]?.model.trim() ?? 'unknown', features, featureSource: source },
    logicalCores: cpuList.length,
    ramBytes: totalmem(),
    arch: arch(),
    os: { platform: platform(), release: release(), version: osVersion() },
    node: process.version,
    engine: engineVersion(),
    packages,
    policy,
    chosen: chosen as Record<PrimitiveName, ChosenImpl>,
  };
}
