// backup's other flags (restic's names and semantics, docs/SELECTION.md "Other backup flags"),
// through the real CLI on real files and repositories: --stdin and --stdin-from-command streamed
// through the pipeline (byte-identical restores, a failing command saves no snapshot, a 300 MiB
// stream within a 256M budget), --dry-run writing nothing yet reporting what the real run adds,
// --parent, --force, --skip-if-unchanged, --read-concurrency, --time and --host.
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { blobsAdded, currentNative, ENGINE_BIN, runEngine, TEST_PASSWORD, type RunResult } from '../support/cli.js';
import { listRepo, repoChanges } from '../support/repo-files.js';
import { workdirPerFile } from '../support/workdir.js';

const native = currentNative();
const MiB = 1024 * 1024;

/** The engine with `input` piped into its standard input (a real pipe, written as it is read). */
function runWithStdin(args: string[], input: string): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(ENGINE_BIN, args, { env: { ...process.env, ENGINE_PASSWORD: TEST_PASSWORD, ENGINE_NATIVE: native }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.on('error', () => undefined);
    createReadStream(input).pipe(child.stdin);
    child.on('error', reject);
    child.on('close', (code) => {
      const last = stdout.trim().split('\n').pop() ?? '';
      let json: Record<string, unknown> | null = null;
      try {
        json = JSON.parse(last) as Record<string, unknown>;
      } catch {
        json = null;
      }
      resolve({ code: code ?? -1, stdout, stderr, json });
    });
  });
}

/**
 * The status-change time of `folder` and of each folder above it up to /: the folders on the way to
 * a path backed up in `folder`. A snapshot stores them with their metadata (FORMAT.md "Layout of
 * the root tree"), and the temporary folder's changes whenever any process creates or removes an
 * entry in it.
 */
async function wayStamp(folder: string): Promise<string> {
  const stamps: string[] = [];
  for (let d = folder; ; d = dirname(d)) {
    stamps.push(`${d}:${(await stat(d, { bigint: true })).ctimeNs}`);
    if (dirname(d) === d) return stamps.join(' ');
  }
}

/**
 * Runs `steps` (after `prepare`, which may change the folders on the way) until neither `folder`
 * nor a folder above it changed while they ran, and returns what that run returned: for steps
 * whose results are checked for a tree that is the same from one backup of a path in `folder` to
 * the next, which another process's entry in the temporary folder would change. Fails after 10 runs.
 */
async function whileWayStill<T>(folder: string, steps: (attempt: number) => Promise<T>, prepare: (attempt: number) => Promise<void> = async () => undefined): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    await prepare(attempt);
    const before = await wayStamp(folder);
    const result = await steps(attempt);
    const after = await wayStamp(folder);
    if (after === before) return result;
    if (attempt === 10) expect(after, `${folder} or a folder above it changed in each of 10 runs`).toBe(before);
  }
}

