// Glob expansion for backup's --files-from lines, as Go's filepath.Glob that restic uses: each
// component of the pattern with a meta character (* ? [ \) is matched against the names listed
// in the folders matched so far, the others are taken as they are; `**` is no more than `*`
// there. Matches are sorted within each folder. A pattern with no meta character is returned
// as it is when something exists there, else not at all.
import { lstat, readdir } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { decodeName, fsPath } from '../fs/names.js';
import { PatternList } from './pattern.js';

const META = /[*?[\\]/;

/** The existing paths that `pattern` names (relative ones against `cwd`), absolute and sorted per folder. */
export async function expandGlob(pattern: string, cwd: string = process.cwd()): Promise<string[]> {
  if (!META.test(pattern)) return (await exists(resolve(cwd, pattern))) ? [resolve(cwd, pattern)] : [];
  const parts = pattern.split('/');
  // The components before the first meta character name one folder: cwd's own name may hold
  // [ or * without being a pattern.
  let base = isAbsolute(pattern) ? '/' : cwd;
  let i = isAbsolute(pattern) ? 1 : 0;
  while (i < parts.length && !META.test(parts[i]!)) base = join(base, parts[i++]!);
  let found = [base];
  for (; i < parts.length; i++) {
    const part = parts[i]!;
    if (part === '') continue;
    const next: string[] = [];
    if (!META.test(part)) {
      for (const dir of found) if (await exists(join(dir, part))) next.push(join(dir, part));
    } else {
      // One component against one name: anchored, the same number of components on both sides.
      const one = new PatternList([{ text: `/${part}`, caseInsensitive: false }]);
      for (const dir of found) {
        let names: string[];
        try {
          names = (await readdir(fsPath(dir), { encoding: 'buffer' })).map(decodeName);
        } catch {
          continue; // Go's Glob ignores folders it cannot read
        }
        for (const name of names.sort()) if (one.matches(`/${name}`)) next.push(join(dir, name));
      }
    }
    found = next;
    if (found.length === 0) break;
  }
  return found;
}

async function exists(path: string): Promise<boolean> {
  return lstat(fsPath(path)).then(() => true, () => false);
}
