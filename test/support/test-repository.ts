// A real repository for library-level tests: real primitives (native or fallback as the vitest
// project says, ENGINE_NATIVE), real crypto, a cheap key derivation so tests stay fast, on the
// backend the test gives (a memory backend by default).
import { loadPrimitives } from '../../native-bindings/index.js';
import type { Argon2Params, PrimitiveName, Primitives } from '../../native-bindings/types.js';
import { MemoryBackend } from '../../src/backend/memory/memory-backend.js';
import type { Backend } from '../../src/backend/types.js';
import { Repository, type InitOptions } from '../../src/repository/repository.js';

/** Argon2id at its smallest (8 KiB, one pass): real, and quick enough to open a repository per test. */
export const TEST_KDF: Argon2Params = { t: 1, mKiB: 8, p: 1 };

export interface TestPrimitives {
  primitives: Primitives;
  /** Which implementation each primitive came from. */
  chosen: Record<PrimitiveName, string>;
  /** The project runs the pure-JS/WASM fallbacks (ENGINE_NATIVE=off). */
  fallback: boolean;
}

/** The primitives of the running vitest project: the fallbacks under ENGINE_NATIVE=off, else the best found. */
export async function testPrimitives(): Promise<TestPrimitives> {
  const fallback = process.env.ENGINE_NATIVE === 'off';
  const { primitives, report } = await loadPrimitives(fallback ? 'fallback' : 'auto');
  const chosen = Object.fromEntries(report.map((r) => [r.primitive, r.chosen])) as Record<PrimitiveName, string>;
  return { primitives, chosen, fallback };
}

export interface TestRepository extends TestPrimitives {
  repo: Repository;
  /** The storage under the repository, for tests that inspect or damage stored objects. */
  backend: Backend;
  password: Uint8Array;
}

/** Initialises a repository on `backend` (a fresh memory backend by default) with TEST_KDF unless `opts.kdf` says otherwise. */
export async function testRepository(opts: InitOptions & { backend?: Backend; password?: string } = {}): Promise<TestRepository> {
  const { backend = new MemoryBackend('test'), password = 'test repository password', ...init } = opts;
  const prims = await testPrimitives();
  const pw = new TextEncoder().encode(password);
  const repo = await Repository.init(backend, prims.primitives, pw, { kdf: TEST_KDF, ...init });
  return { ...prims, repo, backend, password: pw };
}
