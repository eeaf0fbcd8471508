// One measured step of one tool: the page cache settled first (see page-cache.ts), then the
// tool's command under GNU time (see process.ts).

import { settleBeforeStep } from './page-cache.js';
import { runMeasured, type MeasuredRun } from './process.js';
import type { Invocation, ToolAdapter } from './tools.js';

export async function measureStep(tool: ToolAdapter, how: Invocation, timeFile: string, warm: boolean): Promise<MeasuredRun> {
  await settleBeforeStep(warm);
  return runMeasured(tool.cmd, how.args, tool.env, how.cwd, timeFile);
}
