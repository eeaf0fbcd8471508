// Single-thread throughput of every implementation of every primitive that loads and passes its
// self-test on this machine (addons, Node built-ins and fallbacks alike), plus FastCDC and Argon2id time.
import type { Adapter } from '../../native-bindings/adapter.js';
import { ADAPTERS, DISABLED_REASON } from '../../native-bindings/index.js';
import { nativeOnly, policySkips, tryCandidate } from '../../native-bindings/select.js';
import type { Aead, Argon2Params, ImplKind, NativePolicy, PrimitiveName, Primitives } from '../../native-bindings/types.js';
import { deriveGear } from '../chunker/gear.js';
import { DEFAULT_CHUNKER, FastCdc } from '../chunker/fastcdc.js';
import { randomInput, textInput } from './inputs.js';
import { measureThroughput, measureTime, type MeasureBudget, type Summary } from './measure.js';
import type { BenchRow, RejectedImpl } from './types.js';

export const MiB = 1024 * 1024;
export const BLOCK_BYTES = 1 * MiB;
export const CHUNK_INPUT_BYTES = 8 * MiB;
/** zstd levels `engine init --compression-level` accepts. */
export const CLI_LEVELS = { min: 1, max: 19, default: 3 } as const;

export interface PrimitiveBenchOptions {
  readonly policy: NativePolicy;
  /** Budget of every MB/s task. */
  readonly budget: MeasureBudget;
  /** Budget of the Argon2id task (one derivation takes a large fraction of a second). */
  readonly kdfBudget: MeasureBudget;
  readonly levels: readonly number[];
  readonly kdf: Argon2Params;
  /** Implementation the engine uses per primitive (marks rows as chosen). */
  readonly chosen: Readonly<Record<PrimitiveName, string>>;
  /** Called before each task, e.g. for a progress line. */
  readonly onTask?: (label: string) => void;
}

export const QUICK_LEVELS: readonly number[] = [3];
export const FULL_LEVELS: readonly number[] = [1, 3, 9, 19];

export const QUICK_BUDGET: MeasureBudget = { timeMs: 250, minIterations: 5, warmupMs: 100, warmupIterations: 2 };
export const FULL_BUDGET: MeasureBudget = { timeMs: 1000, minIterations: 8, warmupMs: 200, warmupIterations: 3 };
export const QUICK_KDF_BUDGET: MeasureBudget = { timeMs: 0, minIterations: 2, warmupMs: 0, warmupIterations: 1 };
export const FULL_KDF_BUDGET: MeasureBudget = { timeMs: 0, minIterations: 5, warmupMs: 0, warmupIterations: 1 };

export interface LoadedImpl<T> {
  readonly impl: string;
  readonly kind: ImplKind;
  readonly value: T;
}

export type LoadedCandidates = { readonly [P in PrimitiveName]: readonly LoadedImpl<Primitives[P]>[] };

async function loadAll<T>(adapter: Adapter<T>, policy: NativePolicy, rejected: RejectedImpl[]): Promise<LoadedImpl<T>[]> {
  const onlyNative = nativeOnly(adapter as Adapter<unknown>);
  const loaded: LoadedImpl<T>[] = [];
  for (const c of adapter.candidates) {
    if (policySkips(policy, c.kind) && !onlyNative) {
      rejected.push({ primitive: adapter.primitive, impl: c.impl, kind: c.kind, reason: DISABLED_REASON });
      continue;
    }
    const outcome = await tryCandidate(adapter, c);
    if ('reason' in outcome) rejected.push({ primitive: adapter.primitive, impl: c.impl, kind: c.kind, reason: outcome.reason });
    else loaded.push({ impl: c.impl, kind: c.kind, value: outcome.value });
  }
  return loaded;
}

/** Every candidate the policy allows that loads and passes its self-test; the others with the reason. */
export async function loadAllCandidates(policy: NativePolicy): Promise<{ loaded: LoadedCandidates; rejected: RejectedImpl[] }> {
  const rejected: RejectedImpl[] = [];
  const loaded: LoadedCandidates = {
    blake3: await loadAll(ADAPTERS.blake3, policy, rejected),
    xchacha20poly1305: await loadAll(ADAPTERS.xchacha20poly1305, policy, rejected),
    aes256gcm: await loadAll(ADAPTERS.aes256gcm, policy, rejected),
    argon2id: await loadAll(ADAPTERS.argon2id, policy, rejected),
    zstd: await loadAll(ADAPTERS.zstd, policy, rejected),
  };
  return { loaded, rejected };
}

function fixedBytes(n: number, fill: number): Uint8Array {
  return new Uint8Array(n).fill(fill);
}

export function kdfVariant(kdf: Argon2Params): string {
  return `t=${kdf.t} m=${kdf.mKiB / 1024} MiB p=${kdf.p}`;
}

