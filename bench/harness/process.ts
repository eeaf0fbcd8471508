// Child processes of the peer benchmarks: plain runs whose output is wanted, and measured runs
// of the tool under test.
//
// Measurement: a measured command runs under GNU `/usr/bin/time -f '%e %U %S %M'`; %U and %S
// include all the command's threads and waited-for children; %M is the maximum resident set size
// of the largest single process (the engine's worker threads are in its one process). Wall time
// is hrtime around the spawn.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';

const GNU_TIME = '/usr/bin/time';

/** Exit code and stdout + stderr of a command (127 when it cannot be started). */
export async function commandOutput(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', () => resolve({ code: 127, out }));
    child.on('close', (code) => resolve({ code: code ?? 1, out }));
  });
}

/** Whether GNU time is at /usr/bin/time (busybox's and the shell's keyword do not take -f/-o). */
export async function hasGnuTime(): Promise<boolean> {
  const r = await commandOutput(GNU_TIME, ['--version']);
  return r.code === 0 && /GNU/.test(r.out);
}

/** The last `limit` bytes of a stream. */
function tail(limit: number): { push: (b: Buffer) => void; text: () => string } {
  let chunks: Buffer[] = [];
  let size = 0;
  return {
    push(b) {
      chunks.push(b);
      size += b.length;
      if (size > 2 * limit) {
        const all = Buffer.concat(chunks).subarray(-limit);
        chunks = [all];
        size = all.length;
      }
    },
    text: () => Buffer.concat(chunks).subarray(-limit).toString('utf8'),
  };
}

export interface MeasuredRun {
  exitCode: number;
  wallSeconds: number;
  userSeconds: number;
  sysSeconds: number;
  maxRssKiB: number;
  /** The last MiB of its stdout (where the tools print their JSON summary). */
  stdout: string;
  /** The last 64 KiB of its stderr. */
  stderr: string;
}

/** Run a command under GNU time; collects wall and CPU time, max RSS and the tails of its output. */
export async function runMeasured(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd: string | undefined, timeFile: string): Promise<MeasuredRun> {
  const start = process.hrtime.bigint();
  const child = spawn(GNU_TIME, ['-f', '%e %U %S %M', '-o', timeFile, cmd, ...args], { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = tail(1024 * 1024);
  const err = tail(64 * 1024);
  child.stdout.on('data', out.push);
  child.stderr.on('data', err.push);
  const exitCode = await new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
  const wallSeconds = Number(process.hrtime.bigint() - start) / 1e9;
  // On failure GNU time writes "Command exited with non-zero status N" before the format line.
  const lines = (await fs.readFile(timeFile, 'utf8')).trim().split('\n');
  const [, user, sys, rss] = (lines[lines.length - 1] ?? '').split(' ').map(Number);
  return { exitCode, wallSeconds, userSeconds: user ?? NaN, sysSeconds: sys ?? NaN, maxRssKiB: rss ?? NaN, stdout: out.text(), stderr: err.text() };
}

/** The last lines of a failed run's output, on one line, for the report. */
export function failureText(run: MeasuredRun): string {
  return (run.stderr || run.stdout).trim().split('\n').slice(-5).join(' | ');
}

/** Wall seconds of one `sync`: the write-back a step left behind. */
export async function timedSync(): Promise<number> {
  const t0 = process.hrtime.bigint();
  await commandOutput('sync', []);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** `du -sb` of a path; 0 when it does not exist. */
export async function duBytes(p: string): Promise<number> {
  if (!existsSync(p)) return 0;
  const r = await commandOutput('du', ['-sb', p]);
  if (r.code !== 0) throw new Error(`du -sb ${p} failed: ${r.out}`);
  return Number(r.out.split(/\s/)[0]);
}
