// What a run could not keep, said once per run and feature, not once per file: a backup of a
// million files on a machine without the libc calls would otherwise print a million warnings.

export type NotKeptFeature = 'xattrs' | 'ns-times' | 'special-files' | 'holes';

const WHAT: Record<NotKeptFeature, string> = {
  xattrs: 'extended attributes and POSIX ACLs are not kept',
  'ns-times': 'times are kept to the microsecond, not the nanosecond',
  'special-files': 'FIFOs and device nodes are not restored',
  holes: 'holes in sparse files are found by their zeros, not skipped unread',
};

export class NotKeptNotices {
  private readonly seen = new Set<NotKeptFeature>();
  private readonly warn: (message: string) => void;
  /** `warn` receives one line per feature (the first time it is noted). */
  constructor(warn: (message: string) => void) {
    this.warn = warn;
  }

  /** Notes that `feature` was not kept (for `path`, named in the one warning, as the first case). */
  note(feature: NotKeptFeature, reason: string, path?: string): void {
    if (this.seen.has(feature)) return;
    this.seen.add(feature);
    this.warn(`${WHAT[feature]}: ${reason}${path === undefined ? '' : ` (first: ${path})`}`);
  }

  /** The features noted so far (for a summary). */
  noted(): NotKeptFeature[] {
    return [...this.seen];
  }
}
