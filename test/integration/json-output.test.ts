// --json output against the published schemas (docs/json/*.schema.json): every line a command
// prints validates, and the lines say what happened. Each command's own section below.
import { describe, expect, it } from 'vitest';
import { currentNative, runEngine } from '../support/cli.js';
import { validateLines } from '../support/json-schema.js';

const native = currentNative();

describe('version --json', () => {
  it('validates and names each primitive in use', async () => {
    const r = await runEngine(['version', '--json'], { native });
    expect(r.code).toBe(0);
    const [v] = validateLines('version', r.stdout);
    expect(v!.message_type).toBe('version');
    expect(Object.keys(v!.primitives as object)).toContain('xchacha20poly1305');
    // ENGINE_NATIVE=off: the cipher is the pure-JS one, and the line says so.
    if (native === 'off') expect((v!.primitives as Record<string, string>).xchacha20poly1305).toMatch(/\(js\)/);
  });

  it('a line that breaks the schema is caught (the validator is live)', () => {
    expect(() => validateLines('version', '{"message_type":"version"}')).toThrow(/required property/);
    expect(() => validateLines('version', 'not json')).toThrow(/not JSON/);
  });
});
