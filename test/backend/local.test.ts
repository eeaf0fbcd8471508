// LocalBackend against the backend conformance suite, each test on a fresh folder in a temp dir.
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { workdirPerFile } from '../support/workdir.js';
import { LocalBackend } from '../../src/backend/local/local-backend.js';
import { ErrorCode } from '../../src/errors/engine-error.js';
import { collect, describeBackendConformance } from './conformance.js';

const work = workdirPerFile('engine-local-backend-');
let n = 0;


describeBackendConformance('local', async () => {
  const root = join(work, `repo-${++n}`);
  const backend = new LocalBackend(root);
  return {
    backend,
    cleanup: async () => {
      await backend.close();
      await rm(root, { recursive: true, force: true });
    },
  };
});

describe('local backend specifics', () => {
  it('rootExists is false for a missing folder, createRoot makes it (0700) and accepts an empty one', async () => {
    const root = join(work, `fresh-${++n}`);
    const b = new LocalBackend(root);
    expect(await b.rootExists()).toBe(false);
    await b.createRoot();
    expect(await b.rootExists()).toBe(true);
    expect((await stat(root)).mode & 0o777).toBe(0o700);
    await b.createRoot();
    const empty = join(work, `empty-${++n}`);
    await mkdir(empty);
    await new LocalBackend(empty).createRoot();
  });

  it('createRoot refuses a folder holding any file', async () => {
    const root = join(work, `other-${++n}`);
    await mkdir(join(root, 'sub'), { recursive: true });
    await expect(new LocalBackend(root).createRoot()).rejects.toMatchObject({ code: ErrorCode.REPO_EXISTS });
  });

  it('leaves no temporary file behind, and objects are 0600', async () => {
    const root = join(work, `tmpfiles-${++n}`);
    const b = new LocalBackend(root);
    await b.save('data/ab/x', randomBytes(1000));
    await b.save('data/ab/x', randomBytes(10));
    await b.save('data/ab/y', randomBytes(10), { signal: AbortSignal.abort() }).catch(() => undefined);
    expect(await readdir(join(root, 'data', 'ab'))).toEqual(['x']);
    expect((await stat(join(root, 'data', 'ab', 'x'))).mode & 0o777).toBe(0o600);
    expect(await collect(b.list(''))).toEqual([{ name: 'data/ab/x', size: 10 }]);
  });

  it('refuses names that leave the root', async () => {
    const b = new LocalBackend(join(work, `unsafe-${++n}`));
    for (const name of ['../x', '/etc/passwd', 'data/../../x']) {
      await expect(b.save(name, randomBytes(1))).rejects.toMatchObject({ code: ErrorCode.INTERNAL });
      await expect(b.load(name)).rejects.toMatchObject({ code: ErrorCode.INTERNAL });
    }
  });
});
