import { readFileSync } from 'node:fs';

/**
 * Peak resident set size of this process (VmHWM), worker threads included since they share the
 * process. Falls back to process.resourceUsage().maxRSS where /proc is absent.
 */
export function peakRssBytes(): number {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const m = /VmHWM:\s+(\d+)\s+kB/.exec(status);
    if (m) return Number(m[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}

/** Resident set size of this process now (VmRSS), or 0 where /proc is absent. */
export function currentRssBytes(): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}
