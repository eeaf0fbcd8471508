// Runs the built CLI as a subprocess, as a user would: real process, real exit code, real VmHWM.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The launcher users run (it sets the allocator up before Node starts; see bin/engine). */
export const ENGINE_BIN = fileURLToPath(new URL('../../bin/engine', import.meta.url));
export const TEST_PASSWORD = 'correct horse battery staple';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** The last stdout line parsed as JSON, when it is JSON. */
  json: Record<string, unknown> | null;
}

/** `input`: written to the command's standard input (a pipe), then closed; without it, stdin is /dev/null. */
export function runEngine(args: string[], opts: { env?: Record<string, string | undefined>; native?: 'auto' | 'off'; input?: string | Buffer } = {}): Promise<RunResult> {
  const env: Record<string, string | undefined> = { ...process.env, ENGINE_PASSWORD: TEST_PASSWORD, ...opts.env };
  if (opts.native) env.ENGINE_NATIVE = opts.native;
  return new Promise((resolve, reject) => {
    const child = spawn(ENGINE_BIN, args, { env: env as NodeJS.ProcessEnv, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    if (opts.input !== undefined && child.stdin) {
      // The command may exit without reading it all: a closed pipe is no failure here.
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input);
    }
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      let json: Record<string, unknown> | null = null;
      const last = stdout.trim().split('\n').pop() ?? '';
      try {
        json = JSON.parse(last) as Record<string, unknown>;
      } catch {
        json = null;
      }
      resolve({ code: code ?? -1, stdout, stderr, json });
    });
  });
}

/** The ENGINE_NATIVE value of the vitest project running this test. */
export function currentNative(): 'auto' | 'off' {
  return process.env.ENGINE_NATIVE === 'off' ? 'off' : 'auto';
}

/** Blobs a backup added, data and tree (restic's data_blobs + tree_blobs of its --json summary). */
export function blobsAdded(json: Record<string, unknown> | null): number {
  return Number(json?.data_blobs) + Number(json?.tree_blobs);
}
