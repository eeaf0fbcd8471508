// Profiles (docs/UNATTENDED.md): one TOML file of named sets of flags, in resticprofile's shape, so
// that a nightly job is `engine -P home backup` instead of a wrapper script repeating the
// repository, the password source and the excludes.
//
//   [base]
//   repository = "s3:https://s3.example.com/bucket/nas"
//   password-file = "/etc/engine/password"
//
//   [home]
//   inherit = "base"
//   mem-budget = "512M"            # given to every command of the profile that takes it
//
//   [home.backup]
//   source = ["/home", "/etc"]
//   exclude = ["*.tmp", "node_modules"]
//   tag = ["nightly"]
//
//   [home.forget]
//   keep-daily = 7
//   prune = true
//
// A key is the long name of a flag (`repository` also names --repo, as in resticprofile); a
// string or a number is its value, `true` gives a switch, `false` leaves it out, a list repeats the
// flag. A profile's own keys go to every command that takes them (and are left out of those that do
// not); the keys of its `[NAME.COMMAND]` table go to that command, and one the command does not take
// is an error naming it. `inherit` takes another profile's keys and tables, its own winning.
// The profile's flags are put before the command line's, so a flag given on the command line wins
// (a repeatable one, such as --exclude, adds to the profile's).
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { Command, Option } from 'commander';
import { parse as parseToml, TomlError } from 'smol-toml';
import { UsageError } from '../errors/engine-error.js';
import type { Hooks, Send, Sends } from './hooks.js';
import { commandIndex } from './command-words.js';

type Table = Record<string, unknown>;

/** The hooks' keys (src/cli/hooks.ts), in a profile or a command's table. */
const HOOK_KEYS = { 'run-before': 'before', 'run-after': 'after', 'run-after-fail': 'afterFail', 'run-finally': 'finally' } as const;
/** The monitors' keys (src/cli/hooks.ts Send), in a profile or a command's table. */
const SEND_KEYS = { 'send-before': 'before', 'send-after': 'after', 'send-after-fail': 'afterFail', 'send-finally': 'finally' } as const;
/** Keys that name something other than a flag. */
const RESERVED = new Set(['inherit', 'source', 'schedule', 'schedule-permission', ...Object.keys(HOOK_KEYS), ...Object.keys(SEND_KEYS)]);
/** resticprofile's names for engine's flags. */
const ALIASES: Record<string, string> = { repository: 'repo' };

/** Where the profiles are read from without --config: $XDG_CONFIG_HOME/engine/profiles.toml. */
export function defaultConfigFile(): string {
  return join(process.env.XDG_CONFIG_HOME || join(homedir(), '.config'), 'engine', 'profiles.toml');
}

/**
 * `argv` (process.argv) with `--config FILE` and `-P/--profile NAME` taken out and the profile's
 * flags put in: its global flags after the program's name, its command's flags after the
 * command's name. Unchanged when neither is given. A --config without -P uses the profile
 * "default", as resticprofile does.
 */
