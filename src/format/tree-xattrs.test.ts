// The optional `xattrs` field of tree nodes (FORMAT.md "Extended attributes"): canonical encoding
// whatever order the caller gives, a round trip, old trees unchanged, and refusal of anything an
// encoder would not have written.
import { describe, expect, it } from 'vitest';
import { decodeTree, encodeNode, encodeTree, type TreeNode, XATTR_VALUE_MAX_BYTES } from './tree.js';

const base: TreeNode = { name: 'f', type: 'file', mode: 0o644, mtimeNs: '1', ctimeNs: '1', uid: 0, gid: 0, deviceId: '1', inode: '1', links: 1, size: 0, content: [] };
const enc = (n: TreeNode): string => new TextDecoder().decode(encodeTree({ nodes: [n] }));
/** A tree blob holding `base` with the given raw JSON for xattrs. */
const withRaw = (xattrsJson: string): Uint8Array => new TextEncoder().encode(enc(base).replace(/}]}$/, `,"xattrs":${xattrsJson}}]}`));

describe('tree xattrs', () => {
  it('encode sorted by name bytes, keys in a fixed order, and round-trip', () => {
    const node: TreeNode = {
      ...base,
      xattrs: [
        { value: 'AP8=', name: 'user.\udcff' } as unknown as { name: string; value: string },
        { name: 'user.b', value: '' },
        { name: 'security.selinux', value: 'eA==' },
      ],
    };
    const json = enc(node);
    expect(json).toContain('"content":[],"xattrs":[{"name":"security.selinux","value":"eA=="},{"name":"user.b","value":""},{"name":"user.\\udcff","value":"AP8="}]}');
    const back = decodeTree(new TextEncoder().encode(json), 't').nodes[0]!;
    expect(back.xattrs).toEqual([
      { name: 'security.selinux', value: 'eA==' },
      { name: 'user.b', value: '' },
      { name: 'user.\udcff', value: 'AP8=' },
    ]);
    expect(enc(back)).toBe(json);
  });

  it('a node without xattrs, or with an empty list, encodes as before the field existed', () => {
    expect(encodeNode({ ...base, xattrs: [] })).toBe(encodeNode(base));
    expect(encodeNode(base)).not.toContain('xattrs');
    expect(decodeTree(encodeTree({ nodes: [base] }), 't').nodes[0]!.xattrs).toBeUndefined();
  });

  it('refuses a name twice when encoding', () => {
    expect(() => enc({ ...base, xattrs: [{ name: 'user.a', value: '' }, { name: 'user.a', value: 'AA==' }] })).toThrow(/twice/);
  });

  const big = Buffer.alloc(XATTR_VALUE_MAX_BYTES + 1).toString('base64');
  it.each([
    ['an empty list', '[]'],
    ['not a list', '{"name":"user.a","value":""}'],
    ['a missing value', '[{"name":"user.a"}]'],
    ['an extra key', '[{"name":"user.a","value":"","x":1}]'],
    ['a number value', '[{"name":"user.a","value":1}]'],
    ['an empty name', '[{"name":"","value":""}]'],
    ['a NUL in a name', '[{"name":"user.\\u0000","value":""}]'],
    ['a surrogate that stands for no byte', '[{"name":"user.\\udc00","value":""}]'],
    ['a name of 256 bytes', `[{"name":"user.${'a'.repeat(251)}","value":""}]`],
    ['a name of 256 bytes, escaped ones counted as one', `[{"name":"user.${'\\udcff'.repeat(251)}","value":""}]`],
    ['base64 without padding', '[{"name":"user.a","value":"AA"}]'],
    ['base64url', '[{"name":"user.a","value":"_w=="}]'],
    ['base64 with non-zero trailing bits', '[{"name":"user.a","value":"AB=="}]'],
    ['whitespace in base64', '[{"name":"user.a","value":"AA A"}]'],
    ['a value over 64 KiB', `[{"name":"user.a","value":"${big}"}]`],
    ['names out of order', '[{"name":"user.b","value":""},{"name":"user.a","value":""}]'],
    ['a name twice', '[{"name":"user.a","value":""},{"name":"user.a","value":""}]'],
    ['escaped bytes out of byte order', '[{"name":"user.\\udcff","value":""},{"name":"user.z","value":""}]'],
  ])('decoding refuses %s', (_what, json) => {
    expect(() => decodeTree(withRaw(json), 't')).toThrow(expect.objectContaining({ code: 'E_FORMAT_CORRUPT' }));
  });

  it('accepts the limits themselves', () => {
    const max = Buffer.alloc(XATTR_VALUE_MAX_BYTES, 1).toString('base64');
    const name = `user.${'\udcff'.repeat(250)}`; // 255 bytes
    const node = decodeTree(withRaw(`[{"name":${JSON.stringify(name)},"value":"${max}"}]`), 't').nodes[0]!;
    expect(node.xattrs![0]!.name).toBe(name);
  });
});
