// A directory's names in canonical order (their bytes, as trees store them), in bounded memory.
// The listing is read with fs.opendir (streaming, unlike readdir, which returns every name at once)
// as bytes, each name decoded to the escaped form of src/fs/names.ts, so a name that is not UTF-8
// is kept, not turned into U+FFFD (FORMAT.md "Trees"). Up to a run's worth of names are sorted in
// memory; a bigger directory is written out as sorted runs to temporary files (each name's bytes
// followed by NUL, which no name contains) and merged back, one small read buffer per run. The
// whole listing is read, and the directory closed, before the first name comes out.
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareNames } from '../format/tree.js';
import { decodeName, encodeName, fsPath, isWellFormed } from './names.js';

export interface NameSortOptions {
  /** Names sorted in memory at once (a run); a directory with more is sorted through temp files. */
  runNames?: number;
  /** The same bound in UTF-16 code units of names, for directories of long names. */
  runChars?: number;
  /** Where runs are spilled (a fresh folder inside it, removed afterwards). */
  tmpDir?: string;
}

/** ~64k names: a few MiB of heap, and 16 runs for a directory of a million names. */
const RUN_NAMES = 65_536;
const RUN_CHARS = 2 * 1024 * 1024;
const READ_BUFFER = 64 * 1024;

/** The names of a directory (escaped form), sorted by their bytes. Errors listing it are thrown from the first `next()`. */
export async function* sortedNames(path: string, opts: NameSortOptions = {}): AsyncGenerator<string> {
  const runNames = opts.runNames ?? RUN_NAMES;
  const runChars = opts.runChars ?? RUN_CHARS;
  let run: string[] = [];
  let chars = 0;
  let spillDir: string | null = null;
  const runs: string[] = [];
  try {
    const spill = async (): Promise<void> => {
      spillDir ??= await fsp.mkdtemp(join(opts.tmpDir ?? tmpdir(), 'engine-names-'));
      run.sort(compareNames);
      const file = join(spillDir, `run-${runs.length}`);
      await fsp.writeFile(file, encodeRun(run));
      runs.push(file);
      run = [];
      chars = 0;
    };
    // for-await closes the directory when the listing ends or fails.
    // Node takes encoding 'buffer' here (names as Buffers); its typings allow text encodings only.
    for await (const entry of await fsp.opendir(fsPath(path), { bufferSize: 256, encoding: 'buffer' as BufferEncoding })) {
      const name = decodeName(entry.name as unknown as Buffer);
      run.push(name);
      chars += name.length;
      if (run.length >= runNames || chars >= runChars) await spill();
    }
    if (runs.length === 0) {
      run.sort(compareNames);
      const names = run;
      run = [];
      yield* names;
      return;
    }
    if (run.length > 0) await spill();
    yield* mergeRuns(runs);
  } finally {
    if (spillDir) await fsp.rm(spillDir, { recursive: true, force: true });
  }
}

/**
 * A run as its names' own bytes, each followed by NUL: written as text, an escaped byte would come
 * back as U+FFFD. One buffer, names that are text written straight into it.
 */
function encodeRun(run: readonly string[]): Buffer {
  let size = 0;
  for (const name of run) size += (isWellFormed(name) ? Buffer.byteLength(name, 'utf8') : encodeName(name).length) + 1;
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const name of run) {
    at += isWellFormed(name) ? out.write(name, at, 'utf8') : encodeName(name).copy(out, at);
    out[at++] = 0;
  }
  return out;
}

/** One spilled run, name by name. */
async function* readRun(file: string): AsyncGenerator<string> {
  const fh = await fsp.open(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(READ_BUFFER);
    let carry: Buffer = Buffer.alloc(0);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      const data = carry.length > 0 ? Buffer.concat([carry, buf.subarray(0, bytesRead)]) : buf.subarray(0, bytesRead);
      let start = 0;
      for (let nul = data.indexOf(0, start); nul !== -1; nul = data.indexOf(0, start)) {
        yield decodeName(data.subarray(start, nul));
        start = nul + 1;
      }
      // A copy: `buf` is read into again.
      carry = Buffer.from(data.subarray(start));
    }
  } finally {
    await fh.close();
  }
}

/** K-way merge of sorted runs through a binary heap of each run's current name. */
async function* mergeRuns(files: readonly string[]): AsyncGenerator<string> {
  const readers = files.map((f) => readRun(f));
  const heap: { name: string; from: number }[] = [];
  const less = (a: { name: string }, b: { name: string }): boolean => compareNames(a.name, b.name) < 0;
  const push = (item: { name: string; from: number }): void => {
    heap.push(item);
    for (let i = heap.length - 1; i > 0; ) {
      const up = (i - 1) >> 1;
      if (!less(heap[i]!, heap[up]!)) break;
      [heap[i], heap[up]] = [heap[up]!, heap[i]!];
      i = up;
    }
  };
  const pop = (): { name: string; from: number } => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  };
  try {
    for (let i = 0; i < readers.length; i++) {
      const first = await readers[i]!.next();
      if (!first.done) push({ name: first.value, from: i });
    }
    while (heap.length > 0) {
      const top = pop();
      yield top.name;
      const next = await readers[top.from]!.next();
      if (!next.done) push({ name: next.value, from: top.from });
    }
  } finally {
    await Promise.all(readers.map((r) => r.return(undefined)));
  }
}
