// `engine serve --webdav` through the real CLI: a read-only WebDAV share of the snapshots that a
// file manager or davfs would open, checked with the requests they send (OPTIONS, PROPFIND depth
// 0 and 1, GET with and without a byte range, HEAD) and refusing every write.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'node:http';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TreeNode } from '../../src/format/tree.js';
import { currentNative, ENGINE_BIN, runEngine, TEST_PASSWORD } from '../support/cli.js';
import { saveForgedSnapshot } from '../support/forged-snapshot.js';
import { workdirPerFile } from '../support/workdir.js';

const native = currentNative();

describe(`serve --webdav (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-webdav-');
  let repo: string;
  let server: ChildProcess;
  let base: string;
  let snapshotId: string;
  /** A snapshot whose one file's entry says 1 MiB where its blobs hold 13 bytes. */
  let forged: string;
  /** What the server said on stderr. */
  let serverErr = '';
  const src = join(work, 'src');
  /**
   * The URL path of `src` below a snapshot: the snapshot holds it under its absolute path, each
   * component escaped as the server escapes names in hrefs.
   */
  const srcUrl = src.split('/').map(encodeURIComponent).join('/');
  const big = randomBytes(3 * 1024 * 1024 + 17);

  beforeAll(async () => {
    repo = join(work, 'repo');
    await mkdir(join(src, 'docs & notes'), { recursive: true });
    await writeFile(join(src, 'docs & notes', 'a <b>.txt'), 'hello webdav\n');
    await writeFile(join(src, 'big.bin'), big);
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
    const b = await runEngine(['backup', '--repo', repo, '--tag', 'nightly', src, '--json'], { native });
    expect(b.code, b.stderr).toBe(0);
    snapshotId = String(b.json?.snapshot_id);
    // A forged tree: one small file whose entry claims a megabyte.
    const docs = JSON.parse((await runEngine(['cat', 'tree', `${snapshotId}:${src}/docs & notes`, '--repo', repo], { native })).stdout) as { nodes: TreeNode[] };
    const real = docs.nodes.find((n) => n.type === 'file')!;
    // A day older than the real one, which stays `latest`.
    forged = await saveForgedSnapshot(repo, native, snapshotId, [{ ...real, name: 'lies.bin', size: 1024 * 1024 }], (o) => ({ tags: ['forged'], time: new Date(Date.parse(o.time) - 86_400_000).toISOString() }));
    server = spawn(ENGINE_BIN, ['serve', '--webdav', '--listen', '127.0.0.1:0', '--repo', repo], { env: { ...process.env, ENGINE_PASSWORD: TEST_PASSWORD, ENGINE_NATIVE: native }, stdio: ['ignore', 'pipe', 'pipe'] });
    server.stderr!.on('data', (d: Buffer) => (serverErr += d.toString()));
    const line = await new Promise<string>((resolve, reject) => {
      createInterface({ input: server.stdout! }).once('line', resolve);
      server.once('exit', (code) => reject(new Error(`serve exited ${code}`)));
    });
    base = /(http:\/\/\S+)/.exec(line)![1]!;
  });

  afterAll(async () => {
    if (server && server.exitCode === null) {
      const exited = new Promise((r) => server.once('exit', r));
      server.kill('SIGINT');
      await exited;
    }
  });

  const propfind = async (path: string, depth: '0' | '1'): Promise<{ status: number; body: string }> => {
    const r = await fetch(new URL(path, base), { method: 'PROPFIND', headers: { depth } });
    return { status: r.status, body: await r.text() };
  };
  const hrefs = (body: string): string[] => [...body.matchAll(/<D:href>([^<]*)<\/D:href>/g)].map((m) => m[1]!);

  it('says it is a read-only DAV server and lays the snapshots out as restic mount does', async () => {
    const opts = await fetch(base, { method: 'OPTIONS' });
    expect(opts.status).toBe(200);
    expect(opts.headers.get('dav')).toBe('1');
    expect(opts.headers.get('allow')).not.toContain('PUT');
    const root = await propfind('/', '1');
    expect(root.status).toBe(207);
    expect(hrefs(root.body)).toEqual(['/', '/hosts/', '/ids/', '/snapshots/', '/tags/']);
    const ids = await propfind('/ids/', '1');
    expect(hrefs(ids.body)).toContain(`/ids/${snapshotId.slice(0, 8)}/`);
    const tags = await propfind('/tags/nightly/', '1');
    expect(hrefs(tags.body)).toContain('/tags/nightly/latest/');
  });

  it('lists a snapshot folder (depth 1, names escaped in hrefs and XML) and one entry (depth 0)', async () => {
    const dir = await propfind(`/snapshots/latest${srcUrl}/`, '1');
    expect(dir.status).toBe(207);
    expect(hrefs(dir.body)).toEqual([`/snapshots/latest${srcUrl}/`, `/snapshots/latest${srcUrl}/big.bin`, `/snapshots/latest${srcUrl}/docs%20%26%20notes/`]);
    expect(dir.body).toContain(`<D:getcontentlength>${big.length}</D:getcontentlength>`);
    expect(dir.body).toContain('<D:displayname>docs &amp; notes</D:displayname>');
    const one = await propfind(`/snapshots/latest${srcUrl}/docs%20%26%20notes/a%20%3Cb%3E.txt`, '0');
    expect(hrefs(one.body)).toHaveLength(1);
    expect(one.body).toContain('<D:displayname>a &lt;b&gt;.txt</D:displayname>');
    expect((await propfind('/snapshots/latest/nothing-here', '0')).status).toBe(404);
  });

  it('serves file contents whole and by byte range, across blob boundaries', async () => {
    const whole = await fetch(new URL(`/ids/${snapshotId.slice(0, 8)}${srcUrl}/big.bin`, base));
    expect(whole.status).toBe(200);
    expect(Buffer.from(await whole.arrayBuffer()).equals(big)).toBe(true);
    const from = 1024 * 1024 - 5;
    const part = await fetch(new URL(`/snapshots/latest${srcUrl}/big.bin`, base), { headers: { range: `bytes=${from}-${from + 2 * 1024 * 1024}` } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes ${from}-${from + 2 * 1024 * 1024}/${big.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(big.subarray(from, from + 2 * 1024 * 1024 + 1))).toBe(true);
    const tail = await fetch(new URL(`/snapshots/latest${srcUrl}/big.bin`, base), { headers: { range: 'bytes=-10' } });
    expect(Buffer.from(await tail.arrayBuffer()).equals(big.subarray(big.length - 10))).toBe(true);
    const head = await fetch(new URL(`/snapshots/latest${srcUrl}/docs%20%26%20notes/a%20%3Cb%3E.txt`, base), { method: 'HEAD' });
    expect(head.headers.get('content-length')).toBe('13');
    expect(await (await fetch(new URL(`/snapshots/latest${srcUrl}/docs%20%26%20notes/a%20%3Cb%3E.txt`, base))).text()).toBe('hello webdav\n');
  });

  it('ignores a range whose last byte is before its first (the whole file, 200) and refuses one past the end (416)', async () => {
    const reversed = await fetch(new URL(`/snapshots/latest${srcUrl}/big.bin`, base), { headers: { range: 'bytes=500-100' } });
    expect(reversed.status).toBe(200);
    expect(Buffer.from(await reversed.arrayBuffer()).equals(big)).toBe(true);
    const past = await fetch(new URL(`/snapshots/latest${srcUrl}/big.bin`, base), { headers: { range: `bytes=${big.length}-` } });
    expect(past.status).toBe(416);
    expect(past.headers.get('content-range')).toBe(`bytes */${big.length}`);
  });

  it('a file whose blobs hold less than its entry says fails its transfer instead of ending short', async () => {
    // The server sends the headers it promised, then breaks the connection when the blobs run out:
    // the client sees a failed transfer (before the fix it got 13 bytes and waited for the rest).
    const read = async (): Promise<number> => (await (await fetch(new URL(`/ids/${forged.slice(0, 8)}/lies.bin`, base), { signal: AbortSignal.timeout(20_000) })).arrayBuffer()).byteLength;
    await expect(read()).rejects.toThrow(/fetch failed|terminated|other side closed/);
    // And the server says why, naming the damage.
    await expect.poll(() => serverErr).toContain('lies.bin: its blobs hold 13 bytes, its entry says 1048576 (damaged repository)');
  });

  it('refuses every write (405) and a non-loopback --listen (exit 2)', async () => {
    for (const method of ['PUT', 'DELETE', 'MKCOL', 'MOVE', 'PROPPATCH']) {
      const r = await fetch(new URL(`/snapshots/latest${srcUrl}/big.bin`, base), { method, body: method === 'PUT' ? 'x' : undefined });
      expect(r.status, method).toBe(405);
    }
    // A request addressed to another name (a page that rebinds its own name to 127.0.0.1) is refused.
    const rebound = await new Promise<number>((resolve, reject) => {
      const u = new URL(`/snapshots/latest${srcUrl}/big.bin`, base);
      request({ host: u.hostname, port: u.port, path: u.pathname, headers: { host: 'evil.example:80' } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      }).on('error', reject).end();
    });
    expect(rebound).toBe(403);
    const remote = await runEngine(['serve', '--webdav', '--listen', '0.0.0.0:8080', '--repo', repo], { native });
    expect(remote.code).toBe(2);
    expect(remote.stderr).toContain('loopback');
  });
});
