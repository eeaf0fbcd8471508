// What engine says about the Node it runs on: Node < 22 is told that the S3 client's releases after
// January 2027 need Node 22, and a major past its end of life is named so; supported ones hear nothing.
import { describe, expect, it } from 'vitest';
import { nodeSupportNotice, S3_CLIENT_NODE_MAJOR } from './node-support.js';

const day = (iso: string): Date => new Date(`${iso}T12:00:00Z`);

describe('nodeSupportNotice', () => {
  it('Node 20 after its end of life: both reasons, and what to do', () => {
    const n = nodeSupportNotice('20.20.2', day('2026-12-06'));
    expect(n).toContain('Node 20.20.2 is past its end of life (2026-04-30)');
    expect(n).toContain(`need Node ${S3_CLIENT_NODE_MAJOR} or newer`);
    expect(n).toContain('install Node 22 or 24');
    expect(n).not.toContain('\n');
  });

  it('Node 20 before its end of life: the S3 client reason only', () => {
    const n = nodeSupportNotice('v20.11.0', day('2026-01-10'));
    expect(n).not.toContain('end of life');
    expect(n).toContain('January 2027');
  });

  it('Node 22 and 24 while supported, and 26: nothing to say', () => {
    for (const v of ['22.15.0', '24.7.0', '26.0.0', '27.1.0']) expect(nodeSupportNotice(v, day('2026-12-06')), v).toBeUndefined();
  });

  it('an odd major past its end of life, and Node 22 once it ends (2027-04-30)', () => {
    expect(nodeSupportNotice('25.2.1', day('2026-12-06'))).toContain('Node 25.2.1 is past its end of life (2026-06-01)');
    expect(nodeSupportNotice('22.15.0', day('2027-04-30'))).toBeUndefined();
    const n = nodeSupportNotice('22.15.0', day('2027-05-01'));
    expect(n).toContain('past its end of life (2027-04-30)');
    expect(n).not.toContain('S3 client');
  });

  it('the running Node by default; an unparsable version says nothing', () => {
    expect(nodeSupportNotice()).toBe(nodeSupportNotice(process.versions.node));
    expect(nodeSupportNotice('next')).toBeUndefined();
  });
});
