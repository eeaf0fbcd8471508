// Paths of entries relative to the restore target ("" is the target itself, "a/b" a folder in
// it), as the planner, the writers and the report join and split them.

export function joinRel(dir: string, name: string): string {
  return dir ? `${dir}/${name}` : name;
}

export function parentOf(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i < 0 ? '' : rel.slice(0, i);
}

export function depthOf(rel: string): number {
  let n = 0;
  for (let i = rel.indexOf('/'); i >= 0; i = rel.indexOf('/', i + 1)) n++;
  return n;
}
