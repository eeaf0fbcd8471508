// The bytes of a stream (standard input, a command's output) as the segment loop of the file saver
// reads them: `read` fills the requested length from the stream's chunks, pulling one chunk at a
// time (so the stream's own buffering is the only data held besides the segment being filled), and
// keeps the rest of a chunk for the next read. At the end of the stream `atEnd` is awaited: a
// command writing the stream is waited for there, and its failure fails the read.
import type { Readable } from 'node:stream';
import type { SegmentSource } from './file-saver.js';

export class StreamSource implements SegmentSource {
  private readonly chunks: AsyncIterator<unknown>;
  private readonly atEnd: (() => Promise<void>) | undefined;
  private rest: Uint8Array | null = null;
  private ended = false;

  constructor(stream: Readable, atEnd?: () => Promise<void>) {
    this.chunks = stream[Symbol.asyncIterator]();
    this.atEnd = atEnd;
  }

  async read(buf: Uint8Array, offset: number, length: number): Promise<number> {
    let got = 0;
    while (got < length) {
      if (!this.rest) {
        if (this.ended) break;
        const next = await this.chunks.next();
        if (next.done) {
          this.ended = true;
          await this.atEnd?.();
          break;
        }
        const chunk = next.value;
        this.rest = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Uint8Array);
        if (this.rest.length === 0) {
          this.rest = null;
          continue;
        }
      }
      const n = Math.min(this.rest.length, length - got);
      buf.set(this.rest.subarray(0, n), offset + got);
      got += n;
      this.rest = n === this.rest.length ? null : this.rest.subarray(n);
    }
    return got;
  }
}
