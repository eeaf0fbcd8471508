// Small helpers for the little-endian binary layouts of FORMAT.md, with bounds checks that turn a
// truncated or malformed object into a FormatError instead of a RangeError deep in a loop.
import { ErrorCode, FormatError } from '../errors/engine-error.js';

export class Reader {
  private pos = 0;
  private readonly view: DataView;
  private readonly buf: Uint8Array;
  private readonly what: string;
  constructor(buf: Uint8Array, what: string) {
    this.buf = buf;
    this.what = what;
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  get offset(): number {
    return this.pos;
  }
  get remaining(): number {
    return this.buf.byteLength - this.pos;
  }
  private need(n: number): void {
    if (this.pos + n > this.buf.byteLength) {
      throw new FormatError(ErrorCode.FORMAT_CORRUPT, `${this.what}: truncated (needs ${n} more bytes at offset ${this.pos}, has ${this.remaining})`);
    }
  }
  u8(): number {
    this.need(1);
    return this.view.getUint8(this.pos++);
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  bytes(n: number): Uint8Array {
    this.need(n);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  end(): void {
    if (this.remaining !== 0) throw new FormatError(ErrorCode.FORMAT_CORRUPT, `${this.what}: ${this.remaining} unexpected trailing bytes`);
  }
}

export class Writer {
  private buf: Buffer;
  private pos = 0;
  constructor(initial = 1024) {
    this.buf = Buffer.allocUnsafe(initial);
  }
  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  u8(v: number): this {
    this.room(1);
    this.buf.writeUInt8(v, this.pos);
    this.pos += 1;
    return this;
  }
  u32(v: number): this {
    this.room(4);
    this.buf.writeUInt32LE(v, this.pos);
    this.pos += 4;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }
  finish(): Uint8Array {
    return new Uint8Array(this.buf.buffer, this.buf.byteOffset, this.pos);
  }
}
