// The reasons `engine doctor` gives for a Node built-in that is not there.
import { describe, expect, it } from 'vitest';
import { needsNode, nodeShips } from './builtin.js';

const ZSTD = [[22, 15], [23, 8]] as const;

describe('Node built-ins: which versions ship them, and the reason when missing', () => {
  it('reads release lines: 22.15+, 23.8+, any later major', () => {
    const ships = (v: string) => nodeShips(ZSTD, v);
    expect(['v20.20.2', 'v22.14.0', 'v23.7.9'].map(ships)).toEqual([false, false, false]);
    expect(['v22.15.0', 'v22.23.3', 'v23.8.0', 'v24.0.0', 'v26.1.0'].map(ships)).toEqual([true, true, true, true, true]);
    expect(nodeShips([[24, 7]], 'v24.6.1')).toBe(false);
    expect(nodeShips([[24, 7]], 'v24.7.0')).toBe(true);
  });

  it('asks for a newer Node where that is the cause, and says the build lacks it otherwise', () => {
    expect(needsNode('node:zlib zstd', ZSTD, 'v20.20.2').message).toBe('node:zlib zstd needs Node >= 22.15 (or 23.8 on the 23 line), this is v20.20.2');
    expect(needsNode('node:crypto argon2', [[24, 7]], 'v22.23.3').message).toBe('node:crypto argon2 needs Node >= 24.7, this is v22.23.3');
    expect(needsNode('node:crypto argon2', [[24, 7]], 'v24.21.0').message).toBe(
      'node:crypto argon2 is missing from this Node (v24.21.0), although Node >= 24.7 normally has it: built without it?',
    );
  });
});
