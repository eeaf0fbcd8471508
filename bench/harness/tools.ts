// The tools under test, as adapters: the command, its environment and the arguments of each step
// (init, backup, restore, check), for engine, restic and borg. A script picks the tools and the
// folders; the harness runs the steps the same way for all of them.
//
// Settings, chosen to be comparable: encryption on everywhere (engine: its default,
// XChaCha20-Poly1305 with BLAKE3 ids; restic: always AES-256-CTR + Poly1305-AES; borg:
// `--encryption repokey-blake2`, BLAKE2b-256 MAC + AES-256-CTR). Compression zstd level 3 or its
// equivalent (engine: default level 3; borg: `--compression zstd,3`; restic >= 0.14 with a
// version 2 repository: `--compression auto`, the zstd "default" speed, comparable to level 3;
// restic < 0.14 cannot compress).

import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { lastJson } from './report.js';
import { commandOutput } from './process.js';

export type ToolName = 'engine' | 'restic' | 'borg';
export const ALL_TOOLS: ToolName[] = ['engine', 'restic', 'borg'];

/** The arguments of one step, and the folder it runs in when that matters. */
export interface Invocation {
  args: string[];
  cwd?: string;
}

export interface ToolAdapter {
  name: ToolName;
  cmd: string;
  env: NodeJS.ProcessEnv;
  init: Invocation;
  /** The n-th backup of the source (1-based: borg names its archives by it). */
  backup: (n: number) => Invocation;
  /** A full restore of the n-th backup into the (empty) target; engine and restic restore `latest`. */
  restore: (n: number) => Invocation;
  /** A check that reads all data. */
  check: Invocation;
  /** Where the source's root ends up under the restore target. */
  restoredRoot: string;
  /** The tool's own JSON summary in a backup's or restore's stdout, when it prints one. */
  summary: (stdout: string) => unknown;
}

/** The folders of one tool: its repository, what it backs up, where it restores to. */
export interface ToolFolders {
  repo: string;
  source: string;
  target: string;
  password: string;
}

// --- engine --------------------------------------------------------------------------------------

/** How to start engine: the checkout, and the command with the arguments before the subcommand. */
export interface EngineCommand {
  checkout: string;
  cmd: string;
  pre: string[];
}

/** The engine checkout these scripts were built from (a folder with package.json and bin/engine.js). */
export function findEngineCheckout(): string | undefined {
  for (const start of [path.dirname(fileURLToPath(import.meta.url)), process.cwd()]) {
    for (let d = start; ; d = path.dirname(d)) {
      if (existsSync(path.join(d, 'package.json')) && existsSync(path.join(d, 'bin', 'engine.js'))) return d;
      if (path.dirname(d) === d) break;
    }
  }
  return undefined;
}

/**
 * Prefer the installed launcher (bin/engine: a sh script that sets glibc malloc variables and
 * execs node, so GNU time still measures the node process itself); else node bin/engine.js.
 */
export function engineCommand(checkout: string): EngineCommand {
  const launcher = path.join(checkout, 'bin', 'engine');
  return existsSync(launcher)
    ? { checkout, cmd: launcher, pre: [] }
    : { checkout, cmd: process.execPath, pre: [path.join(checkout, 'bin', 'engine.js')] };
}

/** `engine --version`, or undefined when it does not run (not built). */
export async function engineVersion(e: EngineCommand): Promise<string | undefined> {
  const v = await commandOutput(e.cmd, [...e.pre, '--version']);
  return v.code === 0 ? v.out.trim() : undefined;
}

export function engineAdapter(e: EngineCommand, f: ToolFolders, memBudget?: string): ToolAdapter {
  const mem = memBudget ? ['--mem-budget', memBudget] : [];
  return {
    name: 'engine',
    cmd: e.cmd,
    env: { ...process.env, ENGINE_PASSWORD: f.password },
    init: { args: [...e.pre, 'init', '--repo', f.repo] },
    backup: () => ({ args: [...e.pre, 'backup', '--repo', f.repo, '--json', ...mem, f.source] }),
    restore: () => ({ args: [...e.pre, 'restore', 'latest', '--repo', f.repo, '--target', f.target, '--json', ...mem] }),
    check: { args: [...e.pre, 'check', '--repo', f.repo, '--read-data'] },
    restoredRoot: path.join(f.target, f.source),
    summary: (out) => lastJson(out),
  };
}

// --- restic --------------------------------------------------------------------------------------

/** `restic version`, and whether it can compress (>= 0.14); undefined when it is not installed. */
export async function resticVersion(): Promise<{ version: string; compresses: boolean } | undefined> {
  const v = await commandOutput('restic', ['version']);
  if (v.code !== 0) return undefined;
  const version = v.out.trim();
  const m = /restic (\d+)\.(\d+)/.exec(version);
  return { version, compresses: m ? Number(m[1]) > 0 || Number(m[2]) >= 14 : false };
}

/**
 * restic with its local cache in `cache`; `compression` passes `--compression auto` to backups
 * (without it restic uses its own default).
 */
export function resticAdapter(f: ToolFolders, cache: string, compression: boolean): ToolAdapter {
  const g = ['-r', f.repo, '--cache-dir', cache];
  const comp = compression ? ['--compression', 'auto'] : [];
  return {
    name: 'restic',
    cmd: 'restic',
    env: { ...process.env, RESTIC_PASSWORD: f.password },
    init: { args: [...g, 'init'] },
    backup: () => ({ args: [...g, 'backup', '--json', ...comp, f.source] }),
    restore: () => ({ args: [...g, 'restore', 'latest', '--target', f.target] }),
    check: { args: [...g, 'check', '--read-data'] },
    restoredRoot: path.join(f.target, f.source),
    summary: (out) => lastJson(out, (x) => x['message_type'] === 'summary'),
  };
}

// --- borg ----------------------------------------------------------------------------------------

/** `borg --version`; undefined when it is not installed. */
export async function borgVersion(): Promise<string | undefined> {
  const v = await commandOutput('borg', ['--version']);
  return v.code === 0 ? v.out.trim() : undefined;
}

/** borg with its cache and security folders under `base` (BORG_BASE_DIR). */
export function borgAdapter(f: ToolFolders, base: string): ToolAdapter {
  const archive = (n: number): string => `${f.repo}::peers-${n}`;
  return {
    name: 'borg',
    cmd: 'borg',
    env: { ...process.env, BORG_PASSPHRASE: f.password, BORG_BASE_DIR: base, BORG_RELOCATED_REPO_ACCESS_IS_OK: 'yes' },
    init: { args: ['init', '--encryption', 'repokey-blake2', f.repo] },
    backup: (n) => ({ args: ['create', '--json', '--compression', 'zstd,3', archive(n), f.source] }),
    // borg extracts into the working directory, paths without their leading '/'.
    restore: (n) => ({ args: ['extract', archive(n)], cwd: f.target }),
    check: { args: ['check', '--verify-data', f.repo] },
    restoredRoot: path.join(f.target, f.source.replace(/^\/+/, '')),
    summary: (out) => lastJson(out),
  };
}
