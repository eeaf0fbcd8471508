// A live progress line on a terminal (stderr), rewritten in place at most four times a second;
// nothing at all when stderr is not a terminal (cron mails and logs stay clean) or with --quiet.
// It never runs past the terminal's width (a wrapped line leaves a stale line behind at each
// redraw), and it says 100% only once finish() is called: when everything is stored, not when
// everything is read (an upload limited by --limit-upload goes on long after the last read).
// With --json the same figures go to stdout as restic's "status" messages instead, terminal or
// not, once a second (ENGINE_PROGRESS_FPS changes the rate of both, as RESTIC_PROGRESS_FPS).
import { displayName } from '../fs/names.js';
import { formatBytes } from '../util/bytes.js';

export interface ProgressSource {
  /** Files done (read, or taken from the parent). */
  files(): number;
  /** All the files, once known. */
  filesTotal?(): number | null;
  /** Bytes done. */
  bytes(): number;
  /** All the bytes, once known. */
  totalBytes(): number | null;
  /** Bytes stored in the repository so far (packs written). */
  stored?(): number;
  /** The file being worked on. */
  current?(): string | null;
  errors?(): number;
}

/** A status message (--json) made of the figures. */
export type StatusMessage = (f: ProgressFigures) => Record<string, unknown>;

/**
 * Updates a second: ENGINE_PROGRESS_FPS when set (a positive number, at most 60), else 4 on a
 * terminal and 1 for --json status lines (a night's backup logs 3,600 lines an hour, not 14,400).
 */
export function progressIntervalMs(json: boolean, env: NodeJS.ProcessEnv = process.env): number {
  const fps = Number(env.ENGINE_PROGRESS_FPS);
  if (Number.isFinite(fps) && fps > 0) return 1000 / Math.min(fps, 60);
  return json ? 1000 : 250;
}

export class ProgressLine {
  /** --quiet: no line at all, and no status messages. */
  static disabled = false;
  /** --json: status messages on stdout instead of the line (for the commands that make them). */
  static json = false;
  /** The line on the terminal now, if any: erased before other output is written there. */
  private static shown: ProgressLine | null = null;

  /** Erases the line on the terminal (it is drawn again at the next tick). */
  static erase(): void {
    if (ProgressLine.shown) process.stderr.write('\r\x1b[2K');
  }
  private timer: NodeJS.Timeout | null = null;
  private readonly started = performance.now();
  private readonly src: ProgressSource;
  private readonly label: string;
  private readonly status: StatusMessage | null;

  constructor(label: string, src: ProgressSource, status?: StatusMessage) {
    this.label = label;
    this.src = src;
    this.status = status ?? null;
  }

  start(): this {
    if (ProgressLine.disabled) return this;
    if (ProgressLine.json) {
      // Not a terminal's business: the status goes to stdout whatever it is (a pipe, a file).
      if (!this.status) return this;
      this.timer = setInterval(() => this.draw(false), progressIntervalMs(true));
      this.timer.unref();
      return this;
    }
    if (!process.stderr.isTTY) return this;
    this.timer = setInterval(() => this.draw(false), progressIntervalMs(false));
    this.timer.unref();
    ProgressLine.shown = this;
    return this;
  }

  /** Everything is done and stored: the line says 100% once (a last status message), then goes. */
  finish(): void {
    if (!this.timer) return;
    this.draw(true);
    this.stop();
  }

  stop(): void {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = null;
    if (this.status && ProgressLine.json) return;
    if (ProgressLine.shown === this) ProgressLine.shown = null;
    process.stderr.write('\r\x1b[2K');
  }

  private draw(done: boolean): void {
    if (this.status && ProgressLine.json) {
      process.stdout.write(`${JSON.stringify(this.status(this.snapshot(done)))}\n`);
      return;
    }
    const width = process.stderr.columns || 80;
    process.stderr.write(`\r\x1b[2K${progressText(this.label, this.snapshot(done), width - 1)}`);
  }

  private snapshot(done: boolean): ProgressFigures {
    return {
      seconds: (performance.now() - this.started) / 1000,
      files: this.src.files(),
      filesTotal: this.src.filesTotal?.() ?? null,
      bytes: this.src.bytes(),
      totalBytes: this.src.totalBytes(),
      stored: this.src.stored?.() ?? null,
      current: this.src.current?.() ?? null,
      errors: this.src.errors?.() ?? 0,
      done,
    };
  }
}

