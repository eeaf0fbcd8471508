// The times `find --oldest/--newest` accept: restic's list (cmd_find.go timeFormats), read in
// local time unless a zone is given.
import { UsageError } from '../errors/engine-error.js';

const DATE_ISO = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_EU = /^(\d{2})\.(\d{2})\.(\d{4})$/;
const CLOCK = /^(\d{2}):(\d{2})(?::(\d{2}))?$/;
const OFFSET = /^([+-])(\d{2})(\d{2})$/;
const ABBREV = /^[A-Z]{3,5}$/;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

const FORMATS = '"2006-01-02", "2006-01-02 15:04", "2006-01-02 15:04:05", the same with " -0700" or " UTC", "02.01.2006" with the same times, or "Mon Jan 2 15:04:05 -0700 MST 2006"';

/** Nanoseconds since the epoch of `text`, or a usage error naming the flag and the formats. */
export function parseFindTime(text: string, flag: string): bigint {
  const ms = parse(text.trim());
  if (ms === null || !Number.isFinite(ms)) throw new UsageError(`${flag} "${text}": unable to parse time`, { hint: `give one of ${FORMATS}` });
  return BigInt(ms) * 1_000_000n;
}

function parse(text: string): number | null {
  const words = text.split(/\s+/);
  // "Mon Jan 2 15:04:05 -0700 MST 2006" (Go's RubyDate-like layout restic lists last)
  if (words.length === 6 && /^[A-Z][a-z]{2}$/.test(words[0]!)) {
    const month = MONTHS.indexOf(words[1]!);
    const clock = CLOCK.exec(words[3]!);
    const offset = OFFSET.exec(words[4]!);
    if (month < 0 || !/^\d{1,2}$/.test(words[2]!) || !clock || clock[3] === undefined || !offset || !/^\d{4}$/.test(words[5]!)) return null;
    return build(Number(words[5]), month + 1, Number(words[2]), clock, offsetMinutes(offset));
  }
  if (words.length < 1 || words.length > 3) return null;
  let ymd: [number, number, number] | null = null;
  const iso = DATE_ISO.exec(words[0]!);
  const eu = DATE_EU.exec(words[0]!);
  if (iso) ymd = [Number(iso[1]), Number(iso[2]), Number(iso[3])];
  else if (eu) ymd = [Number(eu[3]), Number(eu[2]), Number(eu[1])];
  if (!ymd) return null;
  if (words.length === 1) return build(ymd[0], ymd[1], ymd[2], null, null);
  const clock = CLOCK.exec(words[1]!);
  if (!clock) return null;
  if (words.length === 2) return build(ymd[0], ymd[1], ymd[2], clock, null);
  // A zone needs seconds (restic's layouts with a zone all have them).
  if (clock[3] === undefined) return null;
  const offset = OFFSET.exec(words[2]!);
  if (offset) return build(ymd[0], ymd[1], ymd[2], clock, offsetMinutes(offset));
  // Go reads an abbreviation it does not know as a zone at UTC; engine does the same for all.
  if (ABBREV.test(words[2]!)) return build(ymd[0], ymd[1], ymd[2], clock, 0);
  return null;
}

const offsetMinutes = (m: RegExpExecArray): number => (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]));

function build(y: number, mo: number, d: number, clock: RegExpExecArray | null, offsetMin: number | null): number | null {
  const h = clock ? Number(clock[1]) : 0;
  const mi = clock ? Number(clock[2]) : 0;
  const s = clock?.[3] !== undefined ? Number(clock[3]) : 0;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || s > 59) return null;
  if (offsetMin === null) {
    const t = new Date(y, mo - 1, d, h, mi, s);
    return t.getDate() === d ? t.getTime() : null;
  }
  const utc = Date.UTC(y, mo - 1, d, h, mi, s);
  if (new Date(utc).getUTCDate() !== d) return null;
  return utc - offsetMin * 60_000;
}