export function expandProfile(argv: readonly string[], program: Command): { argv: string[]; hooks: Hooks | null; sends: Sends | null; profile: string | null } {
  const rest: string[] = [];
  let configFile: string | undefined;
  let profile: string | undefined;
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    const take = (name: string): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${name} needs a value`);
      return v;
    };
    if (a === '--config') configFile = take('--config');
    else if (a.startsWith('--config=')) configFile = a.slice('--config='.length);
    else if (a === '-P' || a === '--profile') profile = take(a);
    else if (a.startsWith('--profile=')) profile = a.slice('--profile='.length);
    else if (/^-P./.test(a)) profile = a.slice(2);
    else if (/^-[A-Za-z]+P/.test(a)) throw new UsageError(`${a}: give the profile as its own word (-P NAME or --profile=NAME)`);
    else rest.push(a);
  }
  if (configFile === undefined && profile === undefined) return { argv: [...argv], hooks: null, sends: null, profile: null };
  const commandAt = commandIndex(rest, program);
  // `engine schedule` reads the profiles itself (its units run `engine -P NAME COMMAND`).
  if (rest[commandAt] === 'schedule') return { argv: [...argv], hooks: null, sends: null, profile: null };
  const file = configFile ?? defaultConfigFile();
  const name = profile ?? 'default';
  const resolved = readProfile(file, name);
  if (commandAt < 0) throw new UsageError(`-P ${name}: no command given`, { hint: 'e.g. engine -P home backup' });
  const group = rest[commandAt]!;
  let command = program.commands.find((c) => c.name() === group)!;
  let insertAt = commandAt + 1;
  const sub = command.commands.find((c) => c.name() === rest[insertAt]);
  if (sub) {
    command = sub;
    insertAt++;
  }
  const commandName = rest.slice(commandAt, insertAt).join(' ');
  const globals = optionsByLong(program.options);
  const own = optionsByLong(command.options);

  const globalArgs: string[] = [];
  const commandArgs: string[] = [];
  // The profile's own keys: to whichever takes them, the command or the program.
  for (const [key, value] of Object.entries(resolved.keys)) {
    if (RESERVED.has(key)) continue;
    const flag = ALIASES[key] ?? key;
    const where = `${file}: [${name}] ${key}`;
    if (own.has(flag)) commandArgs.push(...flagArgs(own.get(flag)!, flag, value, where));
    else if (globals.has(flag)) globalArgs.push(...flagArgs(globals.get(flag)!, flag, value, where));
  }
  // The command's table; a subcommand's is its own table inside its command's ([home.repair.index]),
  // over the keys of its command's table that are not tables ([home.repair]).
  const groupTable = resolved.tables[group] ?? {};
  const subTable = sub && isTable(groupTable[sub.name()]) ? (groupTable[sub.name()] as Table) : {};
  const table: Table = sub ? { ...Object.fromEntries(Object.entries(groupTable).filter(([k, v]) => !isTable(v) || RESERVED.has(k))), ...subTable } : groupTable;
  const tableName = sub && Object.keys(subTable).length > 0 ? `${group}.${sub.name()}` : group;
  const hooks: Hooks = { profile: name, command: commandName, before: [], after: [], afterFail: [], finally: [] };
  // The profile's hooks wrap its command's: theirs first before, last after.
  const addHooks = (from: Table, where: string, outer: boolean): void => {
    for (const [key, field] of Object.entries(HOOK_KEYS)) {
      if (from[key] === undefined) continue;
      const list = stringList(from[key], `${where} ${key}`);
      hooks[field] = field === 'before' ? (outer ? [...list, ...hooks[field]] : [...hooks[field], ...list]) : outer ? [...hooks[field], ...list] : [...list, ...hooks[field]];
    }
  };
  addHooks(table, `[${name}.${tableName}]`, false);
  addHooks(resolved.keys, `[${name}]`, true);
  const sends: Sends = { before: [], after: [], afterFail: [], finally: [] };
  for (const [from, where] of [[resolved.keys, `[${name}]`], [table, `[${name}.${tableName}]`]] as const) {
    for (const [key, field] of Object.entries(SEND_KEYS)) if (from[key] !== undefined) sends[field].push(...sendList(from[key], `${file}: ${where} ${key}`));
  }
  // `source` is the backup's paths, unless it backs up standard input (or a command's output):
  // then paths would be refused, or taken for the command's words after `--`.
  const fromStdin = rest.includes('--stdin') || rest.includes('--stdin-from-command');
  const sources: string[] = [];
  for (const [key, value] of Object.entries(table)) {
    const where = `${file}: [${name}.${tableName}] ${key}`;
    if (RESERVED.has(key) && key !== 'source') continue;
    if (key === 'source' && command.name() === 'backup') {
      if (!fromStdin) sources.push(...stringList(value, where));
      continue;
    }
    const flag = ALIASES[key] ?? key;
    if (own.has(flag)) commandArgs.push(...flagArgs(own.get(flag)!, flag, value, where));
    else if (globals.has(flag)) globalArgs.push(...flagArgs(globals.get(flag)!, flag, value, where));
    else throw new UsageError(`${where}: \`engine ${commandName}\` has no --${flag}`, { hint: `\`engine ${commandName} --help\` lists its flags; a key is a flag's long name` });
  }
  const expanded = [...argv.slice(0, 2), ...globalArgs, ...rest.slice(0, insertAt), ...commandArgs, ...sources, ...rest.slice(insertAt)];
  const anyHook = hooks.before.length + hooks.after.length + hooks.afterFail.length + hooks.finally.length > 0;
  const anySend = sends.before.length + sends.after.length + sends.afterFail.length + sends.finally.length > 0;
  return { argv: expanded, hooks: anyHook || anySend ? hooks : null, sends: anySend ? sends : null, profile: name };
}

export interface ResolvedProfile {
  /** The profile's own keys (with what it inherits). */
  keys: Table;
  /** Its command tables, by command name. */
  tables: Record<string, Table>;
}

/** Profile `name` of the profiles file `file`, with what it inherits. */
export function readProfile(file: string, name: string): ResolvedProfile {
  return resolveProfile(readProfiles(file), name, file);
}

