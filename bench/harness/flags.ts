// Command-line flags of the bench scripts: `--flag value` and `--flag=value`.

/** A command line the script cannot run with (an unknown flag, a flag without its value). */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * Calls `on` for every argument with its flag (the part before '=' of `--flag=value`) and a
 * reader of its value (the inline value, else the next argument).
 */
export function readFlags(argv: string[], on: (flag: string, value: () => string, arg: string) => void): void {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.indexOf('=');
    const [flag, inline] = a.startsWith('--') && eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    on(flag, () => {
      const v = inline ?? argv[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    }, a);
  }
}
