// Where the command is among the words of a command line. Kept apart from profiles.ts (and its
// TOML parser, loaded only when a profile is used): main.ts needs it for every metrics file.
import type { Command } from 'commander';

/**
 * Where the command's name is in `words` (argv after the program): the first word that names a
 * command and is not the value of a program option before it (`-r backup snapshots` runs
 * `snapshots` on the repository "backup"). -1 when there is none.
 */
export function commandIndex(words: readonly string[], program: Command): number {
  const takesValue = new Set(program.options.filter((o) => o.required || o.optional).flatMap((o) => [o.short, o.long].filter((f): f is string => !!f)));
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w === '--') return -1;
    if (w.startsWith('-')) {
      // `-r VALUE` and `--repo VALUE` take the next word; `--repo=VALUE` and `-rVALUE` do not.
      if (takesValue.has(w)) i++;
      continue;
    }
    if (program.commands.some((c) => c.name() === w)) return i;
  }
  return -1;
}
