// Data blobs from chunked segments: deduplication (a chunk already stored or claimed in this run is
// only listed) and sealing of the new ones on the worker pool (compress, encrypt, verify) under the
// sealed budget, then handing them to the uploader for packing. Shared by both paths of the file
// saver (batches of small files and large files read segment by segment).
import { type BlobId, BlobType } from '../format/ids.js';
import type { ByteBudget } from '../util/concurrency.js';
import type { WorkerPool } from '../worker-pool/pool.js';
import type { BlobUploader } from '../repository/blob-uploader.js';
import { toHex } from '../util/hex.js';
import type { SpanChunks } from '../../workers/protocol.js';
import { SharedArena } from '../util/shared-arena.js';
import type { RunState } from './run-state.js';

export class BlobSealer {
  private readonly state: RunState;
  private readonly pool: WorkerPool;
  private readonly uploader: BlobUploader;
  private readonly sealedBudget: ByteBudget;
  /** Bytes an envelope adds to a blob: the lease a blob takes before it is compressed. */
  private readonly overhead: number;
  /** Where workers seal into (placement only; the budget above bounds the bytes). */
  private readonly arena: SharedArena;

  constructor(state: RunState, pool: WorkerPool, uploader: BlobUploader, sealedBudget: ByteBudget, overhead: number) {
    this.state = state;
    this.pool = pool;
    this.uploader = uploader;
    this.sealedBudget = sealedBudget;
    this.overhead = overhead;
    // As large as the budget, plus room for the results' small heads (not in the budget's estimate).
    this.arena = new SharedArena(sealedBudget.capacity + 256 * 1024);
  }

  /**
   * Records the ids of a span's chunks in file order (`fileIds`) and, for each chunk no one stored
   * or claimed yet, claims it and adds its range and id to what will be sealed: deduplication.
   */
  claimChunks(span: SpanChunks, start: number, fileIds: BlobId[], ranges: number[], newIds: Uint8Array[]): void {
    let prev = start;
    span.ends.forEach((end, k) => {
      const idBytes = span.ids.subarray(32 * k, 32 * k + 32);
      const id = toHex(idBytes) as BlobId;
      fileIds.push(id);
      if (this.uploader.claim(id)) {
        ranges.push(prev, end - prev);
        newIds.push(idBytes);
      }
      prev = end;
    });
  }

  /** Compresses, encrypts and verifies the claimed chunks of a segment on the pool, then packs them. */
  async sealNew(segment: Uint8Array, ranges: number[], ids: Uint8Array[]): Promise<void> {
    if (ranges.length === 0) return;
    this.state.check();
    const count = ranges.length / 2;
    let estimate = 0;
    for (let i = 1; i < ranges.length; i += 2) estimate += ranges[i]! + this.overhead;
    await this.sealedBudget.acquire(estimate, this.state.signal);
    const idBytes = new Uint8Array(32 * ids.length);
    ids.forEach((id, i) => idBytes.set(id, 32 * i));
    const input = { segment, ranges: Uint32Array.from(ranges), ids: idBytes };
    // The result's layout bound (workers/handlers.ts sealedLayoutBound): its count and lengths, then
    // each blob at most its length plus the envelope's overhead.
    const region = this.arena.alloc(4 + 4 * count + estimate);
    let out: Uint8Array;
    try {
      if (region) {
        await this.pool.sealInto(input, region.bytes);
        out = region.bytes;
      } else {
        out = new Uint8Array(await this.pool.seal(input));
      }
    } catch (err) {
      if (region) this.arena.release(region.offset, region.bytes.length);
      this.sealedBudget.release(estimate);
      throw err;
    }
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    let pos = 4 + 4 * count;
    let used = 0;
    const blobs: { id: BlobId; sealed: Uint8Array; raw: number; release: (() => void) | undefined }[] = [];
    for (let i = 0; i < count; i++) {
      const len = view.getUint32(4 + 4 * i, true);
      const at = pos;
      blobs.push({ id: toHex(ids[i]!) as BlobId, sealed: out.subarray(pos, pos + len), raw: ranges[2 * i + 1]!, release: region ? () => this.arena.release(region.offset + at, len) : undefined });
      pos += len;
      used += len;
    }
    // The layout's head and the unused tail are free at once; each blob's bytes once packed.
    if (region) {
      this.arena.release(region.offset, 4 + 4 * count);
      this.arena.release(region.offset + pos, region.bytes.length - pos);
    }
    // Compression made the blobs smaller than the lease taken for them: give the rest back now.
    this.sealedBudget.release(estimate - used);
    this.state.check();
    for (const b of blobs) await this.uploader.add(BlobType.DATA, b.id, b.sealed, b.raw, b.sealed.length, b.release);
  }
}
