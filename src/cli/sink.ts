// Where streamed output goes (dump's bytes, find's JSON array): standard output or a file, written
// with backpressure, so a slow reader (`engine dump ... | ssh ...`) holds engine back instead of
// letting what waits to be written grow without bound in memory.
import { open, type FileHandle } from 'node:fs/promises';
import { UsageError } from '../errors/engine-error.js';

/**
 * The reader of standard output went away (`engine dump ... | head -c 100`): the command stops
 * reading the repository for nobody. As for every command (src/cli/main.ts), a reader that closed
 * the pipe early is not an error of engine's: the command ends with exit 0.
 */
export class OutputClosed extends Error {
  constructor() {
    super('standard output was closed by its reader');
  }
}

/** Runs a command's output loop; a reader that went away ends it quietly (OutputClosed). */
export async function untilReaderLeaves(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (!(err instanceof OutputClosed)) throw err;
  }
}

export interface Sink {
  /** Resolves once the bytes are handed on (a full pipe makes it wait). */
  write(chunk: Uint8Array | string): Promise<void>;
  close(): Promise<void>;
}

/** Standard output: waits for 'drain' whenever the stream's buffer is full. */
export function stdoutSink(): Sink {
  const out = process.stdout;
  return {
    write(chunk) {
      if (out.destroyed || !out.writable) return Promise.reject(new OutputClosed());
      if (out.write(chunk)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const settle = (closed: boolean): void => {
          out.off('drain', drained);
          out.off('close', gone);
          out.off('error', gone);
          if (closed) reject(new OutputClosed());
          else resolve();
        };
        const drained = (): void => settle(false);
        const gone = (): void => settle(true);
        out.on('drain', drained);
        out.on('close', gone);
        out.on('error', gone);
      });
    },
    close: () => Promise.resolve(),
  };
}

/** A file created (or truncated) at `path`; each write is awaited, so nothing piles up. */
export async function fileSink(path: string, flag: string): Promise<Sink> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'w', 0o666);
  } catch (err) {
    throw new UsageError(`${flag} ${path}: cannot create the file (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { hint: 'give a path in a folder that exists and that you may write to', cause: err });
  }
  return {
    async write(chunk) {
      const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      let off = 0;
      while (off < buf.length) off += (await fh.write(buf, off, buf.length - off)).bytesWritten;
    },
    close: () => fh.close(),
  };
}
