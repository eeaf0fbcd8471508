// `engine completion` and `engine man` (src/cli/commands/completion.ts): made from the command
// definitions, so every command and flag is in them. The bash script is run for real; zsh and fish
// scripts are syntax-checked where those shells exist; the man page goes through groff's checks.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { currentNative, runEngine } from '../support/cli.js';
import { workdirPerFile } from '../support/workdir.js';

const native = currentNative();
const run = promisify(execFile);
const has = async (tool: string): Promise<boolean> => run('sh', ['-c', `command -v ${tool}`]).then(() => true, () => false);

describe(`completion and man page (ENGINE_NATIVE=${native})`, () => {
  const work = workdirPerFile('engine-completion-');

  it('bash: commands, subcommands and each command\'s flags complete', async () => {
    const script = join(work, 'engine.bash');
    const r = await runEngine(['completion', 'bash'], { native });
    expect(r.code).toBe(0);
    await writeFile(script, r.stdout);
    const complete = async (...words: string[]): Promise<string[]> => {
      const { stdout } = await run('bash', ['-c', `source ${script}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _engine; printf '%s\\n' "\${COMPREPLY[@]}"`]);
      return stdout.split('\n').filter((l) => l !== '');
    };
    expect(await complete('engine', 'co')).toEqual(['copy', 'completion']);
    expect(await complete('engine', 'backup', '--exclude-c')).toEqual(['--exclude-caches']);
    expect(await complete('engine', 'repair', 'i')).toEqual(['index']);
    expect(await complete('engine', '-r', '/srv/repo', 'resto')).toEqual(['restore']);
    expect(await complete('engine', 'copy', '--from-p')).toEqual(['--from-password-file', '--from-password-command']);
  });

  it('zsh and fish scripts parse (where those shells are installed); another shell is exit 2', async () => {
    for (const shell of ['zsh', 'fish']) {
      const r = await runEngine(['completion', shell], { native });
      expect(r.code).toBe(0);
      expect(r.stdout).toContain('engine');
      if (await has(shell)) {
        const file = join(work, `engine.${shell}`);
        await writeFile(file, r.stdout);
        await run(shell, ['-n', file]);
      }
    }
    expect((await runEngine(['completion', 'tcsh'], { native })).code).toBe(2);
  });

  it('the man page passes groff\'s checks and names every command', async () => {
    const r = await runEngine(['man'], { native });
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith('.TH ENGINE 1')).toBe(true);
    for (const c of ['init', 'backup', 'restore', 'copy', 'forget', 'prune', 'check', 'schedule install', 'key', 'repair index']) expect(r.stdout).toContain(`.SS "engine ${c}"`);
    if (await has('groff')) {
      const page = join(work, 'engine.1');
      await writeFile(page, r.stdout);
      const { stderr } = await run('groff', ['-man', '-Tutf8', '-ww', '-z', page]);
      expect(stderr).toBe('');
    }
  });
});
