// The progress line under a real pseudo-terminal of 40 columns (util-linux `script`), as a user at
// a narrow tmux pane sees it: no redraw is wider than the terminal, and 100% comes only once
// everything is stored (with --limit-upload, long after the last byte is read).
import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { currentNative, ENGINE_BIN, runEngine, TEST_PASSWORD } from '../support/cli.js';
import { workdirPerFile } from '../support/workdir.js';

const native = currentNative();
const run = promisify(execFile);

describe(`progress line (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-progress-');

  it('under a 40-column terminal: never wider, and below 100% until everything is stored', async () => {
    const repo = join(work, 'repo');
    const src = join(work, 'src');
    await mkdir(src);
    await writeFile(join(src, 'random.bin'), randomBytes(4 * 1024 * 1024));
    for (let i = 0; i < 20; i++) await writeFile(join(src, `f${i}.txt`), `${i}\n`);
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
    const typescript = join(work, 'typescript');
    const command = `stty cols 40 rows 24; ENGINE_PASSWORD='${TEST_PASSWORD}' ENGINE_NATIVE=${native} '${ENGINE_BIN}' backup --repo '${repo}' '${src}' --limit-upload 1M`;
    await run('script', ['-q', '-e', '-c', command, typescript], { timeout: 120_000 });
    const text = await readFile(typescript, 'utf8');
    // The redraws: each starts with a carriage return and the erase-line sequence.
    const frames = text
      .split('\r')
      .map((f) => f.replace(/\x1b\[2K/g, ''))
      .filter((f) => f.startsWith('backup '));
    expect(frames.length).toBeGreaterThan(2);
    // The names here are ASCII: one column a character (wide ones: src/cli/progress.test.ts).
    for (const f of frames) expect([...f].length, f).toBeLessThanOrEqual(40);
    const percents = frames.map((f) => Number(/(\d+\.\d)%/.exec(f)?.[1] ?? Number.NaN)).filter((p) => !Number.isNaN(p));
    // Only the last redraw says 100%; before it, everything read and still uploading was below.
    expect(percents[percents.length - 1]).toBe(100);
    expect(percents.slice(0, -1).every((p) => p < 100)).toBe(true);
    expect(frames.some((f) => f.includes('21/21 files') && f.includes('storing'))).toBe(true);
    expect(text).toContain('snapshot ');
  }, 180_000);

  it('--quiet: no progress line and no summary, even on a terminal; a warning still shows', async () => {
    const repo = join(work, 'repo-quiet');
    const src = join(work, 'src-quiet');
    await mkdir(src);
    await writeFile(join(src, 'a.txt'), 'a\n');
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
    const typescript = join(work, 'typescript-quiet');
    const command = `stty cols 40; ENGINE_PASSWORD='${TEST_PASSWORD}' ENGINE_NATIVE=${native} '${ENGINE_BIN}' backup --quiet --repo '${repo}' '${src}' '${join(work, 'missing')}'`;
    await run('script', ['-q', '-c', command, typescript], { timeout: 120_000 });
    const text = await readFile(typescript, 'utf8');
    // Each redraw writes carriage return, erase-line, then the text: none here.
    expect(text).not.toMatch(/\r\x1b\[2Kbackup /);
    expect(text).not.toContain('snapshot ');
    expect(text).toContain('missing');
    expect((JSON.parse((await runEngine(['snapshots', '--repo', repo, '--json'], { native })).stdout) as unknown[]).length).toBe(1);
  }, 120_000);

  it('-vv names each file a backup decides on: new, modified, unmodified (restic\'s -vv)', async () => {
    const repo = join(work, 'repo-vv');
    const src = join(work, 'src-vv');
    await mkdir(src);
    await writeFile(join(src, 'same.txt'), 'same\n');
    await writeFile(join(src, 'edited.txt'), 'v1\n');
    expect((await runEngine(['init', '--repo', repo], { native })).code).toBe(0);
    const first = await runEngine(['backup', '--repo', repo, src, '-vv'], { native });
    expect(first.stdout).toContain(`new        ${src}/same.txt`);
    await writeFile(join(src, 'edited.txt'), 'version two\n');
    await writeFile(join(src, 'added.txt'), 'added\n');
    const second = await runEngine(['backup', '--repo', repo, src, '-vv'], { native });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stdout).toContain(`unmodified ${src}/same.txt`);
    expect(second.stdout).toContain(`modified   ${src}/edited.txt`);
    expect(second.stdout).toContain(`new        ${src}/added.txt`);
    // -v alone names no file.
    const quiet = await runEngine(['backup', '--repo', repo, src, '-v'], { native });
    expect(quiet.stdout).not.toContain(`${src}/same.txt`);
  });
});
