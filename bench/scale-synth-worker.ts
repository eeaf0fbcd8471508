// A thread of the scale benchmark's synthesis (bench/scale-synth.ts): opens the repository with
// its password, as any client would, and for each pack it is asked for makes the data blobs
// (bench/scale-ids.ts plaintexts), identifies and seals them with the repository's keys, lays out
// and stores the pack (PackStore.build and save) and answers with the pack's id and, per blob,
// id (32) | offset u32le | sealed length u32le | raw length u32le: an index entry without its type
// byte. Sealing millions of tiny blobs is ~13 us each natively, so the packs are spread over threads.
import { parentPort, workerData } from 'node:worker_threads';
import { loadPrimitives } from '../native-bindings/index.js';
import { LocalBackend } from '../src/backend/local/local-backend.js';
import { BlobType } from '../src/format/ids.js';
import type { PackInput } from '../src/repository/pack-store.js';
import { Repository } from '../src/repository/repository.js';
import { MAX_PLAINTEXT_BYTES, plaintextOf } from './scale-ids.js';
import { isChurnedBlob, layoutOf } from './scale-layout.js';

export interface SynthWorkerData {
  repo: string;
  password: string;
  /** N: the layout (bench/scale-layout.ts) says which blobs are churned. */
  blobs: number;
}

export interface PackTask {
  pack: number;
  first: number;
  count: number;
}

export interface PackDone {
  pack: number;
  packId: Uint8Array;
  /** count × ENTRY_BYTES. */
  entries: Uint8Array;
}

export const ENTRY_BYTES = 44;

async function start(data: SynthWorkerData): Promise<void> {
  const port = parentPort!;
  const { primitives } = await loadPrimitives(process.env.ENGINE_NATIVE === 'off' ? 'fallback' : 'auto');
  const repo = await Repository.open(new LocalBackend(data.repo), primitives, new TextEncoder().encode(data.password));
  const layout = layoutOf(data.blobs);
  const scratch = Buffer.alloc(MAX_PLAINTEXT_BYTES);
  port.on('message', (t: PackTask) => {
    const blobs: PackInput[] = [];
    for (let i = t.first; i < t.first + t.count; i++) {
      const plain = plaintextOf(i, isChurnedBlob(layout, i), scratch);
      blobs.push({ type: BlobType.DATA, id: repo.blobIdOf(plain), sealed: repo.sealBlob(plain), rawLength: plain.length });
    }
    const built = repo.packs.build(blobs);
    const entries = Buffer.from(new ArrayBuffer(t.count * ENTRY_BYTES));
    built.blobs.forEach((b, k) => {
      const at = k * ENTRY_BYTES;
      entries.write(b.id, at, 'hex');
      entries.writeUInt32LE(b.offset, at + 32);
      entries.writeUInt32LE(b.length, at + 36);
      entries.writeUInt32LE(b.rawLength, at + 40);
    });
    repo.packs.save(built.packId, built.bytes).then(
      () => {
        const packId = Uint8Array.from(Buffer.from(built.packId, 'hex'));
        const done: PackDone = { pack: t.pack, packId, entries };
        port.postMessage(done, [entries.buffer as ArrayBuffer]);
      },
      (err: unknown) => port.postMessage({ error: err instanceof Error ? err.message : String(err) }),
    );
  });
  port.postMessage({ ready: true });
}

if (parentPort) {
  start(workerData as SynthWorkerData).catch((err: unknown) => parentPort!.postMessage({ error: err instanceof Error ? err.stack : String(err) }));
}
