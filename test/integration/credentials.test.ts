// Where the repository and its password come from, as restic's users script them: a password
// command, a password file named by the environment, a password piped in, a repository file,
// ENGINE_HOST and ENGINE_CACHE_DIR; and `engine version`. Through the real CLI.
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { currentNative, ENGINE_BIN, runEngine, TEST_PASSWORD } from '../support/cli.js';
import { workdirPerFile } from '../support/workdir.js';

const native = currentNative();
const noPassword = { ENGINE_PASSWORD: undefined } as const;

describe(`credentials and scripting (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-credentials-');
  let repo: string;
  let src: string;
  let passwordFile: string;

  beforeAll(async () => {
    repo = join(work, 'repo');
    src = join(work, 'src');
    await mkdir(src);
    await writeFile(join(src, 'a.txt'), 'a\n');
    passwordFile = join(work, 'password');
    await writeFile(passwordFile, `${TEST_PASSWORD}\n`);
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
  });

  it('--password-command and ENGINE_PASSWORD_COMMAND: the password the command prints (run by /bin/sh, quotes as typed)', async () => {
    const env = { ...noPassword, PW: TEST_PASSWORD };
    const flag = await runEngine(['snapshots', '--repo', repo, '--password-command', 'printf "%s\\n" "$PW"'], { env, native });
    expect(flag.code, flag.stderr).toBe(0);
    const fromEnv = await runEngine(['snapshots', '--repo', repo], { env: { ...env, ENGINE_PASSWORD_COMMAND: `cat '${passwordFile}'` }, native });
    expect(fromEnv.code, fromEnv.stderr).toBe(0);
    const wrong = await runEngine(['snapshots', '--repo', repo, '--password-command', 'echo not-it'], { env, native });
    expect(wrong.code).toBe(12);
    // A command that reads its standard input finds nothing there (as restic): it does not wait forever.
    const reads = await runEngine(['snapshots', '--repo', repo, '--password-command', 'read x; printf "%s" "$PW"'], { env, native });
    expect(reads.code, reads.stderr).toBe(0);
    // An empty variable is unset: ENGINE_PASSWORD_COMMAND= leaves ENGINE_PASSWORD to be used.
    const empty = await runEngine(['snapshots', '--repo', repo], { env: { ENGINE_PASSWORD_COMMAND: '', ENGINE_PASSWORD_FILE: '' }, native });
    expect(empty.code, empty.stderr).toBe(0);
  });

  it('a password command that fails is exit 2 naming its status, never its output', async () => {
    const r = await runEngine(['snapshots', '--repo', repo, '--password-command', 'printf leaked-secret; exit 3'], { env: noPassword, native });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--password-command');
    expect(r.stderr).toContain('exit 3');
    expect(r.stderr + r.stdout).not.toContain('leaked-secret');
  });

  it('ENGINE_PASSWORD_FILE is read as --password-file; a command and a file together are a usage error', async () => {
    const r = await runEngine(['snapshots', '--repo', repo], { env: { ...noPassword, ENGINE_PASSWORD_FILE: passwordFile }, native });
    expect(r.code, r.stderr).toBe(0);
    const both = await runEngine(['snapshots', '--repo', repo, '--password-file', passwordFile, '--password-command', 'true'], { env: noPassword, native });
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('both given');
  });

  it('a password piped in is read (its first line), except by backup --stdin, whose standard input is the data', async () => {
    const piped = await runEngine(['snapshots', '--repo', repo], { env: noPassword, native, input: `${TEST_PASSWORD}\nnot the password\n` });
    expect(piped.code, piped.stderr).toBe(0);
    const data = await runEngine(['backup', '--repo', repo, '--stdin'], { env: noPassword, native, input: `${TEST_PASSWORD}\n` });
    expect(data.code).toBe(2);
    expect(data.stderr).toContain('no password given');
    // A writer that keeps the pipe open after the password's line is not waited for.
    const child = spawn(ENGINE_BIN, ['snapshots', '--repo', repo], { env: { ...process.env, ENGINE_PASSWORD: undefined, ENGINE_NATIVE: native }, stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.write(`${TEST_PASSWORD}\n`);
    const code = await new Promise<number>((r) => child.on('close', (c) => r(c ?? -1)));
    child.stdin.destroy();
    expect(code).toBe(0);
    // /dev/null is no pipe: the message says where a password can come from.
    const none = await runEngine(['snapshots', '--repo', repo], { env: noPassword, native });
    expect(none.code).toBe(2);
    expect(none.stderr).toContain('--password-command');
  });

  it('--repository-file and ENGINE_REPOSITORY_FILE name the repository by their first line; an empty one is a usage error', async () => {
    const file = join(work, 'repository');
    await writeFile(file, `${repo}\n# the NAS\n`);
    const flag = await runEngine(['snapshots', '--repository-file', file], { native });
    expect(flag.code, flag.stderr).toBe(0);
    const env = await runEngine(['snapshots'], { env: { ENGINE_REPOSITORY_FILE: file }, native });
    expect(env.code, env.stderr).toBe(0);
    const empty = join(work, 'empty');
    await writeFile(empty, '\n');
    const r = await runEngine(['snapshots', '--repository-file', empty], { native });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('empty');
    // A location and a file together: which one was meant? (restic: "mutually exclusive").
    const both = await runEngine(['snapshots', '--repo', repo, '--repository-file', file], { native });
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('--repo and --repository-file are both given');
    const envAndFlag = await runEngine(['snapshots', '--repository-file', file], { env: { ENGINE_REPOSITORY: repo }, native });
    expect(envAndFlag.code).toBe(2);
    expect(envAndFlag.stderr).toContain('ENGINE_REPOSITORY and --repository-file are both given');
  });

  it('ENGINE_HOST names the host a backup records; ENGINE_CACHE_DIR holds the cache', async () => {
    const cache = join(work, 'cache');
    const b = await runEngine(['backup', '--repo', repo, '--json', src], { env: { ENGINE_HOST: 'nas-from-env', ENGINE_CACHE_DIR: cache }, native });
    expect(b.code, b.stderr).toBe(0);
    const list = JSON.parse((await runEngine(['snapshots', '--repo', repo, '--json', '--host', 'nas-from-env'])).stdout) as { hostname: string }[];
    expect(list.map((s) => s.hostname)).toEqual(['nas-from-env']);
    expect(existsSync(cache)).toBe(true);
  });

  it('ENGINE_HOST is the default --host filter (restic\'s RESTIC_HOST); --host "" takes every host; ids given are no warning', async () => {
    // The repository holds nas-from-env's snapshot (the test above) and pi-at-home's.
    expect((await runEngine(['backup', '--repo', repo, '--host', 'pi-at-home', src], { env: { ENGINE_HOST: 'nas-from-env' }, native })).code).toBe(0);
    const host = (env: string | undefined, args: string[] = []): Promise<string[]> =>
      runEngine(['snapshots', '--repo', repo, '--json', ...args], { env: { ENGINE_HOST: env }, native }).then((r) => {
        expect(r.code, r.stderr).toBe(0);
        return (JSON.parse(r.stdout) as { hostname: string }[]).map((s) => s.hostname);
      });
    const all = await host(undefined);
    expect(new Set(all)).toEqual(new Set(['nas-from-env', 'pi-at-home']));
    expect(await host('nas-from-env')).toEqual(['nas-from-env']);
    expect((await host('nas-from-env', ['--host', ''])).sort()).toEqual([...all].sort());
    const other = all.find((h) => h !== 'nas-from-env')!;
    expect(new Set(await host('nas-from-env', ['--host', other]))).toEqual(new Set([other]));
    // "latest" is the host's latest; an id is taken whatever the host, with no warning.
    const ls = await runEngine(['ls', 'latest', '--repo', repo, '--json'], { env: { ENGINE_HOST: 'nas-from-env' }, native });
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout.split('\n')[0]).toContain('"hostname":"nas-from-env"');
    const ids = (JSON.parse((await runEngine(['snapshots', '--repo', repo, '--json', '--host', other], { native })).stdout) as { id: string }[]).map((s) => s.id);
    const byId = await runEngine(['ls', ids[0]!.slice(0, 8), '--repo', repo], { env: { ENGINE_HOST: 'nas-from-env' }, native });
    expect(byId.code, byId.stderr).toBe(0);
    expect(byId.stderr).not.toContain('ignored');
    const none = await runEngine(['restore', 'latest', '--repo', repo, '--target', join(work, 'none')], { env: { ENGINE_HOST: 'no-such-host' }, native });
    expect(none.code).not.toBe(0);
    expect(none.stderr).toContain('ENGINE_HOST');
    // dump's "latest" too, as restic's; --host "" undoes it.
    const dumpNone = await runEngine(['dump', 'latest', join(src, 'a.txt'), '--repo', repo], { env: { ENGINE_HOST: 'no-such-host' }, native });
    expect(dumpNone.code).not.toBe(0);
    expect(dumpNone.stderr).toContain('ENGINE_HOST');
    const dumpAny = await runEngine(['dump', 'latest', join(src, 'a.txt'), '--repo', repo, '--host', ''], { env: { ENGINE_HOST: 'no-such-host' }, native });
    expect(dumpAny.code, dumpAny.stderr).toBe(0);
    expect(dumpAny.stdout).toBe('a\n');
  });

  it('version names engine, Node and the primitives in use, also as JSON', async () => {
    const r = await runEngine(['version'], { native });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^engine \d+\.\d+\.\d+ on Node v\d+/);
    const j = await runEngine(['version', '--json'], { native });
    const v = JSON.parse(j.stdout) as { message_type: string; node_version: string; primitives: Record<string, string> };
    expect(v.message_type).toBe('version');
    expect(v.node_version).toBe(process.version);
    expect(Object.keys(v.primitives)).toEqual(expect.arrayContaining(['blake3', 'xchacha20poly1305', 'argon2id', 'zstd']));
    if (native === 'off') for (const impl of Object.values(v.primitives)) expect(impl).not.toContain('(native)');
  });
});
