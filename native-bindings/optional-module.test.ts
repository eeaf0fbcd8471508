import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { errorMessage } from './optional-module.js';

describe('errorMessage', () => {
  it("keeps the first line of Node's module-not-found error, not its Require stack", () => {
    let err: unknown;
    try {
      createRequire(import.meta.url)('./no-such-addon-binding.node');
    } catch (e) {
      err = e;
    }
    expect(String((err as Error).message)).toContain('\n');
    const line = errorMessage(err);
    expect(line).toMatch(/^Cannot find module '.\/no-such-addon-binding.node'$/);
    expect(errorMessage('plain reason')).toBe('plain reason');
  });
});
