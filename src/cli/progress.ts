// A live progress line on a terminal (stderr), rewritten in place; nothing at all when stderr is
// not a terminal, so cron mails and logs stay clean.
import { formatBytes } from '../util/bytes.js';

export interface ProgressSource {
  files(): number;
  bytes(): number;
  totalBytes(): number | null;
}

export class ProgressLine {
  private timer: NodeJS.Timeout | null = null;
  private readonly started = performance.now();
  private readonly src: ProgressSource;
  private readonly label: string;

  constructor(label: string, src: ProgressSource) {
    this.label = label;
    this.src = src;
  }

  start(): this {
    if (!process.stderr.isTTY) return this;
    this.timer = setInterval(() => this.draw(), 250);
    this.timer.unref();
    return this;
  }

  private draw(): void {
    const secs = (performance.now() - this.started) / 1000;
    const bytes = this.src.bytes();
    const rate = secs > 0 ? bytes / secs : 0;
    const total = this.src.totalBytes();
    let eta = '';
    if (total !== null && rate > 0 && total >= bytes) {
      const left = Math.round((total - bytes) / rate);
      const percent = ((100 * bytes) / Math.max(1, total)).toFixed(1);
      eta = `  ${percent}%  ETA ${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`;
    }
    const line = `${this.label} ${this.src.files()} files  ${formatBytes(bytes)}  ${formatBytes(rate)}/s${eta}`;
    process.stderr.write(`\r\x1b[2K${line}`);
  }

  stop(): void {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = null;
    process.stderr.write('\r\x1b[2K');
  }
}
