// --metrics-file PATH (docs/UNATTENDED.md "Metrics"): a Prometheus textfile (node_exporter's
// textfile collector reads it) written atomically when a command ends, so a dashboard and an
// alert can watch nightly jobs. One file serves several commands and profiles: each run replaces
// its own samples (labelled command and profile) and keeps the others', and the time of the last
// success survives a failed run.
import { randomBytes } from 'node:crypto';
import { readFile, rename, writeFile, unlink } from 'node:fs/promises';
import { dirname, basename, join } from 'node:path';

interface Family {
  help: string;
  type: 'gauge' | 'counter';
}

/** The metrics engine writes; names follow Prometheus' conventions (units as suffixes). */
const FAMILIES: Record<string, Family> = {
  engine_last_run_timestamp_seconds: { help: 'When the command last ended (Unix time).', type: 'gauge' },
  engine_last_success_timestamp_seconds: { help: 'When the command last ended with exit 0 or 3 (Unix time).', type: 'gauge' },
  engine_exit_code: { help: 'Exit code of the last run (docs: README "Exit codes").', type: 'gauge' },
  engine_duration_seconds: { help: 'Wall time of the last run.', type: 'gauge' },
  engine_backup_files: { help: 'Files of the last backup, by state (new, changed, unmodified).', type: 'gauge' },
  engine_backup_dirs: { help: 'Folders in the last backup.', type: 'gauge' },
  engine_backup_read_bytes: { help: 'Bytes read by the last backup.', type: 'gauge' },
  engine_backup_total_bytes: { help: 'Bytes of the files in the last backup (its restore size).', type: 'gauge' },
  engine_backup_added_bytes: { help: 'Bytes of new data the last backup added, before compression.', type: 'gauge' },
  engine_backup_stored_bytes: { help: 'Bytes the last backup added to the repository, as stored.', type: 'gauge' },
  engine_backup_errors: { help: 'Files and folders the last backup could not read.', type: 'gauge' },
  engine_snapshots_total: { help: 'Snapshots in the repository after the last run.', type: 'gauge' },
  engine_repository_size_bytes: { help: 'Bytes of the packs and index objects stored in the repository after the last run.', type: 'gauge' },
};

export interface Sample {
  name: keyof typeof FAMILIES;
  value: number;
  labels?: Record<string, string>;
}

const recorded: Sample[] = [];

/** Called by a command for what only it knows (a backup's counters); written at the end. */
export function recordMetrics(samples: readonly Sample[]): void {
  recorded.push(...samples);
}

interface Line {
  name: string;
  labels: Record<string, string>;
  value: string;
}

/**
 * Writes the run's samples into `path` (created or updated), next to what other commands and
 * profiles wrote there. `exitCode` 0 and 3 are successes.
 */
export async function writeMetricsFile(path: string, run: { command: string; profile: string; exitCode: number; startedMs: number; endedMs: number }): Promise<void> {
  const mine = { command: run.command, profile: run.profile };
  const previous = await readOwnLines(path);
  const isMine = (l: Line): boolean => l.labels.command === mine.command && l.labels.profile === mine.profile;
  const ok = run.exitCode === 0 || run.exitCode === 3;
  const now = (run.endedMs / 1000).toFixed(3);
  const lines: Line[] = previous.filter((l) => !isMine(l));
  const add = (name: string, value: number | string, extra: Record<string, string> = {}): void => {
    lines.push({ name, labels: { ...mine, ...extra }, value: String(value) });
  };
  add('engine_last_run_timestamp_seconds', now);
  const lastSuccess = ok ? now : previous.find((l) => isMine(l) && l.name === 'engine_last_success_timestamp_seconds')?.value;
  if (lastSuccess !== undefined) add('engine_last_success_timestamp_seconds', lastSuccess);
  add('engine_exit_code', run.exitCode);
  add('engine_duration_seconds', ((run.endedMs - run.startedMs) / 1000).toFixed(3));
  for (const s of recorded) add(s.name, s.value, s.labels);

  let text = '';
  for (const [name, family] of Object.entries(FAMILIES)) {
    const of = lines.filter((l) => l.name === name);
    if (of.length === 0) continue;
    text += `# HELP ${name} ${family.help}\n# TYPE ${name} ${family.type}\n`;
    for (const l of of) text += `${name}{${Object.entries(l.labels).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')}} ${l.value}\n`;
  }
  // Atomic: the collector never reads half a file.
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}`);
  try {
    await writeFile(tmp, text, { mode: 0o644 });
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
}

/** Our own samples from an earlier file (lines of a family we write); anything else is dropped. */
async function readOwnLines(path: string): Promise<Line[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return [];
  }
  const out: Line[] = [];
  for (const raw of text.split('\n')) {
    const m = /^([a-z_]+)\{(.*)\} (\S+)$/.exec(raw);
    if (!m || !(m[1]! in FAMILIES)) continue;
    const labels: Record<string, string> = {};
    for (const lm of m[2]!.matchAll(/([a-z_]+)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]!] = unescapeLabel(lm[2]!);
    out.push({ name: m[1]!, labels, value: m[3]! });
  }
  return out;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function unescapeLabel(v: string): string {
  return v.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
}