describe(`backup's other flags (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-backup-flags-');
  let repo: string;
  let src: string;
  let other: string;
  let n = 0;

  // --repo right after the command: what follows "--" is --stdin-from-command's command.
  const engine = ([command, ...args]: string[]): Promise<RunResult> => runEngine([command!, '--repo', repo, ...args], { native });
  const backup = (args: string[]): Promise<RunResult> => engine(['backup', '--host', 'flags', ...args]);
  const snapshots = async (): Promise<{ id: string; time: string; hostname: string; paths: string[]; parent?: string }[]> => {
    const r = await engine(['snapshots', '--json']);
    expect(r.code, r.stderr).toBe(0);
    return JSON.parse(r.stdout) as { id: string; time: string; hostname: string; paths: string[] }[];
  };
  const restoreLatest = async (): Promise<string> => {
    const target = join(work, `restored-${n++}`);
    const r = await engine(['restore', 'latest', '--target', target]);
    expect(r.code, r.stderr).toBe(0);
    return target;
  };

  beforeAll(async () => {
    repo = join(work, 'repo');
    const init = await runEngine(['init', '--repo', repo, '--kdf-memory', '8M', '--kdf-time', '1'], { native });
    expect(init.code, init.stderr).toBe(0);
    src = join(work, 'src');
    other = join(work, 'other');
    await mkdir(join(src, 'sub'), { recursive: true });
    await mkdir(other);
    await writeFile(join(src, 'a.txt'), 'a\n');
    await writeFile(join(src, 'sub', 'b.bin'), randomBytes(3 * MiB));
    await writeFile(join(other, 'c.txt'), 'c\n');
  });

  describe('--stdin and --stdin-from-command', () => {
    it('a 20 MiB stream piped in is stored as one file, mode 0644, and restores byte-identical', async () => {
      const input = join(work, 'stdin-20M');
      await writeFile(input, randomBytes(20 * MiB));
      const r = await runWithStdin(['backup', '--repo', repo, '--host', 'flags', '--stdin', '--stdin-filename', 'dump.bin', '--json'], input);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json?.bytes_read).toBe(20 * MiB);
      expect(r.json?.files_new).toBe(1);
      const latest = (await snapshots()).at(-1)!;
      expect(latest.paths).toEqual(['/dump.bin']);
      const target = await restoreLatest();
      const restored = join(target, 'dump.bin');
      expect((await readFile(restored)).equals(await readFile(input))).toBe(true);
      const st = await stat(restored);
      expect(st.mode & 0o7777).toBe(0o644);
      expect(st.uid).toBe(process.getuid!());
    });

    it('a command that exits 3 fails the backup (exit 1, the exit named, its stderr passed through) and saves no snapshot', async () => {
      const before = (await snapshots()).length;
      const r = await backup(['--stdin-from-command', '--', 'sh', '-c', 'head -c 5000000 /dev/urandom; echo from-the-command >&2; exit 3']);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain('from-the-command');
      expect(r.stderr).toContain('exited with code 3');
      expect(r.stderr).toContain('no snapshot was saved');
      expect((await snapshots()).length).toBe(before);
    });

    it('a command killed by a signal fails the backup the same way', async () => {
      const before = (await snapshots()).length;
      const r = await backup(['--stdin-from-command', '--', 'sh', '-c', 'head -c 100000 /dev/urandom; kill -9 $$']);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain('killed by SIGKILL');
      expect((await snapshots()).length).toBe(before);
    });

    it('a command that exits 0 is stored under --stdin-filename (in a folder) and restores identical to what it wrote', async () => {
      const copy = join(work, 'command-output');
      // A name with a folder, as restic's: file out.bin in folder dumps (mode 0755).
      const r = await backup(['--json', '--stdin-filename', 'dumps/out.bin', '--stdin-from-command', '--', 'sh', '-c', `head -c 5000000 /dev/urandom | tee '${copy}'; exit 0`]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json?.bytes_read).toBe(5_000_000);
      expect(r.json?.dirs).toBe(1);
      expect((await snapshots()).at(-1)!.paths).toEqual(['/dumps/out.bin']);
      const target = await restoreLatest();
      expect((await readFile(join(target, 'dumps', 'out.bin'))).equals(await readFile(copy))).toBe(true);
      expect((await stat(join(target, 'dumps'))).mode & 0o7777).toBe(0o755);
    });

    it('interrupted while the command writes nothing, the backup stops at once (exit 130, no snapshot) and the command is stopped', async () => {
      const before = (await snapshots()).length;
      const child = spawn(ENGINE_BIN, ['backup', '--repo', repo, '--host', 'flags', '--stdin-from-command', '--', 'sh', '-c', 'echo command-started $$ >&2; exec sleep 60'], { env: { ...process.env, ENGINE_PASSWORD: TEST_PASSWORD, ENGINE_NATIVE: native }, stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      const started = new Promise<void>((resolve) => {
        child.stderr.setEncoding('utf8').on('data', (d: string) => {
          stderr += d;
          if (stderr.includes('command-started')) resolve();
        });
      });
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      await started;
      const t0 = Date.now();
      child.kill('SIGINT');
      expect(await exited).toBe(130);
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect((await snapshots()).length).toBe(before);
      // The command (sh became sleep through exec, same pid) was stopped, not left running.
      const pid = Number(/command-started (\d+)/.exec(stderr)![1]);
      const alive = (): boolean => {
        try {
          process.kill(pid, 0);
          return true;
        } catch {
          return false;
        }
      };
      for (let i = 0; i < 50 && alive(); i++) await new Promise((r) => setTimeout(r, 100));
      expect(alive()).toBe(false);
    });

    it('a 300 MiB stream at --mem-budget 256M stays under the budget', async () => {
      const script = `head -c ${300 * MiB} /dev/urandom | "$0" backup --repo "$1" --host flags --stdin --mem-budget 256M --json`;
      const r = await new Promise<RunResult>((resolve, reject) => {
        const child = spawn('sh', ['-c', script, ENGINE_BIN, repo], { env: { ...process.env, ENGINE_PASSWORD: TEST_PASSWORD, ENGINE_NATIVE: native }, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
        child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, json: JSON.parse(stdout.trim().split('\n').pop() ?? 'null') as Record<string, unknown> | null }));
      });
      expect(r.code, r.stderr).toBe(0);
      expect(r.json?.bytes_read).toBe(300 * MiB);
      expect(r.json?.budget_bytes).toBe(256 * MiB);
      expect(r.json?.peak_rss_bytes as number).toBeLessThan(256 * MiB);
    }, 180_000);

    it('refuses paths with --stdin, no command, a name that is no file ("..", a folder), --files-from', async () => {
      const withPaths = await backup(['--stdin', src]);
      expect(withPaths.code).toBe(2);
      expect(withPaths.stderr).toContain('--stdin was specified and files/dirs were listed as arguments');
      const noCommand = await backup(['--stdin-from-command']);
      expect(noCommand.code).toBe(2);
      expect(noCommand.stderr).toContain('no command was given');
      for (const bad of ['../x', '/', 'dumps/']) {
        const name = await backup(['--stdin', '--stdin-filename', bad]);
        expect(name.code, bad).toBe(2);
        expect(name.stderr).toContain('--stdin-filename');
      }
      const list = join(work, 'list');
      await writeFile(list, `${src}\n`);
      const filesFrom = await backup(['--stdin', '--files-from', list]);
      expect(filesFrom.code).toBe(2);
      expect(filesFrom.stderr).toContain('--stdin and --files-from cannot be used together');
    });
  });

  describe('--dry-run', () => {
    it('writes nothing to the repository (no pack, index, snapshot nor lock) and reports what the real backup then adds', async () => {
      // A fresh folder for each run: once stored, its data would not count as added again.
      let fresh = '';
      const prepare = async (attempt: number): Promise<void> => {
        fresh = join(work, `dry-src-${attempt}`);
        await mkdir(join(fresh, 'many'), { recursive: true });
        for (let i = 0; i < 300; i++) await writeFile(join(fresh, 'many', `f${i}`), `file ${i}\n`);
        await writeFile(join(fresh, 'big.bin'), randomBytes(6 * MiB));
      };
      // The dry and the real runs must see the same tree, folders on the way included.
      const { dry, dryChanges, text, textChanges, real, changes, again } = await whileWayStill(
        work,
        async () => {
          const before = await listRepo(repo);
          const dry = await backup(['-n', '--json', fresh]);
          const dryChanges = repoChanges(before, await listRepo(repo));
          const text = await backup(['--dry-run', fresh]);
          const textChanges = repoChanges(before, await listRepo(repo));
          const real = await backup(['--json', fresh]);
          const changes = repoChanges(before, await listRepo(repo));
          // Once stored, a dry run of the same tree would add nothing.
          const again = await backup(['-n', '--json', fresh]);
          return { dry, dryChanges, text, textChanges, real, changes, again };
        },
        prepare,
      );
      expect(dry.code, dry.stderr).toBe(0);
      expect(dry.json?.dry_run).toBe(true);
      expect(dry.json?.snapshot_id).toBeUndefined();
      expect(dryChanges).toEqual({ added: [], changed: [], removed: [] });
      expect(text.code, text.stderr).toBe(0);
      expect(text.stdout).toContain('dry run: nothing was written to the repository');
      expect(text.stdout).toContain('would add');
      expect(textChanges).toEqual({ added: [], changed: [], removed: [] });
      expect(real.code, real.stderr).toBe(0);
      expect(real.json?.dry_run).toBe(false);
      expect(real.json?.data_added).toBe(dry.json?.data_added);
      expect(real.json?.data_added_packed).toBe(dry.json?.data_added_packed);
      expect(blobsAdded(real.json)).toBe(blobsAdded(dry.json));
      expect(real.json?.data_added as number).toBeGreaterThan(6 * MiB);
      // What the dry runs did not do, the real one did: packs, index, snapshot.
      expect(changes.added.some((f) => f.startsWith('data/'))).toBe(true);
      expect(changes.added.some((f) => f.startsWith('snapshots/'))).toBe(true);
      expect(changes.added.some((f) => f.startsWith('index/'))).toBe(true);
      expect(again.json?.data_added).toBe(0);
    }, 240_000);

    it('--stdin --dry-run reads the stream and writes nothing', async () => {
      const input = join(work, 'stdin-dry');
      await writeFile(input, randomBytes(2 * MiB));
      const before = await listRepo(repo);
      const r = await runWithStdin(['backup', '--repo', repo, '--host', 'flags', '--stdin', '-n', '--json'], input);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json?.bytes_read).toBe(2 * MiB);
      expect(r.json?.data_added as number).toBeGreaterThanOrEqual(2 * MiB);
      expect(repoChanges(before, await listRepo(repo))).toEqual({ added: [], changed: [], removed: [] });
    });
  });

  describe('parent, force, skip-if-unchanged, read-concurrency, time, host', () => {
    it('--parent uses the snapshot named instead of the automatic one; one that does not exist fails before anything is stored', async () => {
      const first = await backup(['--json', src]);
      expect(first.code, first.stderr).toBe(0);
      const otherSnap = await backup(['--json', other]);
      expect(otherSnap.code, otherSnap.stderr).toBe(0);
      const auto = await backup(['--json', src]);
      expect(auto.json?.parent).toBe(first.json?.snapshot_id);
      const chosen = await backup(['--json', '--parent', String(otherSnap.json?.snapshot_id).slice(0, 8), src]);
      expect(chosen.code, chosen.stderr).toBe(0);
      expect(chosen.json?.parent).toBe(otherSnap.json?.snapshot_id);
      // Nothing of src is in that parent: every file is read.
      expect(chosen.json?.files_unmodified).toBe(0);
      const latest = (await snapshots()).at(-1)!;
      expect(latest.id).toBe(chosen.json?.snapshot_id);
      const count = (await snapshots()).length;
      const missing = await backup(['--parent', 'ffffffff', src]);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain('no snapshot matches "ffffffff"');
      expect((await snapshots()).length).toBe(count);
    });

    it('--force reads every file again and records no parent (also over --parent)', async () => {
      const normal = await backup(['--json', src]);
      expect(normal.json?.files_unmodified).toBe(2);
      expect(normal.json?.files_read).toBe(0);
      const forced = await backup(['--json', '--force', '--parent', String(normal.json?.snapshot_id), src]);
      expect(forced.code, forced.stderr).toBe(0);
      expect(forced.json?.parent).toBeUndefined();
      expect(forced.json?.files_read).toBe(2);
      expect(forced.json?.bytes_read).toBe(3 * MiB + 2);
      expect(forced.json?.files_new).toBe(2);
    });

    it('--skip-if-unchanged saves no snapshot when the backed-up paths are as in the parent (exit 0, said), even when a folder on the way changed, and one when something in them changed', async () => {
      const base = await backup(['--json', other]);
      expect(base.code, base.stderr).toBe(0);
      const count = (await snapshots()).length;
      const skipped = await backup(['--skip-if-unchanged', other]);
      expect(skipped.code, skipped.stderr).toBe(0);
      expect(skipped.stdout).toContain('skipped creating snapshot');
      // A file added beside `other` changes the folder on the way (its times, its link count
      // for a folder): not a change of what is backed up.
      await writeFile(join(dirname(other), `beside-${Date.now()}.txt`), 'beside\n');
      await mkdir(join(dirname(other), `beside-dir-${Date.now()}`));
      const json = await backup(['--json', '--skip-if-unchanged', other]);
      expect(json.code, json.stderr).toBe(0);
      expect(json.json?.skipped).toBe(true);
      expect(json.json?.snapshot_id).toBeUndefined();
      expect((await snapshots()).length).toBe(count);
      await writeFile(join(other, 'new.txt'), 'new\n');
      const changed = await backup(['--json', '--skip-if-unchanged', other]);
      expect(changed.code, changed.stderr).toBe(0);
      expect(changed.json?.skipped).toBe(false);
      expect((await snapshots()).length).toBe(count + 1);
      // A backed-up path gone (left out by an exclude) is a change too.
      const both = await backup(['--json', other, src]);
      expect(both.code, both.stderr).toBe(0);
      const without = await backup(['--json', '--skip-if-unchanged', '--exclude', src, other, src]);
      expect(without.code, without.stderr).toBe(0);
      expect(without.json?.skipped).toBe(false);
    });

    it('--read-concurrency sets the files read at once; a bad value is refused', async () => {
      const r = await backup(['--json', '--force', '--read-concurrency', '5', src]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json?.file_concurrency).toBe(5);
      const one = await backup(['--json', '--force', '--read-concurrency', '1', src]);
      expect(one.json?.file_concurrency).toBe(1);
      expect(one.json?.bytes_read).toBe(3 * MiB + 2);
      for (const bad of ['0', 'many', '-3']) {
        const b = await backup(['--read-concurrency', bad, src]);
        expect(b.code, bad).toBe(2);
        expect(b.stderr).toContain('--read-concurrency');
      }
    });

    it('--time sets the snapshot\'s time (local time) and limits the automatic parent to older snapshots; a bad time is refused', async () => {
      const r = await backup(['--json', '--time', '2012-11-01 22:08:41', src]);
      expect(r.code, r.stderr).toBe(0);
      // Every earlier snapshot of src is newer than 2012: none is the parent.
      expect(r.json?.parent).toBeUndefined();
      const snap = (await snapshots()).find((s) => s.id === r.json?.snapshot_id)!;
      expect(new Date(snap.time).getTime()).toBe(new Date(2012, 10, 1, 22, 8, 41).getTime());
      for (const bad of ['2012-11-01', '2012-02-30 10:00:00', 'yesterday']) {
        const b = await backup(['--time', bad, src]);
        expect(b.code, bad).toBe(2);
        expect(b.stderr).toContain('--time');
      }
    });

    it('--host is recorded, and the automatic parent is of the same host', async () => {
      const r = await engine(['backup', '--json', '--host', 'elsewhere', src]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.json?.parent).toBeUndefined();
      const snap = (await snapshots()).find((s) => s.id === r.json?.snapshot_id)!;
      expect(snap.hostname).toBe('elsewhere');
      const again = await engine(['backup', '--json', '--host', 'elsewhere', src]);
      expect(again.json?.parent).toBe(r.json?.snapshot_id);
    });
  });
});
