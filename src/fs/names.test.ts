import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compareNameBytes, decodeName, displayName, encodeName, fsPath, isEncodableName } from './names.js';

describe('names as bytes (surrogateescape)', () => {
  it('round-trips any byte string, and valid UTF-8 decodes to itself', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        const s = decodeName(bytes);
        expect(isEncodableName(s)).toBe(true);
        expect(Buffer.compare(encodeName(s), Buffer.from(bytes))).toBe(0);
      }),
      { numRuns: 2000 },
    );
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 20 }), (s) => {
        expect(decodeName(Buffer.from(s, 'utf8'))).toBe(s);
      }),
    );
  });

  it('keeps apart names that a lossy decoder confuses', () => {
    const a = decodeName(Buffer.from([0x78, 0xff]));
    const b = decodeName(Buffer.from([0x78, 0xef, 0xbf, 0xbd]));
    expect(a).not.toBe(b);
    expect(b).toBe('x\ufffd');
    expect(a).toBe('x\udcff');
    expect(displayName(a)).toBe('x\\xff');
  });

  it('rejects encoded surrogates (CESU) and overlongs byte by byte', () => {
    expect(decodeName(Buffer.from([0xed, 0xb3, 0xbf]))).toBe('\udced\udcb3\udcbf');
    expect(decodeName(Buffer.from([0xc0, 0xaf]))).toBe('\udcc0\udcaf');
    expect(decodeName(Buffer.from([0xf4, 0x90, 0x80, 0x80]))).toBe('\udcf4\udc90\udc80\udc80');
  });

  it('orders by bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ maxLength: 8 }), (x, y) => {
        expect(Math.sign(compareNameBytes(decodeName(x), decodeName(y)))).toBe(Math.sign(Buffer.compare(Buffer.from(x), Buffer.from(y))));
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses strings no decode could give', () => {
    expect(isEncodableName('a\ud800')).toBe(false);
    expect(isEncodableName('a\udc10')).toBe(false);
    expect(() => encodeName('a\udc10')).toThrow(RangeError);
  });

  it('hands plain paths to fs unchanged and escaped ones as bytes', () => {
    expect(fsPath('/tmp/a')).toBe('/tmp/a');
    expect(fsPath('/tmp/\udcff')).toEqual(Buffer.from([0x2f, 0x74, 0x6d, 0x70, 0x2f, 0xff]));
  });

  it('escapes control characters and backslashes for display', () => {
    expect(displayName('a\nb\\c\x1b')).toBe('a\\nb\\\\c\\x1b');
    expect(displayName('plain ü 😀')).toBe('plain ü 😀');
  });
});
