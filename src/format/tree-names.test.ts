// Names as bytes in trees (FORMAT.md "Trees", version 4): names that are not UTF-8 sort by their
// bytes, survive encode and decode byte for byte, hash for the chunk rule by their bytes, make the
// tree writer raise the repository's version first, and a forged surrogate is refused.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCode, isEngineError } from '../errors/engine-error.js';
import { decodeName, encodeName } from '../fs/names.js';
import { TreeWriter } from '../repository/tree-stream.js';
import { compareNames, decodeTree, decodeTreeBlob, encodeNode, encodeNodeList, encodeTree, type TreeNode } from './tree.js';
import { fnv1a32, isChunkBoundaryName } from './tree-chunks.js';

const name = (...bytes: number[]): string => decodeName(Uint8Array.from(bytes));
const latin1 = (s: string): string => decodeName(Buffer.from(s, 'latin1'));

function fifo(n: string, extra: Partial<TreeNode> = {}): TreeNode {
  return { name: n, type: 'fifo', mode: 0o644, mtimeNs: '1700000000000000000', ctimeNs: '1700000000000000000', uid: 0, gid: 0, deviceId: '1', inode: '1', links: 1, ...extra };
}

function expectCorrupt(f: () => unknown, pattern: RegExp): void {
  let caught: unknown;
  try {
    f();
  } catch (err) {
    caught = err;
  }
  expect(isEngineError(caught, ErrorCode.FORMAT_CORRUPT), String(caught)).toBe(true);
  expect((caught as Error).message).toMatch(pattern);
}

/** Names from any bytes but '/' and NUL, as a directory may hold them. */
const byteName = fc.uint8Array({ minLength: 1, maxLength: 12 }).map((b) => b.map((x) => (x === 0 || x === 0x2f ? 0x41 : x))).filter((b) => !(b.length <= 2 && b.every((x) => x === 0x2e)));

