// --json output against the published schemas (docs/json/*.schema.json): every line a command
// prints validates, and the lines say what happened. Each command's own section below.
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { currentNative, runEngine } from '../support/cli.js';
import { validateLines } from '../support/json-schema.js';
import { workdirPerFile } from '../support/workdir.js';

const native = currentNative();

describe('version --json', () => {
  it('validates and names each primitive in use', async () => {
    const r = await runEngine(['version', '--json'], { native });
    expect(r.code).toBe(0);
    const [v] = validateLines('version', r.stdout);
    expect(v!.message_type).toBe('version');
    expect(Object.keys(v!.primitives as object)).toContain('xchacha20poly1305');
    // ENGINE_NATIVE=off: the cipher is the pure-JS one, and the line says so.
    if (native === 'off') expect((v!.primitives as Record<string, string>).xchacha20poly1305).toMatch(/\(js\)/);
  });

  it('a line that breaks the schema is caught (the validator is live)', () => {
    expect(() => validateLines('version', '{"message_type":"version"}')).toThrow(/required property/);
    expect(() => validateLines('version', 'not json')).toThrow(/not JSON/);
  });
});

describe(`backup and restore --json streams (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-json-stream-');
  const repo = (): string => join(work, 'repo');
  const src = (): string => join(work, 'src');
  const fast = { ENGINE_PROGRESS_FPS: '50' };
  const files = 12;

  /** Every stderr line of a --json run is JSON in one of the shapes of messages.schema.json. */
  const stderrLines = (text: string): Record<string, unknown>[] => validateLines('messages', text.split('\n').filter((l) => !l.startsWith('test hook:')).join('\n'));

  beforeAll(async () => {
    await mkdir(join(src(), 'sub', 'deeper'), { recursive: true });
    // 3 MiB of random data through a 1 MiB/s upload limit: the run lasts seconds, so status lines
    // come during it whatever the machine's speed.
    await writeFile(join(src(), 'big.bin'), randomBytes(3 * 1024 * 1024));
    for (let i = 0; i < files - 2; i++) await writeFile(join(src(), 'sub', `f${i}.txt`), `file ${i}\n`);
    await writeFile(join(src(), 'sub', 'deeper', 'gone.txt'), 'removed just before it is opened\n');
    expect((await runEngine(['init', '--repo', repo()], { native })).code).toBe(0);
  });

  it('backup: status lines during the run, an error with during and item, restic’s summary; each line validates', async () => {
    const r = await runEngine(['backup', '--json', '--repo', repo(), '--limit-upload', '1M', src()], { native, env: { ...fast, ENGINE_TEST_HOOKS: 'vanish=gone.txt' } });
    expect(r.code, r.stderr).toBe(3);
    const lines = validateLines('backup', r.stdout);
    const status = lines.filter((l) => l.message_type === 'status');
    const summary = lines[lines.length - 1]!;
    expect(summary.message_type).toBe('summary');
    // Status lines while the run went on: more than one, and some below 100%.
    expect(status.length).toBeGreaterThan(3);
    expect(status.some((s) => (s.percent_done as number) < 1 && (s.bytes_done as number) > 0)).toBe(true);
    expect(status.filter((s) => s.percent_done === 1)).toHaveLength(1);
    // The one that vanished is the error. stderr is a pipe here: no scan, so no totals.
    expect(status[status.length - 1]).toMatchObject({ percent_done: 1, error_count: 1 });
    expect(status.every((s) => s.total_files === undefined && s.total_bytes === undefined)).toBe(true);
    expect(summary).toMatchObject({ dry_run: false, files_new: files - 1, files_changed: 0, files_unmodified: 0, dirs_changed: 0, dirs_unmodified: 0, total_files_processed: files - 1, errors: 1 });
    // sub, deeper and src, and the folders on the way to src.
    expect(summary.dirs_new as number).toBeGreaterThanOrEqual(3);
    expect(summary.data_blobs as number).toBeGreaterThan(files - 2);
    expect(summary.tree_blobs as number).toBeGreaterThan(0);
    expect(summary.total_bytes_processed as number).toBeGreaterThan(3 * 1024 * 1024);
    const errors = stderrLines(r.stderr).filter((l) => l.message_type === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ during: 'archival', item: join(src(), 'sub', 'deeper', 'gone.txt') });
    const ls = await runEngine(['snapshots', '--repo', repo(), '--json'], { native });
    expect(ls.stdout).toContain(String(summary.snapshot_id));
  });

  it('backup -vv: a verbose_status for each file (new, modified, unchanged), and folders counted against the parent', async () => {
    await writeFile(join(src(), 'sub', 'f0.txt'), 'changed\n');
    await mkdir(join(src(), 'new-folder'));
    await writeFile(join(src(), 'new-folder', 'n.txt'), 'new\n');
    await mkdir(join(src(), 'sub', 'deeper', 'same'), { recursive: true }).catch(() => undefined);
    const r = await runEngine(['backup', '--json', '-vv', '--repo', repo(), src()], { native, env: fast });
    expect(r.code, r.stderr).toBe(0);
    const lines = validateLines('backup', r.stdout);
    const verbose = lines.filter((l) => l.message_type === 'verbose_status');
    const action = (name: string): unknown => verbose.find((v) => String(v.item).endsWith(`/${name}`))?.action;
    expect(action('f0.txt')).toBe('modified');
    expect(action('f1.txt')).toBe('unchanged');
    expect(action('n.txt')).toBe('new');
    expect(action('big.bin')).toBe('unchanged');
    // One line a file, no more: 10 in sub, big.bin, n.txt (the hook removed gone.txt).
    expect(verbose).toHaveLength(files);
    const summary = lines[lines.length - 1]!;
    expect(summary).toMatchObject({ message_type: 'summary', files_new: 1, files_changed: 1, files_unmodified: files - 2 });
    // new-folder and deeper/same are new; sub, src and the way to it changed.
    expect(summary.dirs_new).toBe(2);
    expect(summary.dirs_changed as number).toBeGreaterThanOrEqual(2);
    expect(summary.parent).toMatch(/^[0-9a-f]{64}$/);
  });

  it('restore: status lines, -vv verbose_status for each file, restic’s summary; --overwrite never says unchanged', async () => {
    const target = join(work, 'target');
    const r = await runEngine(['restore', 'latest', '--json', '-vv', '--repo', repo(), '--target', target], { native, env: fast });
    expect(r.code, r.stderr).toBe(0);
    const lines = validateLines('restore', r.stdout);
    stderrLines(r.stderr);
    const status = lines.filter((l) => l.message_type === 'status');
    expect(status.length).toBeGreaterThan(0);
    expect(status[status.length - 1]).toMatchObject({ percent_done: 1, files_restored: files, total_files: files });
    const restored = lines.filter((l) => l.message_type === 'verbose_status');
    expect(restored).toHaveLength(files);
    expect(restored.every((v) => v.action === 'restored')).toBe(true);
    const big = restored.find((v) => String(v.item).endsWith('/big.bin'));
    expect(big?.size).toBe(3 * 1024 * 1024);
    const summary = lines[lines.length - 1]!;
    expect(summary).toMatchObject({ message_type: 'summary', total_files: files, files_restored: files, files_skipped: 0, files_deleted: 0 });
    expect(summary.bytes_restored).toBe(summary.total_bytes);
    expect(summary.bytes_restored as number).toBeGreaterThan(3 * 1024 * 1024);

    const again = await runEngine(['restore', 'latest', '--json', '-vv', '--overwrite', 'never', '--repo', repo(), '--target', target], { native, env: fast });
    expect(again.code, again.stderr).toBe(0);
    const second = validateLines('restore', again.stdout);
    const unchanged = second.filter((l) => l.message_type === 'verbose_status' && l.action === 'unchanged');
    expect(unchanged.length).toBeGreaterThanOrEqual(files);
    expect(second[second.length - 1]).toMatchObject({ files_restored: 0, bytes_restored: 0 });
    expect(second[second.length - 1]!.files_skipped as number).toBeGreaterThanOrEqual(files);
  });

  it('restore --dry-run and --quiet: every line validates; --quiet prints no status', async () => {
    const dry = await runEngine(['restore', 'latest', '--json', '--dry-run', '--repo', repo(), '--target', join(work, 'nowhere')], { native, env: fast });
    expect(dry.code, dry.stderr).toBe(0);
    const lines = validateLines('restore', dry.stdout);
    expect(lines[lines.length - 1]).toMatchObject({ dry_run: true, files_restored: files });
    const quiet = await runEngine(['backup', '--json', '--quiet', '--repo', repo(), src()], { native, env: fast });
    expect(quiet.code, quiet.stderr).toBe(0);
    const q = validateLines('backup', quiet.stdout);
    expect(q.map((l) => l.message_type)).toEqual(['summary']);
  });
});

describe(`diff --json statistics (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-json-diff-');

  it('a copy of a file two folders down an unchanged folder adds no data blob (restic counts a blob one snapshot alone holds)', async () => {
    const repo = join(work, 'repo');
    const src = join(work, 'src');
    await mkdir(join(src, 'a', 'b'), { recursive: true });
    const data = randomBytes(300 * 1024);
    await writeFile(join(src, 'a', 'b', 'big.bin'), data);
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
    const first = await runEngine(['backup', '--json', '--repo', repo, src], { native });
    await writeFile(join(src, 'copy.bin'), data);
    const second = await runEngine(['backup', '--json', '--repo', repo, src], { native });
    expect(second.code, second.stderr).toBe(0);
    const d = await runEngine(['diff', '--json', '--repo', repo, String(first.json?.snapshot_id), String(second.json?.snapshot_id)], { native });
    expect(d.code, d.stderr).toBe(0);
    const lines = validateLines('diff', d.stdout);
    const stats = lines[lines.length - 1]!;
    expect(stats.message_type).toBe('statistics');
    expect(stats.added).toMatchObject({ files: 1, data_blobs: 0 });
    expect(stats.removed).toMatchObject({ files: 0, data_blobs: 0 });
  });
});
