// Profiles (src/cli/profiles.ts, docs/UNATTENDED.md): a TOML file in resticprofile's shape drives
// backup, forget and check with the same results as the same flags typed out; flags given on the
// command line win; mistakes in the file are usage errors naming them. Through the real CLI.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { currentNative, runEngine, TEST_PASSWORD } from '../support/cli.js';
import { workdirPerFile } from '../support/workdir.js';

const native = currentNative();

interface Listed {
  hostname: string;
  tags: string[];
  paths: string[];
}

describe(`profiles (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-profiles-');
  let src: string;
  let config: string;
  const byFlags = () => join(work, 'by-flags');
  const byProfile = () => join(work, 'by-profile');
  // No password in the environment: the profile names the file.
  const env = { ENGINE_PASSWORD: undefined };
  const profile = (args: string[], extra: Record<string, string | undefined> = {}) => runEngine(['--config', config, '-P', 'home', ...args], { env: { ...env, ...extra }, native });

  beforeAll(async () => {
    src = join(work, 'src');
    await mkdir(join(src, 'cache'), { recursive: true });
    await writeFile(join(src, 'a.txt'), 'a\n');
    await writeFile(join(src, 'b.tmp'), 'scratch\n');
    await writeFile(join(src, 'cache', 'c.bin'), 'c\n');
    const passwordFile = join(work, 'password');
    await writeFile(passwordFile, `${TEST_PASSWORD}\n`);
    config = join(work, 'profiles.toml');
    await writeFile(
      config,
      [
        '[base]',
        `repository = ${JSON.stringify(byProfile())}`,
        `password-file = ${JSON.stringify(passwordFile)}`,
        '',
        '[home]',
        'inherit = "base"',
        'mem-budget = "512M"   # to every command that takes it',
        '',
        '[home.backup]',
        `source = [${JSON.stringify(src)}]`,
        'exclude = ["*.tmp", "cache"]',
        'tag = ["nightly", "home"]',
        'host = "pi"',
        '',
        '[home.forget]',
        'keep-last = 1',
        'prune = true',
        '',
        '[home.check]',
        'read-data = true',
        '',
      ].join('\n'),
    );
  });

  it('backup, forget and check from the profile give what the same flags give', async () => {
    const flagsRun = (args: string[]) => runEngine([...args, '--repo', byFlags()], { native });
    expect((await flagsRun(['init'])).code).toBe(0);
    const init = await profile(['init']);
    expect(init.code, init.stderr).toBe(0);
    for (let i = 0; i < 2; i++) {
      expect((await flagsRun(['backup', '--exclude', '*.tmp', '--exclude', 'cache', '--tag', 'nightly', '--tag', 'home', '--host', 'pi', src])).code).toBe(0);
      const b = await profile(['backup']);
      expect(b.code, b.stderr).toBe(0);
    }
    const listOf = async (run: (a: string[]) => Promise<{ stdout: string }>) => JSON.parse((await run(['snapshots', '--json'])).stdout) as Listed[];
    const lsOf = async (run: (a: string[]) => Promise<{ stdout: string }>) => (await run(['ls', 'latest'])).stdout;
    const want = await listOf(flagsRun);
    const got = await listOf((a) => profile(a));
    expect(got.map(({ hostname, tags, paths }) => ({ hostname, tags, paths }))).toEqual(want.map(({ hostname, tags, paths }) => ({ hostname, tags, paths })));
    expect(got[0]).toMatchObject({ hostname: 'pi', tags: ['nightly', 'home'], paths: [src] });
    expect(await lsOf((a) => profile(a))).toBe(await lsOf(flagsRun));
    expect(await lsOf((a) => profile(a))).not.toContain('b.tmp');

    const forgetFlags = await flagsRun(['forget', '--keep-last', '1', '--prune']);
    expect(forgetFlags.code).toBe(0);
    const forget = await profile(['forget']);
    expect(forget.code, forget.stderr).toBe(0);
    expect(await listOf((a) => profile(a))).toHaveLength((await listOf(flagsRun)).length);
    expect(await listOf((a) => profile(a))).toHaveLength(1);
    const check = await profile(['check']);
    expect(check.code, check.stderr).toBe(0);
    // read-data = true reached check: it read the packs.
    expect(check.stderr + check.stdout).toMatch(/read \d+ pack/);
  });

  it('a flag on the command line wins over the profile\'s; a repeatable one adds to it', async () => {
    const b = await profile(['backup', '--host', 'laptop', '--tag', 'manual', '--json']);
    expect(b.code, b.stderr).toBe(0);
    const list = JSON.parse((await profile(['snapshots', '--json', '--host', 'laptop'])).stdout) as Listed[];
    expect(list).toHaveLength(1);
    expect(list[0]!.tags).toEqual(['nightly', 'home', 'manual']);
  });

  it('the default file is $XDG_CONFIG_HOME/engine/profiles.toml', async () => {
    const home = join(work, 'xdg');
    await mkdir(join(home, 'engine'), { recursive: true });
    await writeFile(join(home, 'engine', 'profiles.toml'), `[nas]\nrepository = ${JSON.stringify(byProfile())}\n`);
    const r = await runEngine(['-P', 'nas', 'snapshots'], { env: { XDG_CONFIG_HOME: home }, native });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('snapshot(s)');
    // The attached form, without --config, reads the default file too.
    const attached = await runEngine(['-Pnas', 'snapshots'], { env: { XDG_CONFIG_HOME: home }, native });
    expect(attached.code, attached.stderr).toBe(0);
    expect(attached.stdout).toContain('snapshot(s)');
  });

  it('mistakes in the file are usage errors (exit 2) that name them', async () => {
    const bad = async (text: string, args: string[] = ['snapshots']) => {
      const f = join(work, `bad-${Math.random().toString(36).slice(2)}.toml`);
      await writeFile(f, text);
      return runEngine(['--config', f, '-P', 'home', ...args], { native });
    };
    const unknown = await bad('[home.backup]\nexclude-everything = true\n', ['backup']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('[home.backup] exclude-everything');
    const missing = await bad('[nas]\nrepository = "/x"\n');
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no profile "home"');
    expect(missing.stderr).toContain('nas');
    const circle = await bad('[home]\ninherit = "a"\n[a]\ninherit = "home"\n');
    expect(circle.code).toBe(2);
    expect(circle.stderr).toContain('home -> a -> home');
    const toml = await bad('[home\nrepository = 1\n');
    expect(toml.code).toBe(2);
    expect(toml.stderr).toContain('not valid TOML');
    const noFile = await runEngine(['--config', join(work, 'none.toml'), '-P', 'home', 'snapshots'], { native });
    expect(noFile.code).toBe(2);
    expect(noFile.stderr).toContain('none.toml');
  });

  it('hooks run in order around the command, told the profile, the command and its exit code; a failed run-before stops it', async () => {
    const log = join(work, 'hooks.log');
    const hooked = join(work, 'hooks.toml');
    const write = async (backupHooks: string) =>
      writeFile(
        hooked,
        [
          '[home]',
          `repository = ${JSON.stringify(byProfile())}`,
          `password-file = ${JSON.stringify(join(work, 'password'))}`,
          `run-before = ["echo profile-before >> '${log}'"]`,
          `run-finally = ["echo profile-finally >> '${log}'"]`,
          '[home.backup]',
          `source = [${JSON.stringify(src)}]`,
          backupHooks,
        ].join('\n'),
      );
    const snapshotCount = async () => (JSON.parse((await profile(['snapshots', '--json'])).stdout) as unknown[]).length;
    const before = await snapshotCount();
    await write(
      [
        `run-before = ["echo \\"before $PROFILE_NAME $PROFILE_COMMAND\\" >> '${log}'"]`,
        `run-after = ["echo \\"after $ENGINE_EXIT_CODE\\" >> '${log}'"]`,
        `run-after-fail = ["echo fail >> '${log}'"]`,
        `run-finally = ["echo \\"finally $ENGINE_EXIT_CODE\\" >> '${log}'"]`,
      ].join('\n'),
    );
    const ok = await runEngine(['--config', hooked, '-P', 'home', 'backup', '--json'], { env, native });
    expect(ok.code, ok.stderr).toBe(0);
    // --json stays clean: a hook's output goes to standard error.
    expect(() => JSON.parse(ok.stdout.trim().split('\n').pop()!)).not.toThrow();
    expect((await readFile(log, 'utf8')).trim().split('\n')).toEqual(['profile-before', 'before home backup', 'after 0', 'finally 0', 'profile-finally']);
    expect(await snapshotCount()).toBe(before + 1);

    await writeFile(log, '');
    await write([`run-before = ["exit 7"]`, `run-after = ["echo after >> '${log}'"]`, `run-after-fail = ["echo \\"fail $ERROR_EXIT_CODE\\" >> '${log}'"]`].join('\n'));
    const stopped = await runEngine(['--config', hooked, '-P', 'home', 'backup'], { env, native });
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toContain('run-before hook `exit 7` failed (exit 7)');
    expect((await readFile(log, 'utf8')).trim().split('\n')).toEqual(['profile-before', 'fail 1', 'profile-finally']);
    expect(await snapshotCount()).toBe(before + 1);

    // A command that fails runs run-after-fail with its exit code, and not run-after.
    await writeFile(log, '');
    await write([`run-after = ["echo after >> '${log}'"]`, `run-after-fail = ["echo \\"fail $ERROR_EXIT_CODE $ERROR\\" >> '${log}'"]`].join('\n'));
    const failed = await runEngine(['--config', hooked, '-P', 'home', 'backup', '--mem-budget', 'lots'], { env, native });
    expect(failed.code).toBe(2);
    const lines = (await readFile(log, 'utf8')).trim().split('\n');
    expect(lines[0]).toBe('profile-before');
    expect(lines[1]).toMatch(/^fail 2 .*--mem-budget/);
    expect(lines[2]).toBe('profile-finally');
  });

  it('send-* tell a monitor: a start, a success, a failure with the error and the end of the log; a monitor that is down changes no exit code', async () => {
    const got: { path: string; method: string; body: string; type: string | undefined }[] = [];
    const server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.setEncoding('utf8').on('data', (d: string) => (body += d));
      req.on('end', () => {
        got.push({ path: req.url ?? '', method: req.method ?? '', body, type: req.headers['content-type'] });
        res.end('OK');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const pinged = join(work, 'pings.toml');
      await writeFile(
        pinged,
        [
          '[home]',
          `repository = ${JSON.stringify(byProfile())}`,
          `password-file = ${JSON.stringify(join(work, 'password'))}`,
          // One monitor given as a single table at the profile's level.
          `send-finally = { url = "${base}/gotify", format = "gotify" }`,
          '[home.backup]',
          `source = [${JSON.stringify(src)}]`,
          `send-before = "${base}/uuid/start"`,
          `send-after = { url = "${base}/uuid", body = "ok {{profile}} {{command}} {{exit_code}}" }`,
          `send-after-fail = "${base}/uuid/fail"`,
          // A monitor that is down (nothing listens on port 9): said, and the exit code stays the backup's.
          'send-finally = "http://127.0.0.1:9/down"',
        ].join('\n'),
      );
      const ok = await runEngine(['--config', pinged, '-P', 'home', 'backup'], { env, native });
      expect(ok.code, ok.stderr).toBe(0);
      expect(ok.stderr).toContain('cannot reach the monitor at http://127.0.0.1:9');
      expect(got.map((g) => g.path)).toEqual(['/uuid/start', '/uuid', '/gotify']);
      expect(got[1]!.body).toBe('ok home backup 0');
      expect(JSON.parse(got[2]!.body)).toMatchObject({ title: 'engine backup (home) done', priority: 4 });
      expect(got[2]!.type).toBe('application/json');

      got.length = 0;
      const failed = await runEngine(['--config', pinged, '-P', 'home', 'backup', '--mem-budget', 'lots'], { env, native });
      expect(failed.code).toBe(2);
      expect(got.map((g) => g.path)).toEqual(['/uuid/start', '/uuid/fail', '/gotify']);
      // The failure ping carries the error and the end of what engine said.
      expect(got[1]!.body).toContain('--mem-budget');
      expect(got[1]!.body).toContain('engine: ');
      expect(JSON.parse(got[2]!.body)).toMatchObject({ title: 'engine backup (home) failed, exit 2' });
    } finally {
      server.close();
    }
  });

  it('the command line is read as commander reads it: values of flags, --, -PNAME, --help; values are checked against the flag', async () => {
    const log = join(work, 'forms.log');
    const forms = join(work, 'forms.toml');
    await writeFile(
      forms,
      [
        '[home]',
        `repository = ${JSON.stringify(byProfile())}`,
        `password-file = ${JSON.stringify(join(work, 'password'))}`,
        // A hook has no business with the password: it is not in its environment.
        `run-before = ["test -z \\"$ENGINE_PASSWORD\\" && echo before >> '${log}'"]`,
        '[home.snapshots]',
        'json = true',
        '[home.backup]',
        `source = [${JSON.stringify(src)}]`,
        'verbose = 2',
      ].join('\n'),
    );
    const withForms = (args: string[]) => runEngine(['--config', forms, ...args], { env: { ENGINE_PASSWORD: 'not for hooks' }, native });
    // "backup" is the value of --s3-storage-class here, not the command: the snapshots table applies.
    const valued = await withForms(['-P', 'home', '--s3-storage-class', 'backup', 'snapshots']);
    expect(valued.code, valued.stderr).toBe(0);
    expect(() => JSON.parse(valued.stdout) as unknown).not.toThrow();
    // -PNAME is -P NAME; a -P inside a cluster of short flags is refused, not ignored.
    expect((await withForms(['-Phome', 'snapshots'])).code).toBe(0);
    const cluster = await withForms(['-vP', 'home', 'snapshots']);
    expect(cluster.code).toBe(2);
    expect(cluster.stderr).toContain('own word');
    // --help runs no hook.
    await writeFile(log, '');
    const help = await withForms(['-P', 'home', 'backup', '--help']);
    expect(help.code).toBe(0);
    expect(await readFile(log, 'utf8')).toBe('');
    // verbose = 2 is -vv; the hook ran without the password in its environment.
    const vv = await withForms(['-P', 'home', 'backup']);
    expect(vv.code, vv.stderr).toBe(0);
    expect(vv.stdout).toMatch(/^(new|unmodified) +\//m);
    expect(await readFile(log, 'utf8')).toBe('before\n');
    // With --stdin-from-command, the profile's source paths are left out (they would be taken for the command).
    const stdin = await withForms(['-P', 'home', 'backup', '--stdin-from-command', '--stdin-filename', 'hello.txt', '--', 'echo', 'hello']);
    expect(stdin.code, stdin.stderr).toBe(0);
    // A switch given a value, a value flag given true, and a URL that is none: exit 2 naming the key.
    const bad = async (line: string, section = '[home.backup]') => {
      const f = join(work, `bad-${Math.random().toString(36).slice(2)}.toml`);
      await writeFile(f, `${section}\n${line}\n`);
      return runEngine(['--config', f, '-P', 'home', 'backup'], { native });
    };
    const tagTrue = await bad('tag = true');
    expect(tagTrue.code).toBe(2);
    expect(tagTrue.stderr).toContain('--tag takes a value');
    const forceString = await bad('force = "yes"');
    expect(forceString.code).toBe(2);
    expect(forceString.stderr).toContain('--force is a switch');
    const url = await bad('send-before = "https://"');
    expect(url.code).toBe(2);
    expect(url.stderr).toContain('send-before');
  });
});