describe('names as bytes in trees', () => {
  it('compareNames orders names by the bytes they stand for', () => {
    fc.assert(
      fc.property(byteName, byteName, (a, b) => {
        expect(Math.sign(compareNames(decodeName(a), decodeName(b)))).toBe(Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))));
      }),
      { numRuns: 5000 },
    );
    // Names mixing characters of every UTF-8 length with escaped bytes, some equal to the first
    // byte of those characters (C3 é, EE U+E000, EF U+FFFD, F0 U+1F600), and prefixes of each other.
    const piece = fc.constantFrom('a', 'z', '\u00e9', '\ue000', '\ufffd', '\u{1f600}', '\u{10ffff}', ...[0x80, 0xa9, 0xbf, 0xc3, 0xee, 0xef, 0xf0, 0xff].map((x) => String.fromCharCode(0xdc00 + x)));
    const mixed = fc.array(piece, { maxLength: 6 }).map((p) => p.join(''));
    fc.assert(
      fc.property(mixed, mixed, (a, b) => {
        expect(Math.sign(compareNames(a, b))).toBe(Math.sign(Buffer.compare(encodeName(a), encodeName(b))));
      }),
      { numRuns: 5000 },
    );
    // x\xff after x + U+FFFD (EF BF BD) and after U+E000 (EE 80 80), though U+DCFF is below both.
    const ff = name(0x78, 0xff);
    expect(compareNames(name(0x78, 0xef, 0xbf, 0xbd), ff)).toBeLessThan(0);
    expect(compareNames('x\ue000', ff)).toBeLessThan(0);
    expect(compareNames(ff, name(0x78, 0xfe))).toBeGreaterThan(0);
    // Latin-1 é (E9) after UTF-8 é (C3 A9), and the two are different names.
    expect(compareNames('caf\u00e9', latin1('caf\u00e9'))).toBeLessThan(0);
  });

  it('encode and decode keep such names and link targets byte for byte, the blob valid UTF-8 (escapes are ASCII)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(byteName, { selector: (b) => Buffer.from(b).toString('hex'), minLength: 1, maxLength: 12 }), fc.uint8Array({ maxLength: 20 }), (names, target) => {
        const nodes = names.map((b, i) => fifo(decodeName(b), { type: i === 0 ? 'symlink' : 'fifo', ...(i === 0 ? { linkTarget: decodeName(target) } : {}) }));
        const bytes = encodeTree({ nodes });
        // The blob is text (no byte of a name in it raw): a strict UTF-8 decoder takes it.
        new TextDecoder('utf-8', { fatal: true }).decode(bytes);
        const back = decodeTree(bytes, 'tree').nodes;
        const want = [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
        expect(back.map((n) => encodeName(n.name).toString('hex'))).toEqual(want.map((b) => Buffer.from(b).toString('hex')));
        const link = back.find((n) => n.type === 'symlink')!;
        expect(encodeName(link.linkTarget!).toString('hex')).toBe(Buffer.from(target).toString('hex'));
        // encodeNodeList over encodeNode gives the same bytes as encodeTree.
        expect(Buffer.compare(encodeNodeList(back.map(encodeNode)), bytes)).toBe(0);
      }),
      { numRuns: 300 },
    );
    const text = new TextDecoder().decode(encodeTree({ nodes: [fifo(name(0x78, 0xff)), fifo(name(0x78, 0xef, 0xbf, 0xbd))] }));
    expect(text).toContain('"name":"x\\udcff"');
    expect(text.indexOf('"x\ufffd"')).toBeLessThan(text.indexOf('"x\\udcff"'));
  });

  it('decodeTree refuses a name or link target holding a surrogate that no byte stands for', () => {
    for (const bad of ['x\udc7f', 'x\udd00', '\ud800', 'a\udbffb', '\udfff']) {
      const blob = new TextEncoder().encode(`{"nodes":[${encodeNode(fifo(bad))}]}`);
      expectCorrupt(() => decodeTreeBlob(blob, 'tree'), /stands for no byte/);
      const link = new TextEncoder().encode(`{"nodes":[${encodeNode(fifo('l', { type: 'symlink', linkTarget: `../${bad}` }))}]}`);
      expectCorrupt(() => decodeTreeBlob(link, 'tree'), /link target .* stands for no byte/);
    }
    // Escapes of bytes 0x80..0xFF, and surrogate pairs, are names.
    for (const ok of ['x\udc80', 'x\udcff', '\u{1f600}', '\ud83d\udc80']) {
      const blob = new TextEncoder().encode(`{"nodes":[${encodeNode(fifo(ok, { type: 'symlink', linkTarget: ok }))}]}`);
      expect(decodeTree(blob, 'tree').nodes[0]).toMatchObject({ name: ok, linkTarget: ok });
    }
  });

  it('the chunk rule hashes the bytes of a name', () => {
    fc.assert(
      fc.property(byteName, (b) => {
        expect(isChunkBoundaryName(decodeName(b))).toBe((fnv1a32(b) & 0x3ff) === 0);
      }),
      { numRuns: 2000 },
    );
  });

  it('the tree writer raises the version (beforeChunked) once, before saving a blob with a name or link target that is not UTF-8', async () => {
    const run = async (nodes: TreeNode[]): Promise<string[]> => {
      const events: string[] = [];
      const writer = new TreeWriter({ save: async () => (events.push('save'), '0'.repeat(64) as never), beforeChunked: async () => void events.push('raise') });
      for (const n of nodes) await writer.add(n);
      await writer.finish();
      return events;
    };
    expect(await run([fifo('a'), fifo('b\u00e9'), fifo('c\u{1f600}')])).toEqual(['save']);
    expect(await run([fifo('a'), fifo(name(0x62, 0xff)), fifo(name(0x63, 0xfe))])).toEqual(['raise', 'save']);
    expect(await run([fifo('a'), fifo('l', { type: 'symlink', linkTarget: name(0x74, 0xff) })])).toEqual(['raise', 'save']);
  });
});
