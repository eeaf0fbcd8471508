// bin/engine finds a Node to run on the way a timer or a systemd unit needs: ENGINE_NODE, else the
// node of the prefix engine was installed into (npm i -g puts the package in
// PREFIX/lib/node_modules/NAME and links PREFIX/bin/engine to it; nvm and tarball installs keep
// node in PREFIX/bin), else node on the PATH, else a clear error. The install layout is built
// here by hand around this clone's bin/ and dist/; test/package/install-check.sh does it with npm.
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const clone = fileURLToPath(new URL('../..', import.meta.url));

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function run(file: string, env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(file, ['--version'], { env, cwd: tmpdir() }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

describe('bin/engine: which Node it runs on', () => {
  let dir: string;
  let prefix: string;
  let engine: string;
  let tools: string;
  let marker: string;

  /** A node that leaves a mark when it is the one used, then runs the real one. */
  async function markingNode(path: string, mark: string): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, `#!/bin/sh\necho ${mark} >> "${marker}"\nexec "${process.execPath}" "$@"\n`);
    await chmod(path, 0o755);
  }

  async function marks(): Promise<string[]> {
    const text = await readFile(marker, 'utf8').catch(() => '');
    await rm(marker, { force: true });
    return text.split('\n').filter(Boolean);
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'engine-launcher-'));
    marker = join(dir, 'used');
    // PREFIX/lib/node_modules/engine-backup/{bin,dist,node_modules} and PREFIX/bin/engine -> it.
    prefix = join(dir, 'prefix');
    const pkg = join(prefix, 'lib', 'node_modules', 'engine-backup');
    await mkdir(join(pkg, 'bin'), { recursive: true });
    for (const f of ['engine', 'engine.js']) await writeFile(join(pkg, 'bin', f), await readFile(join(clone, 'bin', f)), { mode: 0o755 });
    await symlink(join(clone, 'dist'), join(pkg, 'dist'));
    await symlink(join(clone, 'node_modules'), join(pkg, 'node_modules'));
    await writeFile(join(pkg, 'package.json'), await readFile(join(clone, 'package.json')));
    await mkdir(join(prefix, 'bin'), { recursive: true });
    engine = join(prefix, 'bin', 'engine');
    await symlink('../lib/node_modules/engine-backup/bin/engine', engine);
    // A PATH with the three tools the launcher calls, and no node.
    tools = join(dir, 'tools');
    await mkdir(tools);
    for (const t of ['readlink', 'dirname', 'basename']) {
      for (const d of ['/usr/bin', '/bin']) {
        const ok = await readFile(join(d, t)).then(() => true, () => false);
        if (ok) {
          await symlink(join(d, t), join(tools, t));
          break;
        }
      }
    }
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('no node on the PATH and none in the prefix: exit 2 and a message saying what to do', async () => {
    const r = await run(engine, { PATH: tools, HOME: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('engine: cannot find Node.js');
    expect(r.stderr).toContain('ENGINE_NODE=/path/to/node');
  });

  it('uses the node of its install prefix when the PATH has none (a systemd unit with an nvm Node)', async () => {
    await markingNode(join(prefix, 'bin', 'node'), 'prefix');
    try {
      const r = await run(engine, { PATH: tools, HOME: dir });
      expect(r).toMatchObject({ code: 0, stderr: '' });
      expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
      expect(await marks()).toEqual(['prefix']);
    } finally {
      await rm(join(prefix, 'bin', 'node'));
    }
  });

  it('prefers the prefix node over a node on the PATH, and ENGINE_NODE over both', async () => {
    await markingNode(join(prefix, 'bin', 'node'), 'prefix');
    const onPath = join(dir, 'path-bin');
    await markingNode(join(onPath, 'node'), 'path');
    const chosen = join(dir, 'chosen', 'node');
    await markingNode(chosen, 'chosen');
    try {
      expect((await run(engine, { PATH: `${onPath}:${tools}`, HOME: dir })).code).toBe(0);
      expect(await marks()).toEqual(['prefix']);
      expect((await run(engine, { PATH: `${onPath}:${tools}`, HOME: dir, ENGINE_NODE: chosen })).code).toBe(0);
      expect(await marks()).toEqual(['chosen']);
      await rm(join(prefix, 'bin', 'node'));
      expect((await run(engine, { PATH: `${onPath}:${tools}`, HOME: dir })).code).toBe(0);
      expect(await marks()).toEqual(['path']);
    } finally {
      await rm(join(prefix, 'bin', 'node'), { force: true });
    }
  });

  it('ENGINE_NODE that is not an executable: exit 2 naming it', async () => {
    const r = await run(engine, { PATH: tools, HOME: dir, ENGINE_NODE: join(dir, 'missing-node') });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`ENGINE_NODE=${join(dir, 'missing-node')} is not an executable file`);
  });
});
