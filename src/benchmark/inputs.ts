// Deterministic bench inputs: the same bytes on every machine, so figures compare line by line.

/** splitmix32: a small, fast, seedable PRNG (not for keys). */
function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/** Incompressible bytes from a fixed seed. */
export function randomInput(size: number, seed = 1): Uint8Array {
  const next = splitmix32(seed);
  const out = new Uint8Array(size);
  const words = new Uint32Array(out.buffer, 0, size >>> 2);
  for (let i = 0; i < words.length; i++) words[i] = next();
  for (let i = words.length * 4; i < size; i++) out[i] = next() & 0xff;
  return out;
}

const VOCABULARY = (
  'the of and to in is that for it as with was on be by this are at from or an have not which but ' +
  'backup restore snapshot repository chunk pack index blob tree file folder size mode owner time ' +
  'error warning info debug request response server client config value number string true false ' +
  'function return const let import export async await public private static class interface type'
).split(' ');

/** Text-like bytes (words, numbers, punctuation, line breaks) from a fixed seed: zstd level 3 makes about a third of it. */
export function textInput(size: number, seed = 2): Uint8Array {
  const next = splitmix32(seed);
  const parts: string[] = [];
  let length = 0;
  while (length < size) {
    const r = next();
    let word = VOCABULARY[r % VOCABULARY.length] ?? 'x';
    if ((r >>> 8) % 11 === 0) word = String((r >>> 12) % 100_000);
    const sep = (r >>> 24) % 13 === 0 ? '.\n' : (r >>> 24) % 7 === 0 ? ', ' : ' ';
    parts.push(word, sep);
    length += word.length + sep.length;
  }
  return new TextEncoder().encode(parts.join('')).subarray(0, size);
}
