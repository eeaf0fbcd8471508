import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadPrimitives } from '../../native-bindings/index.js';
import { collectFingerprint, packageVersion, parseCpuFeatures } from './fingerprint.js';
import { engineVersion } from '../package-info.js';

describe('parseCpuFeatures', () => {
  it('reads x86 flags and ARM Features', () => {
    const x86 = 'processor\t: 0\nmodel name\t: X\nflags\t\t: fpu sse2 aes pclmulqdq avx2 sha_ni\n';
    expect(parseCpuFeatures(x86, 'x64')).toEqual({ aes: true, pclmulqdq: true, avx2: true, avx512f: false, sha_ni: true });
    const pi4 = 'processor\t: 0\nFeatures\t: fp asimd evtstrm crc32 cpuid\n';
    expect(parseCpuFeatures(pi4, 'arm64')).toEqual({ asimd: true, aes: false, pmull: false, sha2: false });
    const pi32 = 'Features\t: half thumb fastmult vfp edsp neon vfpv3\n';
    expect(parseCpuFeatures(pi32, 'arm')?.asimd).toBe(true);
    expect(parseCpuFeatures('nothing here', 'x64')).toBeNull();
  });
});

describe('collectFingerprint', () => {
  it('has every required field', async () => {
    const policy = process.env.ENGINE_NATIVE === 'off' ? 'fallback' : 'auto';
    const { report } = await loadPrimitives(policy);
    const f = collectFingerprint(policy, report);
    expect(f.cpu.model.length).toBeGreaterThan(0);
    if (process.platform === 'linux') expect(f.cpu.features).not.toBeNull();
    expect(f.logicalCores).toBeGreaterThan(0);
    expect(f.ramBytes).toBeGreaterThan(0);
    expect(f.arch).toBe(process.arch);
    expect(f.os.platform).toBe(process.platform);
    expect(f.os.release.length).toBeGreaterThan(0);
    expect(f.node).toBe(process.version);
    expect(f.engine).toMatch(/^\d+\.\d+\.\d+/);
    expect(f.policy).toBe(policy);
    for (const r of report) expect(f.chosen[r.primitive]).toEqual({ impl: r.chosen, kind: r.kind });
    // Packages every install has (fallbacks are regular dependencies), with their versions.
    for (const name of ['@noble/ciphers', 'hash-wasm', 'blake3-wasm', '@bokuweb/zstd-wasm']) expect(f.packages[name]).toMatch(/^\d+\.\d+\.\d+/);
    expect(f.packages.openssl).toBe(process.versions.openssl);
    expect(packageVersion('no-such-package-anywhere')).toBeNull();
    expect(engineVersion()).toBe(f.engine);
    // The version of this clone's package.json, found by its npm name.
    expect(f.engine).toBe((JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version);
  });
});
