// Whether a folder of the restore target is, right now, a real folder all the way down from the
// target: no component a symlink or anything else. restore --delete lists only such folders (a
// listing through a link would name what lies elsewhere), and the dry run looks only into them.
// Removals themselves go through the folder handles (src/fs/dir-handle.ts), which never follow.
import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import { fsPath } from '../fs/names.js';

export function isRealFolder(target: string, rel: string): boolean {
  let path = target;
  for (const part of rel === '' ? [] : rel.split('/')) {
    path = join(path, part);
    const st = lstatSync(fsPath(path), { throwIfNoEntry: false });
    if (!st || !st.isDirectory()) return false;
  }
  return lstatSync(fsPath(target), { throwIfNoEntry: false })?.isDirectory() === true;
}
