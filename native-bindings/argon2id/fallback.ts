import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Argon2id, Argon2Params } from '../types.js';
import { checkArgon2Args } from './params.js';

// hash-wasm's Argon2id: about 3x slower than libsodium. Its WebAssembly memory (the whole Argon2
// matrix, 64 MiB at the default cost) is never returned to the system while the thread lives, so
// it runs in a short-lived worker thread: when the thread exits, the memory goes with it, and
// --mem-budget keeps it for the pipeline.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { argon2id } = require(workerData.module);
argon2id({ ...workerData.args, outputType: 'binary' }).then(
  (out) => parentPort.postMessage({ ok: true, out }),
  (err) => parentPort.postMessage({ ok: false, message: String(err && err.message || err) }),
);
`;

function deriveInWorker(module: string, password: Uint8Array, salt: Uint8Array, params: Argon2Params, outBytes: number): Promise<Uint8Array> {
  const args = { password, salt, parallelism: 1, iterations: params.t, memorySize: params.mKiB, hashLength: outBytes };
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { module, args } });
    w.once('message', (m: { ok: boolean; out?: Uint8Array; message?: string }) => {
      void w.terminate();
      if (m.ok && m.out) resolve(new Uint8Array(m.out));
      else reject(new Error(`argon2id (hash-wasm) failed: ${m.message ?? 'unknown error'}`));
    });
    w.once('error', reject);
  });
}

export async function loadHashWasmArgon2id(): Promise<Argon2id> {
  const module = createRequire(import.meta.url).resolve('hash-wasm');
  return {
    impl: 'hash-wasm',
    async derive(password, salt, params, outBytes) {
      checkArgon2Args(password, salt, params, outBytes);
      return deriveInWorker(module, password, salt, params, outBytes);
    },
  };
}
