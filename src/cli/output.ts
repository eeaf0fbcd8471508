// Human and --json output. Results go to stdout; messages, warnings and progress to stderr.
// With --json, what goes to stderr is JSON lines too (docs/json/messages.schema.json).
import { displayName } from '../fs/names.js';

export interface Output {
  readonly json: boolean;
  readonly verbose: boolean;
  /** -vv: each file a backup saves is named. */
  readonly veryVerbose: boolean;
  /** A result line (stdout). */
  result(text: string): void;
  /** A JSON document (stdout, one line). */
  data(value: unknown): void;
  /** A message for the person at the terminal (stderr); silent in --json mode unless it is a warning. */
  info(text: string): void;
  warn(text: string): void;
  /**
   * A file or folder the command could not handle (it goes on without it): restic's error message
   * with `during` (what was being done: "scan", "archival", "restore", ...) and `item` (the path)
   * with --json, a warning naming the path otherwise.
   */
  problem(during: string, item: string, message: string): void;
}

export function makeOutput(opts: { json: boolean; verbose: boolean; veryVerbose?: boolean; quiet?: boolean }): Output {
  return {
    json: opts.json,
    verbose: opts.verbose,
    veryVerbose: opts.veryVerbose === true,
    result: (t) => process.stdout.write(`${t}\n`),
    data: (v) => process.stdout.write(`${JSON.stringify(v)}\n`),
    info: (t) => {
      if (!opts.json && !opts.quiet) process.stderr.write(`${t}\n`);
    },
    warn: (t) => {
      process.stderr.write(opts.json ? `${JSON.stringify({ message_type: 'warning', message: t })}\n` : `warning: ${t}\n`);
    },
    problem: (during, item, message) => {
      const shown = displayName(item);
      process.stderr.write(opts.json ? `${JSON.stringify({ message_type: 'error', error: { message }, during, item: shown })}\n` : `warning: ${shown}: ${message}\n`);
    },
  };
}
