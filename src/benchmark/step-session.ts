// A step's stand-in for opening a repository: the repository is made or opened by the step
// itself (on a memory or local backend, with a fixed password), then planned and given a pool as
// a command's would be (src/session/).
import type { NativePolicy, PrimitiveName } from '../../native-bindings/types.js';
import type { Plan } from '../memory/planner.js';
import type { Repository } from '../repository/repository.js';
import { planMemory } from '../session/memory-plan.js';
import type { OpenSession } from '../session/open-session.js';

export const PASSWORD = new TextEncoder().encode('engine bench');

export function session(repo: Repository, policy: NativePolicy, chosen: Record<PrimitiveName, string>): OpenSession {
  return { repo, remote: false, chosen, fallback: policy === 'fallback', indexCacheDir: null };
}

export function planFor(s: OpenSession, budgetBytes: number): Plan {
  return planMemory(s, budgetBytes);
}

export function cpuSecondsSince(c0: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e6;
}
