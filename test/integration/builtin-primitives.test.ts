// Issue 16, "primitives without addons first": with every native addon (sodium-native, zstd-napi,
// @napi-rs/blake-hash) unresolvable, as on a platform they have no build for, engine picks Node's
// built-ins where the running Node has them (node:zlib zstd from 22.15, node:crypto argon2 from
// 24.7) and the WASM/JS fallbacks otherwise, says so in `engine doctor` and `engine bench`, and
// reads and writes the same repositories as with the addons.
//
// The addons are hidden by a module resolution hook (test/support/no-addons-hook.mjs, given to the
// launcher's node through NODE_OPTIONS): their import fails with ERR_MODULE_NOT_FOUND, as for a
// package that is not installed. Nothing in engine knows about the hook.
//
// "Byte-identical" with random nonces and keys: two repositories never share bytes (each has its
// own master key, and every blob is sealed with a random nonce), so the test checks what the
// format makes deterministic instead. Within one repository, a backup of the same tree without
// the addons after one with them (and the other way round), read afresh under another host name
// so no parent snapshot is used, stores no new blob: every chunk boundary and every keyed blob id
// comes out the same. The snapshots name the same tree id for the backed-up folder: the tree
// blobs' plaintext is identical. (The snapshot holds it under its absolute path: the trees of the
// folders on the way, the temp folder's among them, are new when those folders' times changed
// between the two backups, and only then; they are counted.)
// Each snapshot restores identical with the other set of primitives, and `check --read-data`
// with the other set decrypts and decompresses every blob (zstd frames differ between builds,
// and every implementation decodes every other one's; see docs/PLATFORMS.md).
//
// What applies depends on the running Node (run this file under Node 20, 22 and 24) and on the
// vitest project: under ENGINE_NATIVE=off the built-ins are skipped like the addons, so the
// fallback project checks that the WASM fallbacks are what runs.
import * as crypto from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as zlib from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { workdirPerFile } from '../support/workdir.js';
import { blobsAdded, currentNative, runEngine, type RunResult } from '../support/cli.js';
import { itWhen } from '../support/it-when.js';
import { compareTrees, makeTree } from '../support/tree.js';
import { wayTreesAdded } from '../support/way-trees.js';

const HOOK = fileURLToPath(new URL('../support/no-addons-hook.mjs', import.meta.url));
const ADDONS = ['sodium-native', 'zstd-napi', '@napi-rs/blake-hash'];
const DISABLED = 'disabled by ENGINE_NATIVE=off';

const native = currentNative();
const zlibApi: Partial<typeof zlib> = zlib;
const cryptoApi: Partial<typeof crypto> = crypto;
const hasZstd = typeof zlibApi.zstdCompressSync === 'function';
const hasArgon2 = typeof cryptoApi.argon2 === 'function';
/** Built-ins are used only when the policy allows them (ENGINE_NATIVE=auto) and this Node has them. */
const useZstd = native === 'auto' && hasZstd;
const useArgon2 = native === 'auto' && hasArgon2;

/** What engine must choose with no addon: [impl, kind] per primitive. */
const EXPECTED: Record<string, [string, string]> = {
  blake3: ['blake3-wasm', 'wasm'],
  xchacha20poly1305: ['node:crypto+hchacha20', 'js'],
  aes256gcm: ['node:crypto', 'js'],
  argon2id: useArgon2 ? ['node:crypto argon2', 'builtin'] : ['hash-wasm', 'wasm'],
  zstd: useZstd ? ['node:zlib', 'builtin'] : ['@bokuweb/zstd-wasm', 'wasm'],
};

