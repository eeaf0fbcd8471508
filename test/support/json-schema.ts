// Validates engine's --json output against the published schemas (docs/json/<command>.schema.json,
// JSON Schema 2020-12), with ajv: every line of a JSON-lines stream, or the one document.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv';

const SCHEMAS = fileURLToPath(new URL('../../docs/json/', import.meta.url));
const BASE = 'https://engine-backup.invalid/json/';

// strict: a schema with an unknown keyword or a typo fails to load, not to check. Every schema of
// the folder is added, so one may refer to another ("$ref": "snapshot.schema.json").
const ajv = new Ajv2020({ allErrors: true, strict: true });
ajv.addFormat('date-time', /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/);
for (const name of readdirSync(SCHEMAS).filter((n) => n.endsWith('.schema.json'))) {
  ajv.addSchema(JSON.parse(readFileSync(`${SCHEMAS}${name}`, 'utf8')) as object);
}

function validator(command: string): ValidateFunction {
  const v = ajv.getSchema(`${BASE}${command}.schema.json`);
  if (!v) throw new Error(`no schema docs/json/${command}.schema.json`);
  return v;
}

/** Why `value` does not match the command's schema, or null when it does. */
export function schemaErrors(command: string, value: unknown): string | null {
  const v = validator(command);
  if (v(value)) return null;
  return ajv.errorsText(v.errors, { separator: '; ' });
}

/**
 * Every non-empty line of `text` parsed and validated; the parsed lines are returned. Throws
 * naming the first line that is not JSON or does not match, so a test fails saying which.
 */
export function validateLines(command: string, text: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new Error(`${command} --json printed a line that is not JSON: ${line.slice(0, 200)}`);
    }
    const why = schemaErrors(command, value);
    if (why) throw new Error(`${command} --json line does not match docs/json/${command}.schema.json: ${why}\n${line.slice(0, 500)}`);
    out.push(value as Record<string, unknown>);
  }
  return out;
}
