// The fallback project skips the files of test/primitive-free.ts. This checks, on the import
// graph that dependency-cruiser builds, that each of them still reaches nothing in
// native-bindings/ or workers/ and starts no engine: otherwise it would lose its ENGINE_NATIVE=off
// run without anyone noticing.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { cruise } from 'dependency-cruiser';
import { describe, expect, it } from 'vitest';
import { PRIMITIVE_FREE_TESTS } from './primitive-free.js';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('the primitive-free test files', () => {
  it('reach no primitive implementation, no worker and no engine process', async () => {
    const cwd = process.cwd();
    process.chdir(root);
    let graph: Map<string, string[]>;
    try {
      const result = await cruise([...PRIMITIVE_FREE_TESTS], {
        doNotFollow: { path: 'node_modules' },
        tsPreCompilationDeps: true,
      }, { extensions: ['.ts', '.js'] }, { tsConfig: { fileName: 'tsconfig.json' } } as never);
      const output = result.output as { modules: { source: string; dependencies: { resolved: string }[] }[] };
      graph = new Map(output.modules.map((m) => [m.source, m.dependencies.map((d) => d.resolved)]));
    } finally {
      process.chdir(cwd);
    }
    const offenders: string[] = [];
    for (const file of PRIMITIVE_FREE_TESTS) {
      expect(graph.has(file), `${file} is listed but was not found`).toBe(true);
      const seen = new Set<string>();
      const stack = [file];
      while (stack.length > 0) {
        const m = stack.pop()!;
        if (seen.has(m)) continue;
        seen.add(m);
        stack.push(...(graph.get(m) ?? []));
      }
      const bad = [...seen].filter((m) => m.startsWith('native-bindings/') || m.startsWith('workers/') || m === 'test/support/cli.ts');
      const text = readFileSync(new URL(`../${file}`, import.meta.url), 'utf8');
      if (bad.length > 0 || (file !== 'test/primitive-free.test.ts' && /bin\/engine|ENGINE_NATIVE/.test(text))) offenders.push(`${file}: ${bad.slice(0, 3).join(', ') || 'starts an engine or reads ENGINE_NATIVE'}`);
    }
    expect(offenders).toEqual([]);
  });
});
