// Temporary folders for tests, created under the OS temp folder and always removed: one per test,
// one per file, or one around a single block. Tests use these instead of their own
// mkdtemp/rm pairs, so a failing test never leaves its folder behind.
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';

/**
 * A fresh folder for each test of the calling scope; `path` is set before the scope's own
 * beforeEach hooks run (hooks registered first run first: vitest's default `sequence.hooks`).
 */
export function workdirPerTest(prefix: string): { readonly path: string } {
  const state = { path: '' };
  beforeEach(async () => {
    state.path = await mkdtemp(join(tmpdir(), prefix));
  });
  afterEach(async () => {
    await rm(state.path, { recursive: true, force: true });
  });
  return state;
}

/**
 * One folder for every test of the calling file or describe block. Its name is chosen now (so it
 * can be used while tests are collected); it is created before the block's first test and removed
 * after its last, so a skipped block leaves nothing behind.
 */
export function workdirPerFile(prefix: string): string {
  const path = join(tmpdir(), `${prefix}${randomBytes(6).toString('hex')}`);
  beforeAll(() => mkdirSync(path, { mode: 0o700 }));
  afterAll(() => rmSync(path, { recursive: true, force: true }));
  return path;
}

/** A folder that lives for the duration of `fn` only. */
export async function withWorkdir<T>(prefix: string, fn: (path: string) => Promise<T>): Promise<T> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  try {
    return await fn(path);
  } finally {
    await rm(path, { recursive: true, force: true });
  }
}
