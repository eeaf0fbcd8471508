// The test vectors of docs/FORMAT.md, reproduced by the primitives of this project (native or
// fallback): a change that alters any byte of the format fails here.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadPrimitives } from '../native-bindings/index.js';
import { computeVectors } from './support/format-vectors.js';

const expected = JSON.parse(readFileSync(new URL('./fixtures/format-vectors.json', import.meta.url), 'utf8')) as Record<string, unknown>;
const policy = process.env.ENGINE_NATIVE === 'off' ? 'fallback' : 'auto';

describe(`format v1 test vectors (${policy})`, () => {
  it('are reproduced byte for byte', async () => {
    const { primitives } = await loadPrimitives(policy);
    const got = await computeVectors(primitives);
    for (const key of Object.keys(expected)) expect(got[key], key).toEqual(expected[key]);
    expect(Object.keys(got).sort()).toEqual(Object.keys(expected).sort());
  });

  it('are written in docs/FORMAT.md', () => {
    const doc = readFileSync(new URL('../docs/FORMAT.md', import.meta.url), 'utf8');
    for (const [key, value] of Object.entries(expected)) {
      if (typeof value === 'string' && value.length >= 16) expect(doc, key).toContain(value);
    }
  });
});
