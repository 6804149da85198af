// The demonstration behind `npm start` runs, shows walks ending in the expected physical
// addresses and faults as values.
import { describe, expect, it } from 'vitest';
import { runDemo } from '../../src/cli/demo.ts';

describe('vsmmu demo', () => {
  it('prints the walk of the mapped page and the faults', () => {
    const lines: string[] = [];
    runDemo((s) => lines.push(s));
    const text = lines.join('\n');
    // 0x7f1234567010 maps to 0x880000000 + 0x10 (4 KiB page mapped by the demo).
    expect(text).toContain('PA 0x880000010');
    // L0 index of 0x7f1234567010 is bits [47:39].
    expect(text).toContain(`[${Math.floor(0x7f12_3456_7010 / 2 ** 39)}]`);
    // The 2 MiB block: 0x40001234 → 0x100000000 + 0x1234.
    expect(text).toContain('PA 0x100001234');
    expect(text).toMatch(/fault: permission at stage 1 level 2/);
    expect(text).toMatch(/fault: translation at stage 1 level 1/);
    expect(lines.at(-1)).toMatch(/^.*summary: /);
  });
});