/** The engine the user runs, on this test's Node, with the addons hidden or not. */
function engine(args: string[], addons: boolean): Promise<RunResult> {
  const env: Record<string, string | undefined> = { ENGINE_NODE: process.execPath };
  if (!addons) env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import=${HOOK}`.trim();
  // With addons: whatever is installed, under ENGINE_NATIVE=auto. Without: this project's policy.
  return runEngine(args, { env, native: addons ? 'auto' : native });
}

interface Rejected {
  impl: string;
  reason: string;
}
interface Selection {
  primitive: string;
  chosen: string;
  kind: string;
  rejected: Rejected[];
}

/** The reason a built-in is rejected, given this Node and this project's policy. */
function builtinReason(present: boolean, since: string): RegExp | string {
  if (native === 'off') return DISABLED;
  if (!present) return new RegExp(`needs Node >= ${since.replace('.', '\\.')}.*, this is ${process.version.replace(/\./g, '\\.')}$`);
  throw new Error('a built-in this Node has is not rejected');
}

describe(`with every addon hidden (ENGINE_NATIVE=${native}, Node ${process.version})`, () => {
  it('engine doctor runs on this Node and names the built-ins where it has them, else the fallbacks, with the reasons', async () => {
    const r = await engine(['doctor', '--json'], false);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json?.node).toBe(process.version);
    const report = r.json?.primitives as Selection[];
    for (const s of report) {
      const [impl, kind] = EXPECTED[s.primitive] ?? ['?', '?'];
      expect({ primitive: s.primitive, chosen: s.chosen, kind: s.kind }).toEqual({ primitive: s.primitive, chosen: impl, kind });
      for (const addon of ADDONS) {
        const rej = s.rejected.find((x) => x.impl === addon);
        if (rej === undefined) continue;
        // Hidden by the hook (auto), or not even tried (off).
        expect(rej.reason).toMatch(native === 'off' ? DISABLED : /Cannot find package .*hidden by/);
      }
    }
    const byName = new Map(report.map((s) => [s.primitive, s]));
    expect(byName.get('blake3')?.rejected.map((x) => x.impl)).toContain('@napi-rs/blake-hash');
    expect(byName.get('xchacha20poly1305')?.rejected.map((x) => x.impl)).toContain('sodium-native');
    const text = await engine(['doctor'], false);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^zstd +${EXPECTED.zstd![0]} \\(${EXPECTED.zstd![1]}\\)$`, 'm'));
    expect(text.stdout).toMatch(new RegExp(`^argon2id +${EXPECTED.argon2id![0]} \\(${EXPECTED.argon2id![1]}\\)$`, 'm'));
  });

  // The built-ins this Node lacks, or that the policy skips: rejected, with the reason shown.
  itWhen(!useZstd)('engine doctor says why node:zlib zstd is not used', async () => {
    const r = await engine(['doctor', '--json'], false);
    const zstd = (r.json?.primitives as Selection[]).find((s) => s.primitive === 'zstd');
    const reason = zstd?.rejected.find((x) => x.impl === 'node:zlib')?.reason;
    const expected = builtinReason(hasZstd, '22.15');
    if (typeof expected === 'string') expect(reason).toBe(expected);
    else expect(reason).toMatch(expected);
  });

  itWhen(!useArgon2)('engine doctor says why node:crypto argon2 is not used', async () => {
    const r = await engine(['doctor', '--json'], false);
    const argon = (r.json?.primitives as Selection[]).find((s) => s.primitive === 'argon2id');
    const reason = argon?.rejected.find((x) => x.impl === 'node:crypto argon2')?.reason;
    const expected = builtinReason(hasArgon2, '24.7');
    if (typeof expected === 'string') expect(reason).toBe(expected);
    else expect(reason).toMatch(expected);
  });

  it('engine bench lists every implementation that loads, built-ins with their speed, and the rejected ones', async () => {
    const r = await engine(['bench', '--quick', '--only', 'primitives', '--json'], false);
    expect(r.code, r.stderr).toBe(0);
    const report = r.json as { primitives: { primitive: string; impl: string; kind: string; chosen: boolean; unit: string; median: number }[]; rejected: { impl: string; reason: string }[] };
    const rows = report.primitives;
    for (const [primitive, [impl]] of Object.entries(EXPECTED)) {
      const mine = rows.filter((x) => x.primitive === primitive && x.impl === impl);
      expect(mine.length, `${primitive} ${impl}`).toBeGreaterThan(0);
      for (const row of mine) {
        expect(row.chosen).toBe(true);
        expect(row.median).toBeGreaterThan(0);
      }
    }
    const builtins = rows.filter((x) => x.kind === 'builtin');
    expect(new Set(builtins.map((x) => x.impl))).toEqual(new Set([...(useZstd ? ['node:zlib'] : []), ...(useArgon2 ? ['node:crypto argon2'] : [])]));
    for (const row of builtins) expect(row.unit).toBe(row.impl === 'node:zlib' ? 'MB/s' : 'ms');
    for (const addon of ADDONS) expect(rows.some((x) => x.impl === addon)).toBe(false);
    const rejected = new Set(report.rejected.map((x) => x.impl));
    for (const addon of ADDONS) expect(rejected.has(addon), addon).toBe(true);
    expect(rejected.has('node:zlib')).toBe(!useZstd);
    expect(rejected.has('node:crypto argon2')).toBe(!useArgon2);
  });
});

