// MemoryBackend (used by `engine bench` to measure the pipeline alone) against the conformance suite.
import { describe, expect, it } from 'vitest';
import { MemoryBackend } from '../../src/backend/memory/memory-backend.js';
import { describeBackendConformance } from './conformance.js';

let n = 0;
describeBackendConformance('memory', async () => {
  const backend = new MemoryBackend(`test-${++n}`);
  return { backend, cleanup: () => backend.close() };
});

describe('memory backend specifics', () => {
  it('keeps copies: changing the saved or the loaded buffer changes nothing stored', async () => {
    const b = new MemoryBackend();
    const data = new Uint8Array([1, 2, 3, 4]);
    await b.save('index/x', data);
    data[0] = 9;
    const got = await b.load('index/x');
    got[1] = 9;
    expect([...(await b.load('index/x'))]).toEqual([1, 2, 3, 4]);
    expect(b.bytes).toBe(4);
  });
});