export async function runPrimitiveBench(opts: PrimitiveBenchOptions): Promise<{ rows: BenchRow[]; rejected: RejectedImpl[] }> {
  const { loaded, rejected } = await loadAllCandidates(opts.policy);
  const rows: BenchRow[] = [];
  const text = textInput(BLOCK_BYTES);
  const random = randomInput(BLOCK_BYTES);
  const inputs = [
    { name: 'compressible', data: text },
    { name: 'incompressible', data: random },
  ] as const;
  let sink = 0;

  const mbps = async (
    base: Omit<BenchRow, 'unit' | keyof Summary | 'chosen' | 'bytes'>,
    bytes: number,
    fn: () => unknown,
  ): Promise<void> => {
    const label = `${base.primitive} ${base.operation} ${base.variant} [${base.impl}]`;
    opts.onTask?.(label);
    const s = await measureThroughput(label, bytes, fn, opts.budget);
    const chosen = base.primitive !== 'fastcdc' && opts.chosen[base.primitive] === base.impl;
    rows.push({ ...base, chosen: base.primitive === 'fastcdc' || chosen, unit: 'MB/s', ...s, bytes });
  };

  const key = fixedBytes(32, 7);
  for (const b of loaded.blake3) {
    await mbps({ primitive: 'blake3', operation: 'keyed-hash', variant: '1 MiB', impl: b.impl, kind: b.kind }, BLOCK_BYTES, () => {
      sink ^= b.value.keyedHash(key, random)[0] ?? 0;
    });
  }

  const aead = async (primitive: 'xchacha20poly1305' | 'aes256gcm', impls: readonly LoadedImpl<Aead>[]): Promise<void> => {
    for (const a of impls) {
      const nonce = fixedBytes(a.value.nonceBytes, 9);
      const aad = fixedBytes(16, 3);
      const sealed = a.value.seal(key, nonce, random, aad);
      const common = { primitive, variant: '1 MiB', impl: a.impl, kind: a.kind } as const;
      await mbps({ ...common, operation: 'seal' }, BLOCK_BYTES, () => {
        sink ^= a.value.seal(key, nonce, random, aad)[0] ?? 0;
      });
      await mbps({ ...common, operation: 'open' }, BLOCK_BYTES, () => {
        const plain = a.value.open(key, nonce, sealed, aad);
        if (plain === null) throw new Error(`${a.impl}: open failed on its own output`);
        sink ^= plain[0] ?? 0;
      });
    }
  };
  await aead('xchacha20poly1305', loaded.xchacha20poly1305);
  await aead('aes256gcm', loaded.aes256gcm);

  for (const z of loaded.zstd) {
    for (const level of opts.levels) {
      for (const input of inputs) {
        const frame = z.value.compress(input.data, level);
        await mbps(
          { primitive: 'zstd', operation: 'compress', variant: `level ${level}, ${input.name}`, impl: z.impl, kind: z.kind, ratio: frame.length / input.data.length },
          input.data.length,
          () => {
            sink ^= z.value.compress(input.data, level).length;
          },
        );
      }
    }
    const frameLevel: number = CLI_LEVELS.default;
    for (const input of inputs) {
      const frame = z.value.compress(input.data, frameLevel);
      await mbps({ primitive: 'zstd', operation: 'decompress', variant: `level ${frameLevel} frame, ${input.name}`, impl: z.impl, kind: z.kind }, input.data.length, () => {
        sink ^= z.value.decompress(frame, input.data.length).length;
      });
    }
  }

  // FastCDC is TypeScript (one implementation); its gear table comes from the chosen BLAKE3.
  const blake3 = loaded.blake3.find((b) => b.impl === opts.chosen.blake3) ?? loaded.blake3[0];
  if (blake3 !== undefined) {
    const chunker = new FastCdc(DEFAULT_CHUNKER, deriveGear(blake3.value, fixedBytes(32, 5)));
    const data = randomInput(CHUNK_INPUT_BYTES, 3);
    await mbps({ primitive: 'fastcdc', operation: 'chunk', variant: '8 MiB, 1 MiB average', impl: 'engine (TypeScript)', kind: 'js' }, data.length, () => {
      sink ^= chunker.cuts(data, 0, data.length, true).ends.length;
    });
  }

  const password = new TextEncoder().encode('correct horse battery staple');
  const salt = fixedBytes(16, 1);
  for (const a of loaded.argon2id) {
    const variant = kdfVariant(opts.kdf);
    const label = `argon2id derive ${variant} [${a.impl}]`;
    opts.onTask?.(label);
    const s = await measureTime(label, async () => {
      sink ^= (await a.value.derive(password, salt, opts.kdf, 32))[0] ?? 0;
    }, opts.kdfBudget);
    rows.push({ primitive: 'argon2id', operation: 'derive', variant, impl: a.impl, kind: a.kind, chosen: opts.chosen.argon2id === a.impl, unit: 'ms', ...s });
  }

  if (sink === 0.5) rows.length = 0; // keeps `sink` observable so no call is optimised away
  return { rows, rejected };
}
