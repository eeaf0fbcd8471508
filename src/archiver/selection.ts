// What a backup leaves out on purpose: restic's --exclude family, with restic's semantics so that
// its users' scripts carry over (docs/SELECTION.md). Three moments, cheapest first, as restic's
// archiver applies them:
//   1. by path, before the entry's lstat: the patterns (--exclude, --iexclude and their files) and
//      the tag files (--exclude-if-present, --exclude-caches). A folder left out here is never
//      entered, so nothing below it is even lstat-ed.
//   2. by lstat: --exclude-larger-than (files only) and --one-file-system (another device).
//   3. a folder on another device under --one-file-system is a mount point: it is stored, empty,
//      and not entered (restic keeps mount points so that a restore recreates them).
import { constants } from 'node:fs';
import { lstat, open } from 'node:fs/promises';
import { fsPath } from '../fs/names.js';
import type { BigIntStats } from 'node:fs';

/** A list of patterns: whether a path (absolute, '/'-separated) is matched (src/filter/pattern.ts PatternList). */
export interface PathMatcher {
  readonly empty: boolean;
  matches(path: string): boolean;
}

/** --exclude-if-present NAME[:HEADER]: a folder holding a file NAME (that starts with HEADER) keeps only that file. */
export interface TagFile {
  readonly name: string;
  readonly header?: Uint8Array;
}

/** The CACHEDIR.TAG convention (https://bford.info/cachedir/) that --exclude-caches follows. */
export const CACHEDIR_TAG: TagFile = { name: 'CACHEDIR.TAG', header: new TextEncoder().encode('Signature: 8a477f597d28d172789f06886806bc55') };

export interface SelectionRules {
  patterns?: PathMatcher;
  tagFiles?: readonly TagFile[];
  /** Files (not folders) larger than this many bytes are left out. */
  largerThanBytes?: number;
  /** Stay on the device of each backup path: other file systems' mount points are stored empty. */
  oneFileSystem?: boolean;
  /**
   * A file of a tag's name that is not a valid tag (wrong first bytes, too short, unreadable): the
   * folder is backed up, and this is told, as restic warns (a cache whose tag was damaged, or a
   * mistyped header, should not pass unseen).
   */
  onInvalidTag?: (path: string, why: string) => void;
}

export class Selection {
  private readonly rules: SelectionRules;
  private readonly tagNames: ReadonlySet<string>;

  constructor(rules: SelectionRules) {
    this.rules = rules;
    this.tagNames = new Set((rules.tagFiles ?? []).map((t) => t.name));
  }

  /** Whether any rule is set (a backup without one skips every check). */
  get empty(): boolean {
    const r = this.rules;
    return (r.patterns?.empty ?? true) && this.tagNames.size === 0 && r.largerThanBytes === undefined && r.oneFileSystem !== true;
  }

  /** Left out by its path alone, before its lstat: a folder so left out is never entered. */
  excludesPath(path: string): boolean {
    const p = this.rules.patterns;
    return p !== undefined && !p.empty && p.matches(path);
  }

  /**
   * The names a folder keeps when it holds a tag file (that file, and any other tag file it
   * holds): its other entries are left out without being lstat-ed. Null when it holds none.
   * A tag file with a header counts only when it starts with those bytes, as in restic.
   */
  async keptByTags(dir: string): Promise<ReadonlySet<string> | null> {
    let tagged = false;
    for (const tag of this.rules.tagFiles ?? []) {
      const path = `${dir}/${tag.name}`;
      const state = await tagState(path, tag.header);
      if (state === true) {
        tagged = true;
        break;
      }
      if (typeof state === 'string') this.rules.onInvalidTag?.(path, state);
    }
    return tagged ? this.tagNames : null;
  }

  /** Whether the rules need to know a folder's tag files before its entries are walked. */
  get hasTagFiles(): boolean {
    return this.tagNames.size > 0;
  }

  /** Left out by its lstat: a file above --exclude-larger-than. */
  excludesBySize(st: BigIntStats): boolean {
    const limit = this.rules.largerThanBytes;
    return limit !== undefined && !st.isDirectory() && st.size > BigInt(limit);
  }

  /**
   * Under --one-file-system, where an entry lies against the device of the backup path it was
   * reached from: 'same' (walked as usual), 'mount point' (a folder on another device: stored,
   * not entered) or 'other' (anything else there: left out).
   */
  device(st: BigIntStats, rootDev: bigint): 'same' | 'mount point' | 'other' {
    if (this.rules.oneFileSystem !== true || st.dev === rootDev) return 'same';
    return st.isDirectory() ? 'mount point' : 'other';
  }
}

/**
 * Whether a tag file is there: without a header, any entry of that name (as restic's lstat);
 * with one, a file that begins with it (opened, so a link is followed, as restic does). False when
 * there is nothing of that name; why not, when something is there that is no tag (a file shorter
 * than the header, other first bytes, a folder).
 */
async function tagState(path: string, header: Uint8Array | undefined): Promise<boolean | string> {
  if (!header || header.length === 0) return lstat(fsPath(path)).then(() => true, () => false);
  let fh;
  try {
    // Followed (as restic), but O_NONBLOCK: a FIFO planted under a tag's name must not hang the backup.
    fh = await open(fsPath(path), constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? false : `cannot be opened (${code ?? String(err)})`;
  }
  try {
    if (!(await fh.stat()).isFile()) return 'is not a regular file';
    const buf = new Uint8Array(header.length);
    let got = 0;
    while (got < buf.length) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    if (got < header.length) return got === 0 ? 'is empty, so it holds no signature' : 'is shorter than the signature it should start with';
    return Buffer.compare(buf, header) === 0 ? true : 'does not start with the expected signature';
  } catch (err) {
    return `cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`;
  } finally {
    await fh.close().catch(() => undefined);
  }
}