describe(`repositories read the same with and without the addons (ENGINE_NATIVE=${native}, Node ${process.version})`, () => {
  const work = workdirPerFile('engine-builtin-');
  let src: string;

  beforeAll(async () => {
    src = join(work, 'src');
    await makeTree(src, { seed: 16, smallFiles: 200, scale: 0.2 });
  });

  for (const firstWithAddons of [true, false]) {
    const first = firstWithAddons ? 'with the addons' : 'without the addons';
    const second = firstWithAddons ? 'without them' : 'with them';
    it(`a repository written ${first} is read ${second}: no new blob, the same tree, identical restores, check --read-data`, async () => {
      const name = firstWithAddons ? 'with' : 'without';
      const repo = join(work, `repo-${name}`);
      const init = await engine(['init', '--repo', repo], firstWithAddons);
      expect(init.code, init.stderr).toBe(0);
      const a = await engine(['backup', '--repo', repo, '--host', 'first', '--json', src], firstWithAddons);
      expect(a.code, a.stderr).toBe(0);
      expect(Number(blobsAdded(a.json))).toBeGreaterThan(0);
      // Another host: no parent snapshot, so every file is read, chunked and hashed again.
      const b = await engine(['backup', '--repo', repo, '--host', 'second', '--json', src], !firstWithAddons);
      expect(b.code, b.stderr).toBe(0);
      expect(b.json?.parent).toBeUndefined();
      expect(b.json?.files_read).toBe(a.json?.files_read);
      expect(b.json?.bytes_read).toBe(a.json?.bytes_read);
      // Nothing below src is new: the only blobs stored are the trees on the way to src whose
      // folders' times changed meanwhile (the temp folder's, which other processes use; the
      // snapshot holds src under its absolute path), and wayTreesAdded checks src's node (its
      // tree id with it) is the same in both snapshots.
      const way = await wayTreesAdded(repo, native, String(a.json?.snapshot_id), String(b.json?.snapshot_id), src);
      expect({ blobsNew: blobsAdded(b.json), bytesAddedRaw: b.json?.data_added }).toEqual({ blobsNew: way.count, bytesAddedRaw: way.rawBytes });

      const list = await engine(['snapshots', '--repo', repo, '--json'], !firstWithAddons);
      expect(list.code, list.stderr).toBe(0);
      const snaps = JSON.parse(list.stdout.trim().split('\n').pop() ?? '[]') as { id: string; tree: string; hostname: string }[];
      const snapA = snaps.find((s) => s.id === a.json?.snapshot_id);
      const snapB = snaps.find((s) => s.id === b.json?.snapshot_id);
      expect(snapA?.hostname).toBe('first');
      expect(snapB?.hostname).toBe('second');
      expect(snapB?.tree === snapA?.tree, `${snapB?.tree} vs ${snapA?.tree}`).toBe(way.count === 0);

      // Each snapshot restores identical with the set of primitives that did not write it.
      for (const [snap, addons] of [[snapA!, !firstWithAddons], [snapB!, firstWithAddons]] as const) {
        const target = join(work, `restore-${name}-${snap.hostname}`);
        const restore = await engine(['restore', snap.id, '--repo', repo, '--target', target], addons);
        expect(restore.code, restore.stderr).toBe(0);
        expect(await compareTrees(src, join(target, src), { sparse: true })).toEqual([]);
      }
      const check = await engine(['check', '--repo', repo, '--read-data'], !firstWithAddons);
      expect(check.code, check.stdout + check.stderr).toBe(0);
    });
  }
});
