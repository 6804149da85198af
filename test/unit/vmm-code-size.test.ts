// The VMM code-size figure (issue 6 item 5): the constant in src/vmm/code-size.ts must equal a
// recount of src/vmm/*.ts; the counter itself is checked on hand-counted samples.
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { countCodeLines, VMM_CODE_LINES } from '../../src/vmm/index.ts';

const DIR = resolve(import.meta.dirname, '../../src/vmm');

describe('VMM code size', () => {
  it('counts code lines, not blanks or comments', () => {
    const src = [
      '// header comment',
      '',
      'const a = 1; // trailing comment counts as code',
      '/* block',
      '   still comment */',
      '/** doc */ const b = 2;',
      "const s = '// not a comment';",
      'const t = `multi',
      '',
      'line`;',
      '  ',
      '}',
    ].join('\n');
    // Code lines: 3, 6, 7, 8, 10, 12 → 6 (the blank line inside the template is not counted).
    expect(countCodeLines(src)).toBe(6);
  });

  it('VMM_CODE_LINES matches the sources', () => {
    let n = 0;
    for (const f of readdirSync(DIR).filter((x) => x.endsWith('.ts'))) {
      n += countCodeLines(readFileSync(join(DIR, f), 'utf8'));
    }
    expect(VMM_CODE_LINES, `set VMM_CODE_LINES in src/vmm/code-size.ts to ${n}`).toBe(n);
  });
});