export interface ProgressFigures {
  seconds: number;
  files: number;
  filesTotal: number | null;
  bytes: number;
  totalBytes: number | null;
  stored: number | null;
  current: string | null;
  errors: number;
  /** Everything stored: the only state in which 100% is said. */
  done: boolean;
}

/**
 * The fraction done, 0 to 1, for the line's percent and --json's percent_done: below 1 (at most
 * 0.999) until finish() says everything is stored, since read is not stored; null while the total
 * is not known and the work not done.
 */
export function fractionDone(f: ProgressFigures): number | null {
  if (f.done) return 1;
  if (f.totalBytes === null || f.totalBytes <= 0) return null;
  return Math.min(0.999, f.bytes / f.totalBytes);
}

/**
 * The line, at most `width` characters: the figures that matter most first (percent and ETA,
 * files, bytes, rate, stored, errors), then the current file, cut from its start to what is left.
 * Parts that do not fit are left out whole, from the least useful.
 */
export function progressText(label: string, f: ProgressFigures, width: number): string {
  const rate = f.seconds > 0 ? f.bytes / f.seconds : 0;
  let percent = '';
  let eta = '';
  if (f.totalBytes !== null && f.totalBytes > 0) {
    // Read is not stored: below 100% until finish() says everything is.
    percent = `${(100 * fractionDone(f)!).toFixed(1)}%`;
    // Everything read, not yet all stored (an upload limited by --limit-upload): said as such.
    if (!f.done && f.bytes >= f.totalBytes) eta = 'storing';
    else if (!f.done && rate > 0) {
      const left = Math.round((f.totalBytes - f.bytes) / rate);
      eta = `ETA ${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`;
    }
  } else if (f.done) percent = '100.0%';
  const files = f.filesTotal !== null ? `${f.files}/${f.filesTotal} files` : `${f.files} files`;
  const bytes = f.totalBytes !== null ? `${formatBytes(f.bytes)}/${formatBytes(f.totalBytes)}` : formatBytes(f.bytes);
  let parts = [
    { key: 'label', text: label },
    { key: 'percent', text: percent },
    { key: 'eta', text: eta },
    { key: 'files', text: files },
    { key: 'bytes', text: bytes },
    { key: 'rate', text: `${formatBytes(rate)}/s` },
    { key: 'stored', text: f.stored !== null ? `stored ${formatBytes(f.stored)}` : '' },
    { key: 'errors', text: f.errors > 0 ? `${f.errors} error${f.errors === 1 ? '' : 's'}` : '' },
  ].filter((p) => p.text !== '');
  const joined = (): string => parts.map((p) => p.text).join('  ');
  // Too wide: the least useful parts go first.
  for (const key of ['stored', 'rate', 'bytes', 'eta']) {
    if (columns(joined()) <= width) break;
    parts = parts.filter((p) => p.key !== key);
  }
  let line = cutToColumns(joined(), width, 'head');
  const room = width - columns(line) - 2;
  if (f.current && room >= 8) {
    const name = displayName(f.current);
    line += `  ${columns(name) <= room ? name : `…${cutToColumns(name, room - 1, 'tail')}`}`;
  }
  return line;
}

/**
 * Terminal columns a character takes: 2 for East Asian wide and fullwidth ones and emoji, 0 for
 * combining marks and zero-width ones, else 1. A name of CJK characters counted as one column each
 * ran past the terminal and wrapped.
 */
function charColumns(cp: number): number {
  if ((cp >= 0x300 && cp <= 0x36f) || (cp >= 0x200b && cp <= 0x200f) || cp === 0xfeff || (cp >= 0xfe00 && cp <= 0xfe0f)) return 0;
  if (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0xa4cf) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1faff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  )
    return 2;
  return 1;
}

export function columns(text: string): number {
  let n = 0;
  for (const ch of text) n += charColumns(ch.codePointAt(0)!);
  return n;
}

/** `text` cut to at most `width` columns, keeping its head or its tail, never inside a character. */
function cutToColumns(text: string, width: number, keep: 'head' | 'tail'): string {
  if (columns(text) <= width) return text;
  const chars = [...text];
  const out: string[] = [];
  let n = 0;
  for (const ch of keep === 'head' ? chars : chars.reverse()) {
    const w = charColumns(ch.codePointAt(0)!);
    if (n + w > width) break;
    out.push(ch);
    n += w;
  }
  return keep === 'head' ? out.join('') : out.reverse().join('');
}