function readProfiles(file: string): Table {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read the profiles file ${file}: ${(err as Error).message}`, { hint: 'give --config FILE, or write profiles to ' + defaultConfigFile() });
  }
  try {
    return parseToml(text) as Table;
  } catch (err) {
    const where = err instanceof TomlError ? ` (line ${err.line}, column ${err.column})` : '';
    throw new UsageError(`${file} is not valid TOML${where}: ${(err as Error).message.split('\n')[0]}`);
  }
}

/** A profile with what it inherits (its own keys and tables winning), followed through `inherit`. */
function resolveProfile(profiles: Table, name: string, file: string, seen: string[] = []): ResolvedProfile {
  if (seen.includes(name)) throw new UsageError(`${file}: profiles inherit in a circle: ${[...seen, name].join(' -> ')}`);
  const p = profiles[name];
  if (!isTable(p)) {
    const names = Object.keys(profiles).filter((k) => isTable(profiles[k]));
    throw new UsageError(`${file} has no profile "${name}"`, { hint: names.length > 0 ? `its profiles: ${names.join(', ')}` : 'a profile is a [NAME] table' });
  }
  const own: ResolvedProfile = { keys: {}, tables: {} };
  for (const [k, v] of Object.entries(p)) {
    // A send-* may be one table ({ url = ... }): it is a key of the profile, not a command's table.
    if (isTable(v) && !RESERVED.has(k)) own.tables[k] = v;
    else own.keys[k] = v;
  }
  const parent = own.keys.inherit;
  if (parent === undefined) return own;
  if (typeof parent !== 'string') throw new UsageError(`${file}: [${name}] inherit must be a profile's name`);
  const base = resolveProfile(profiles, parent, file, [...seen, name]);
  const tables: Record<string, Table> = { ...base.tables };
  for (const [k, t] of Object.entries(own.tables)) tables[k] = { ...(base.tables[k] ?? {}), ...t };
  return { keys: { ...base.keys, ...own.keys }, tables };
}

/** A send-* key: a URL, a table { url, method, body, headers, format }, or a list of them. */
function sendList(v: unknown, where: string): Send[] {
  const list = Array.isArray(v) ? v : [v];
  return list.map((x): Send => {
    const t: Table = typeof x === 'string' ? { url: x } : isTable(x) ? x : {};
    const url = t.url;
    if (typeof url !== 'string' || !/^https?:\/\//.test(url) || !URL.canParse(url)) throw new UsageError(`${where}: give an http(s) URL, or a table with url = "https://..."`);
    const format = t.format ?? 'text';
    if (format !== 'text' && format !== 'ntfy' && format !== 'gotify' && format !== 'slack') throw new UsageError(`${where}: format is text, ntfy, gotify or slack`);
    const headers = isTable(t.headers) ? Object.fromEntries(Object.entries(t.headers).map(([k, h]) => [k, String(h)])) : {};
    const method = typeof t.method === 'string' ? t.method.toUpperCase() : 'POST';
    return { url, method, body: typeof t.body === 'string' ? t.body : undefined, headers, format };
  });
}

/**
 * The command-line words of one key. A switch takes true or false (a count repeats it: `verbose
 * = 2` is -v -v); a flag that takes a value takes a string, a number, or a list of them (one flag
 * each), always as `--flag=value`, so a value is never taken for another word.
 */
function flagArgs(option: Option, flag: string, value: unknown, where: string): string[] {
  const takesValue = option.required || option.optional;
  if (!takesValue) {
    if (value === true) return [`--${flag}`];
    if (value === false) return [];
    if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 10) return Array.from({ length: value }, () => `--${flag}`);
    throw new UsageError(`${where}: --${flag} is a switch: give true or false`);
  }
  if (typeof value === 'boolean') throw new UsageError(`${where}: --${flag} takes a value: give a string or a number, not ${value}`);
  if (Array.isArray(value)) return value.flatMap((v) => flagArgs(option, flag, scalar(v, where), where));
  return [`--${flag}=${scalar(value, where)}`];
}

function scalar(v: unknown, where: string): string | boolean {
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  throw new UsageError(`${where}: a value must be a string, a number, true/false or a list of them`);
}

function stringList(v: unknown, where: string): string[] {
  const list = Array.isArray(v) ? v : [v];
  if (!list.every((x) => typeof x === 'string')) throw new UsageError(`${where}: give a path or a list of paths`);
  return list as string[];
}

/** Options by their long name without the dashes: `no-cache` for --no-cache. */
function optionsByLong(options: readonly Option[]): Map<string, Option> {
  return new Map(options.flatMap((o) => (o.long ? [[o.long.replace(/^--/, ''), o] as const] : [])));
}

function isTable(v: unknown): v is Table {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}
