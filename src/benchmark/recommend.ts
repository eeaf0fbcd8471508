// Recommendations drawn from a report's own figures (pure functions): a cipher, and a zstd level.
import type { PrimitiveName } from '../../native-bindings/types.js';
import type { BenchRow, CipherName, CipherRecommendation, LevelRecommendation, Recommendations } from './types.js';

/** AES-256-GCM is recommended only when it is this many times faster: XChaCha20-Poly1305 is the default and safe everywhere. */
export const AES_MARGIN = 1.2;
/** Compression need not be faster than this per core, even when the other stages are faster still. */
export const LEVEL_FLOOR_MBPS = 100;

/** The figures a recommendation reads: the rows, and which implementation the machine uses per primitive. */
export interface MachineFigures {
  readonly rows: readonly BenchRow[];
  readonly chosen: Readonly<Record<PrimitiveName, { readonly impl: string }>>;
}

const CIPHER_PRIMITIVE = { 'xchacha20-poly1305': 'xchacha20poly1305', 'aes-256-gcm': 'aes256gcm' } as const satisfies Record<CipherName, PrimitiveName>;

/** Median MB/s of the chosen implementation of `primitive` for one operation (first matching variant), or null. */
export function chosenFigure(m: MachineFigures, primitive: PrimitiveName | 'fastcdc', operation: string, variant?: string): number | null {
  const impl = primitive === 'fastcdc' ? undefined : m.chosen[primitive].impl;
  const row = m.rows.find(
    (r) => r.primitive === primitive && r.operation === operation && r.unit === 'MB/s' && (impl === undefined || r.impl === impl) && (variant === undefined || r.variant === variant),
  );
  return row?.median ?? null;
}

/** Per cipher: min(seal MB/s on the machine that writes, open MB/s on the machine that restores), each with its chosen implementation. */
export function cipherScores(writer: MachineFigures, reader: MachineFigures): Record<CipherName, number | null> {
  const score = (c: CipherName): number | null => {
    const seal = chosenFigure(writer, CIPHER_PRIMITIVE[c], 'seal');
    const open = chosenFigure(reader, CIPHER_PRIMITIVE[c], 'open');
    return seal === null || open === null ? null : Math.min(seal, open);
  };
  return { 'xchacha20-poly1305': score('xchacha20-poly1305'), 'aes-256-gcm': score('aes-256-gcm') };
}

export function pickCipher(scores: Record<CipherName, number | null>, rule: string): CipherRecommendation {
  const x = scores['xchacha20-poly1305'];
  const a = scores['aes-256-gcm'];
  const f = (n: number): string => `${n.toFixed(0)} MB/s`;
  if (x === null || a === null) {
    return { cipher: 'xchacha20-poly1305', scores, rule, reason: 'not both ciphers were measured; keeping the default' };
  }
  if (a > AES_MARGIN * x) {
    return { cipher: 'aes-256-gcm', scores, rule, reason: `aes-256-gcm ${f(a)} vs xchacha20-poly1305 ${f(x)}: ${(a / x).toFixed(2)}x, above the ${AES_MARGIN}x margin` };
  }
  return { cipher: 'xchacha20-poly1305', scores, rule, reason: `aes-256-gcm ${f(a)} vs xchacha20-poly1305 ${f(x)}: ${(a / x).toFixed(2)}x, not above the ${AES_MARGIN}x margin, so the default stays` };
}

export function recommendCipher(m: MachineFigures): CipherRecommendation {
  const rule = `per cipher, min(seal, open) MB/s of the implementation in use; aes-256-gcm only when over ${AES_MARGIN}x xchacha20-poly1305 (the default, safe on every CPU)`;
  return pickCipher(cipherScores(m, m), rule);
}

/**
 * The highest measured level whose compress MB/s on compressible input reaches the threshold:
 * min(LEVEL_FLOOR_MBPS, the slowest other per-byte stage: chunking, keyed hash, seal with `cipher`).
 * When none does, the lowest level measured. Null when no compress figure exists.
 */
export function recommendLevel(m: MachineFigures, cipher: CipherName): LevelRecommendation | null {
  const levels: { level: number; mbps: number; ratio: number | null }[] = [];
  for (const r of m.rows) {
    if (r.primitive !== 'zstd' || r.operation !== 'compress' || r.impl !== m.chosen.zstd.impl) continue;
    const match = /^level (\d+), compressible$/.exec(r.variant);
    if (match?.[1] === undefined) continue;
    levels.push({ level: Number(match[1]), mbps: r.median, ratio: r.ratio ?? null });
  }
  if (levels.length === 0) return null;
  levels.sort((x, y) => x.level - y.level);
  const stages: [string, number | null][] = [
    ['chunk', chosenFigure(m, 'fastcdc', 'chunk')],
    ['hash', chosenFigure(m, 'blake3', 'keyed-hash')],
    [`seal ${cipher}`, chosenFigure(m, CIPHER_PRIMITIVE[cipher], 'seal')],
  ];
  let slowest: [string, number] | null = null;
  for (const [name, v] of stages) if (v !== null && (slowest === null || v < slowest[1])) slowest = [name, v];
  const threshold = slowest === null ? LEVEL_FLOOR_MBPS : Math.min(LEVEL_FLOOR_MBPS, slowest[1]);
  const rule = `highest level whose one-core compress speed on compressible data reaches min(${LEVEL_FLOOR_MBPS} MB/s, the slowest other stage: chunk, hash, seal)`;
  const fit = levels.filter((l) => l.mbps >= threshold);
  const best = fit[fit.length - 1];
  const lowest = levels[0]!;
  const stageText = slowest === null ? 'no other stage measured' : `slowest other stage ${slowest[0]} ${slowest[1].toFixed(0)} MB/s`;
  if (best === undefined) {
    return { level: lowest.level, thresholdMBps: threshold, levels, rule, reason: `no measured level reaches ${threshold.toFixed(0)} MB/s (${stageText}), so the lowest measured, level ${lowest.level} (${lowest.mbps.toFixed(0)} MB/s)` };
  }
  return { level: best.level, thresholdMBps: threshold, levels, rule, reason: `level ${best.level} compresses at ${best.mbps.toFixed(0)} MB/s >= ${threshold.toFixed(0)} MB/s (${stageText})` };
}

export function recommend(m: MachineFigures): Recommendations {
  const cipher = recommendCipher(m);
  return { cipher, compressionLevel: recommendLevel(m, cipher.cipher) };
}
