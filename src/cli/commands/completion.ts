// `engine completion bash|zsh|fish` and `engine man`: shell completions and a man page made from
// the command definitions themselves (commander's), so neither can fall behind a new flag.
import type { Command, Option } from 'commander';
import { UsageError } from '../../errors/engine-error.js';
import { engineVersion } from '../../package-info.js';

interface Described {
  /** "backup", "repair index". */
  path: string;
  description: string;
  options: { flags: string[]; takesValue: boolean; description: string }[];
  subcommands: string[];
}

/** Every command (and subcommand) of the program, and the program's own options as path "". */
function describeAll(program: Command): Described[] {
  const out: Described[] = [];
  const walk = (c: Command, path: string): void => {
    out.push({ path, description: c.description(), options: c.options.filter((o) => !o.hidden).map(describeOption), subcommands: c.commands.map((s) => s.name()) });
    for (const s of c.commands) walk(s, path === '' ? s.name() : `${path} ${s.name()}`);
  };
  walk(program, '');
  return out;
}

function describeOption(o: Option): Described['options'][number] {
  return { flags: [o.short, o.long].filter((f): f is string => !!f), takesValue: o.required || o.optional, description: o.description };
}

export function completionScript(program: Command, shell: string): string {
  const all = describeAll(program);
  switch (shell) {
    case 'bash':
      return bash(all);
    case 'zsh':
      // zsh runs bash completions through bashcompinit: one definition to keep right.
      return `#compdef engine\nautoload -U +X bashcompinit && bashcompinit\n${bash(all)}`;
    case 'fish':
      return fish(all);
    default:
      throw new UsageError(`no completion for the shell "${shell}"`, { hint: 'engine completion bash|zsh|fish' });
  }
}

/** bash: the words of the command typed so far choose the command; then its flags and subcommands. */
function bash(all: Described[]): string {
  const cases = all
    .map((d) => {
      const words = [...d.subcommands, ...d.options.flatMap((o) => o.flags), ...(d.path === '' ? [] : (all.find((x) => x.path === '')?.options.flatMap((o) => o.flags) ?? []))];
      return `    ${JSON.stringify(d.path)}) words=${shQuote(words.join(' '))} ;;`;
    })
    .join('\n');
  const valued = all.flatMap((d) => d.options.filter((o) => o.takesValue).flatMap((o) => o.flags));
  return `# bash completion for engine (engine completion bash > /etc/bash_completion.d/engine)
_engine() {
  local cur prev path="" words w i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  case " ${[...new Set(valued)].join(' ')} " in *" $prev "*) COMPREPLY=( $(compgen -f -- "$cur") ); return ;; esac
  for (( i=1; i<COMP_CWORD; i++ )); do
    w="\${COMP_WORDS[i]}"
    case "$w" in -*) continue ;; esac
    case "$path" in
${all.map((d) => `      ${JSON.stringify(d.path)}) case " ${d.subcommands.join(' ')} " in *" $w "*) path="\${path:+$path }$w" ;; esac ;;`).join('\n')}
    esac
  done
  case "$path" in
${cases}
    *) words="" ;;
  esac
  COMPREPLY=( $(compgen -W "$words" -- "$cur") )
  [ \${#COMPREPLY[@]} -eq 0 ] && COMPREPLY=( $(compgen -f -- "$cur") )
  return 0
}
complete -o filenames -F _engine engine
`;
}

function fish(all: Described[]): string {
  const lines = ['# fish completion for engine (engine completion fish > ~/.config/fish/completions/engine.fish)', 'complete -c engine -f'];
  for (const d of all) {
    const condition = d.path === '' ? '__fish_use_subcommand' : d.path.includes(' ') ? `__fish_seen_subcommand_from ${d.path.split(' ')[1]}` : `__fish_seen_subcommand_from ${d.path}`;
    for (const s of d.subcommands) {
      const sub = all.find((x) => x.path === (d.path === '' ? s : `${d.path} ${s}`));
      const cond = d.path === '' ? '__fish_use_subcommand' : `__fish_seen_subcommand_from ${d.path}; and not __fish_seen_subcommand_from ${d.subcommands.join(' ')}`;
      lines.push(`complete -c engine -n ${fishQuote(cond)} -a ${fishQuote(s)} -d ${fishQuote(firstLine(sub?.description ?? ''))}`);
    }
    for (const o of d.options) {
      const long = o.flags.find((f) => f.startsWith('--'))?.slice(2);
      const short = o.flags.find((f) => /^-[^-]$/.test(f))?.slice(1);
      const parts = ['complete -c engine', d.path === '' ? '' : `-n ${fishQuote(condition)}`, long ? `-l ${long}` : '', short ? `-s ${short}` : '', o.takesValue ? '-r -F' : '', `-d ${fishQuote(firstLine(o.description))}`];
      lines.push(parts.filter((p) => p !== '').join(' '));
    }
  }
  return `${lines.join('\n')}\n`;
}

/** The man page (roff, man(7)): every command with its description and flags. */
export function manPage(program: Command): string {
  const all = describeAll(program);
  const top = all.find((d) => d.path === '')!;
  const esc = (t: string): string => t.replace(/\\/g, '\\e').replace(/^([.'])/gm, '\\&$1').replace(/-/g, '\\-');
  const opts = (d: Described): string => d.options.map((o) => `.TP\n.B ${esc(o.flags.join(', '))}${o.takesValue ? ' \\fIvalue\\fR' : ''}\n${esc(o.description)}`).join('\n');
  const date = new Date().toISOString().slice(0, 10);
  return [
    `.TH ENGINE 1 "${date}" "engine ${engineVersion() ?? ''}" "User Commands"`,
    '.SH NAME',
    `engine \\- ${esc(program.description())}`,
    '.SH SYNOPSIS',
    '.B engine',
    '[\\fIglobal options\\fR] \\fIcommand\\fR [\\fIoptions\\fR] [\\fIarguments\\fR]',
    '.SH DESCRIPTION',
    'A deduplicating, compressing, encrypting backup engine with restic\'s commands and flags, which keeps within a memory budget (\\-\\-mem\\-budget). The README and the docs folder of the package say more.',
    '.SH GLOBAL OPTIONS',
    opts(top),
    '.SH COMMANDS',
    ...all
      .filter((d) => d.path !== '' && (d.subcommands.length === 0 || d.options.length > 0))
      .map((d) => `.SS "engine ${esc(d.path)}"\n${esc(d.description)}${d.options.length > 0 ? `\n${opts(d)}` : ''}`),
    '.SH ENVIRONMENT',
    'ENGINE_REPOSITORY, ENGINE_REPOSITORY_FILE, ENGINE_PASSWORD, ENGINE_PASSWORD_FILE, ENGINE_PASSWORD_COMMAND, ENGINE_HOST, ENGINE_CACHE_DIR, ENGINE_NATIVE: see the README of the package.',
    '.SH EXIT STATUS',
    '0 success; 1 failure; 2 usage error; 3 snapshot saved but some files could not be read; 4 repository damage; 10 no repository; 11 locked or lock lost; 12 wrong password; 13 storage unavailable; 130 interrupted.',
    '',
  ].join('\n');
}

function firstLine(t: string): string {
  return t.split('\n')[0]!;
}

function shQuote(t: string): string {
  return `'${t.replace(/'/g, `'\\''`)}'`;
}

function fishQuote(t: string): string {
  return `'${t.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
