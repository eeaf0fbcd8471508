// File names are bytes, not text (FORMAT.md "Names"). Linux allows any byte but '/' and NUL in a
// name, and many names in the wild are not valid UTF-8 (old Latin-1 archives, broken unzips, or a
// local user who wants root's backup to fail). engine keeps them byte for byte with the mapping
// Python calls "surrogateescape": every byte of a name that is not part of a valid UTF-8 sequence
// becomes the lone surrogate U+DC80 + (byte - 0x80). Valid UTF-8 never decodes to a lone
// surrogate, so the mapping is one-to-one, and a name that is valid UTF-8 is an ordinary string.
//
// Inside engine names and paths stay strings in this form; they turn back into bytes only where
// they meet the filesystem (`fsPath`) or are compared (`encodeName`), and they are printed escaped
// (`displayName`).

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true });

/** String.prototype.isWellFormed (Node 20+; the TypeScript lib here predates it): no lone surrogate. */
export function isWellFormed(s: string): boolean {
  return (s as unknown as { isWellFormed(): boolean }).isWellFormed();
}

/** The escaped form of a name (or path) read from the filesystem as bytes. */
export function decodeName(bytes: Uint8Array): string {
  try {
    return fatalUtf8.decode(bytes);
  } catch {
    return decodeSlow(bytes);
  }
}

function decodeSlow(b: Uint8Array): string {
  let out = '';
  let i = 0;
  while (i < b.length) {
    const n = validSequenceLength(b, i);
    if (n === 0) {
      out += String.fromCharCode(0xdc00 + b[i]!);
      i++;
    } else {
      out += fatalUtf8.decode(b.subarray(i, i + n));
      i += n;
    }
  }
  return out;
}

/** Length of the valid UTF-8 sequence starting at b[i] (RFC 3629: no overlongs, no surrogates), or 0. */
function validSequenceLength(b: Uint8Array, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean => i + k < b.length && b[i + k]! >= lo && b[i + k]! <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/** True when a string is a valid escaped name: no lone surrogate other than U+DC80..U+DCFF. */
export function isEncodableName(s: string): boolean {
  if (isWellFormed(s)) return true;
  for (let i = 0; i < s.length; i++) {
    const u = s.charCodeAt(i);
    if (u >= 0xd800 && u <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      return false;
    }
    if (u >= 0xdc00 && u <= 0xdfff && (u < 0xdc80 || u > 0xdcff)) return false;
  }
  return true;
}

/** The bytes a name (or path) in escaped form stands for. Throws on a string no decode could give. */
export function encodeName(s: string): Buffer {
  if (isWellFormed(s)) return Buffer.from(s, 'utf8');
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const u = s.charCodeAt(i);
    if (u >= 0xd800 && u <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i++;
        continue;
      }
      throw new RangeError(`name holds an unpaired surrogate U+${u.toString(16).toUpperCase()} at ${i}`);
    }
    if (u >= 0xdc00 && u <= 0xdfff) {
      if (u < 0xdc80 || u > 0xdcff) throw new RangeError(`name holds an unpaired surrogate U+${u.toString(16).toUpperCase()} at ${i}`);
      parts.push(Buffer.from(s.slice(start, i), 'utf8'), Buffer.of(u - 0xdc00));
      start = i + 1;
    }
  }
  parts.push(Buffer.from(s.slice(start), 'utf8'));
  return Buffer.concat(parts);
}

/**
 * What to hand to an fs call for a path in escaped form: the string itself when it is plain text
 * (the common case, no copy), else its bytes, so Node does not replace the escapes with U+FFFD.
 */
export function fsPath(p: string): string | Buffer {
  return isWellFormed(p) ? p : encodeName(p);
}

/** Orders two escaped names by the bytes they stand for (the tree order, FORMAT.md "Trees"). */
export function compareNameBytes(a: string, b: string): number {
  return Buffer.compare(encodeName(a), encodeName(b));
}

/**
 * A name for people and logs: bytes that are not UTF-8 as `\xHH`, control characters as `\n`,
 * `\t`, `\r` or `\xHH`, and a backslash doubled, so the printed form tells every name apart and
 * a hostile name cannot move the cursor or forge a second line of output.
 */
export function displayName(s: string): string {
  // eslint-disable-next-line no-control-regex
  if (!/[\u0000-\u001f\u007f\\\ud800-\udfff]/.test(s)) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const u = s.charCodeAt(i);
    if (u >= 0xdc80 && u <= 0xdcff && !(i > 0 && s.charCodeAt(i - 1) >= 0xd800 && s.charCodeAt(i - 1) <= 0xdbff)) out += `\\x${(u - 0xdc00).toString(16).padStart(2, '0')}`;
    else if (u === 0x5c) out += '\\\\';
    else if (u === 0x0a) out += '\\n';
    else if (u === 0x09) out += '\\t';
    else if (u === 0x0d) out += '\\r';
    else if (u < 0x20 || u === 0x7f) out += `\\x${u.toString(16).padStart(2, '0')}`;
    else out += s[i];
  }
  return out;
}
