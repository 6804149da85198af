// "How many lines does a VMM need?" (issue 6 item 5): the size of this VMM's vSMMU code, counted
// as non-blank lines that are not only comments, over the TypeScript files of src/vmm. The count
// is a constant here (the library also runs in a browser, without a file system); the test
// test/unit/vmm-code-size.test.ts recounts the files with `countCodeLines` and fails when the
// constant is stale, printing the right value.

/**
 * Counts the lines of TypeScript source that hold code: blank lines and lines that are only
 * comment (`//` or inside a block comment) are not counted. A small scanner tracks string and
 * template literals so comment markers inside them do not count as comments.
 */
export function countCodeLines(source: string): number {
  let n = 0;
  let mode: 'code' | 'block' | "'" | '"' | '`' = 'code';
  for (const line of source.split('\n')) {
    let code = false;
    for (let i = 0; i < line.length; i++) {
      const c = line[i] as string;
      const next = line[i + 1];
      if (mode === 'block') {
        if (c === '*' && next === '/') {
          mode = 'code';
          i++;
        }
        continue;
      }
      if (mode !== 'code') {
        code = true;
        if (c === '\\') i++;
        else if (c === mode) mode = 'code';
        continue;
      }
      if (c === '/' && next === '/') break;
      if (c === '/' && next === '*') {
        mode = 'block';
        i++;
        continue;
      }
      if (c === ' ' || c === '\t' || c === '\r') continue;
      code = true;
      if (c === "'" || c === '"' || c === '`') mode = c;
    }
    // Plain quotes never span lines; only block comments and template literals do.
    if (mode === "'" || mode === '"') mode = 'code';
    if (code) n++;
  }
  return n;
}

/** Code lines of src/vmm/*.ts (checked by test/unit/vmm-code-size.test.ts). */
export const VMM_CODE_LINES = 1692;
