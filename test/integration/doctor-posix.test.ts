// `engine doctor` names the implementation of the OS calls Node lacks (native-bindings/posix) and
// why, as a user runs it: ENGINE_POSIX=off forces the Node fallback, ENGINE_NATIVE=off does not.
import { describe, expect, it } from 'vitest';
import { currentNative, runEngine } from '../support/cli.js';
import { nodeSupportNotice } from '../../src/session/node-support.js';

const linuxWithKoffi = process.platform === 'linux' && (process.arch === 'x64' || process.arch === 'arm64');

describe('engine doctor: file metadata calls', () => {
  it('libc via koffi by default, whatever ENGINE_NATIVE says', async () => {
    const r = await runEngine(['doctor', '--json'], { native: currentNative(), env: { ENGINE_POSIX: undefined } });
    expect(r.code).toBe(0);
    const posix = r.json!.posix as { policy: string; chosen: string; caps: Record<string, boolean> };
    expect(posix.policy).toBe('auto');
    if (linuxWithKoffi) expect(posix).toMatchObject({ chosen: 'libc via koffi', kind: 'native', caps: { nsTimes: true, xattrs: true, seekData: true, mknod: true, punchHole: true } });
    const text = await runEngine(['doctor'], { native: currentNative(), env: { ENGINE_POSIX: undefined } });
    expect(text.stdout).toMatch(/^file metadata +\S/m);
  });

  it('ENGINE_POSIX=off: the Node fallback, the reason, and nothing it cannot do', async () => {
    const r = await runEngine(['doctor', '--json'], { native: currentNative(), env: { ENGINE_POSIX: 'off' } });
    expect(r.code).toBe(0);
    expect(r.json!.posix).toEqual({
      policy: 'off',
      chosen: 'node:fs',
      kind: 'js',
      caps: { nsTimes: false, xattrs: false, seekData: false, mknod: false, punchHole: false },
      rejected: [{ impl: 'libc via koffi', reason: 'disabled by ENGINE_POSIX=off' }],
    });
    const text = await runEngine(['doctor'], { native: currentNative(), env: { ENGINE_POSIX: 'off' } });
    expect(text.stdout).toContain('file metadata      node:fs (js): nsTimes no, xattrs no, seekData no, mknod no, punchHole no');
    expect(text.stdout).toContain('rejected libc via koffi: disabled by ENGINE_POSIX=off');
  });

  it('says when the running Node is past its end of life or too old for the S3 client, and nothing otherwise', async () => {
    const notice = nodeSupportNotice();
    const text = await runEngine(['doctor'], { native: currentNative() });
    const second = text.stdout.split('\n')[1] ?? '';
    if (notice === undefined) expect(second).toMatch(/^blake3 /);
    else expect(second).toBe(notice);
    const json = await runEngine(['doctor', '--json'], { native: currentNative() });
    expect(json.json!.nodeNotice).toBe(notice ?? null);
    // Node 20 is past its end of life (2026-04-30): the notice names it.
    if (process.versions.node.startsWith('20.')) expect(notice).toContain('past its end of life');
  });
});
