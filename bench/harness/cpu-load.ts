// How busy the whole machine was over a span, from /proc/stat (Linux): the CPU seconds every
// process spent, so that a benchmark can subtract its own and say how much other work shared the
// cores with it. Elsewhere (no /proc/stat) it reports nothing rather than guess.

import { readFile } from 'node:fs/promises';

/** USER_HZ: the unit of /proc/stat, 100 on every Linux architecture Node supports. */
const TICKS_PER_SECOND = 100;

/** Busy CPU seconds of all cores since boot (user, nice, system, irq, softirq, steal), or undefined off Linux. */
export async function machineBusySeconds(): Promise<number | undefined> {
  try {
    const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    if (f.length < 8 || f.some((x) => !Number.isFinite(x))) return undefined;
    const [user, nice, system, , , irq, softirq, steal] = f as [number, number, number, number, number, number, number, number];
    return (user + nice + system + irq + softirq + steal) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

/**
 * The cores other work kept busy on average over `wallSeconds`: the machine's busy seconds in the
 * span minus `ownCpuSeconds`, over the wall time. Undefined when either sample is missing.
 */
export function foreignCores(busyBefore: number | undefined, busyAfter: number | undefined, ownCpuSeconds: number, wallSeconds: number): number | undefined {
  if (busyBefore === undefined || busyAfter === undefined || !(wallSeconds > 0)) return undefined;
  return Math.max(0, (busyAfter - busyBefore - ownCpuSeconds) / wallSeconds);
}

/**
 * CPU seconds (user + system) of this process's waited-for children so far (/proc/self/stat
 * cutime + cstime; they include the children's own waited-for children), or undefined off Linux.
 */
export async function childrenCpuSeconds(): Promise<number | undefined> {
  try {
    const stat = await readFile('/proc/self/stat', 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces: state is the
    // first, cutime and cstime the 14th and 15th.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    const cutime = f[13];
    const cstime = f[14];
    return cutime !== undefined && cstime !== undefined && Number.isFinite(cutime + cstime) ? (cutime + cstime) / TICKS_PER_SECOND : undefined;
  } catch {
    return undefined;
  }
}
