import type { Zstd } from '../types.js';
import { allocOwned } from '../bytes.js';
import { importOptional, requireFunctions } from '../optional-module.js';
import { checkCompressOut, checkLevel, checkProduced, decodeFailure, planOutput, type OutputPlan } from './common.js';

const SPECIFIER = 'zstd-napi/binding.js';

// The low-level binding of zstd-napi 0.0.x. Its high-level decompress() trusts the frame's
// declared size (allocating whatever a hostile header claims) and, for frames without one,
// stops at the end of the input without checking the frame was complete, so we use the
// binding directly with our own limits. (Measured: a truncated size-less frame comes back from
// its decompress() as partial output with no error.)
interface CCtx {
  compress(dst: Uint8Array, src: Uint8Array, level: number): number;
}
interface DCtx {
  decompress(dst: Uint8Array, src: Uint8Array): number;
}
interface ZstdBinding {
  CCtx: new () => CCtx;
  DCtx: new () => DCtx;
  compressBound(srcSize: number): number;
}

// Compression writes into a reused scratch buffer, then copies out the (smaller) frame: one
// exact-size allocation per call instead of a compressBound-sized one. The scratch is kept only
// up to a chunk-sized bound so a single huge input does not pin memory for the thread's life.
const KEEP_SCRATCH_UP_TO = 9 * 1024 * 1024;

export async function loadZstdNapi(): Promise<Zstd> {
  const binding = requireFunctions<ZstdBinding>(SPECIFIER, await importOptional(SPECIFIER), ['CCtx', 'DCtx', 'compressBound']);
  // One context each per thread, reused: ZSTD_compressCCtx/ZSTD_decompressDCtx keep their
  // tables between calls instead of allocating them per frame (4 KiB at level 3: 10 µs instead
  // of 20 µs; no difference at 1 MiB).
  const cctx = new binding.CCtx();
  const dctx = new binding.DCtx();
  let scratch = allocOwned(0);
  return {
    impl: 'zstd-napi',
    compress(input, level) {
      checkLevel(level);
      const bound = binding.compressBound(input.length);
      if (bound > scratch.length) {
        const fresh = allocOwned(bound);
        if (bound <= KEEP_SCRATCH_UP_TO) scratch = fresh;
        const n = cctx.compress(fresh, input, level);
        return copyOut(fresh, n);
      }
      return copyOut(scratch, cctx.compress(scratch, input, level));
    },
    decompress(input, maxOutput) {
      const plan = planOutput(input, maxOutput);
      const out = allocOwned(plan.capacity);
      const produced = decompressPlanned(dctx, plan, input, out);
      return produced === out.length ? out : copyOut(out, produced);
    },
    compressBound: (n) => binding.compressBound(n),
    compressInto(input, level, out) {
      checkLevel(level);
      checkCompressOut(input.length, out);
      return cctx.compress(out, input, level);
    },
    decompressInto(input, out) {
      const plan = planOutput(input, out.length);
      return decompressPlanned(dctx, plan, input, out.subarray(0, plan.capacity));
    },
  };
}

function decompressPlanned(dctx: DCtx, plan: OutputPlan, input: Uint8Array, out: Uint8Array): number {
  let produced: number;
  try {
    produced = dctx.decompress(out, input);
  } catch (err) {
    throw decodeFailure(plan, err);
  }
  checkProduced(plan, produced);
  return produced;
}

function copyOut(from: Buffer, length: number): Buffer {
  const out = allocOwned(length);
  from.copy(out, 0, 0, length);
  return out;
}
