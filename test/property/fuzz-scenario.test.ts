// Bad-input fuzzing of the scenario loader (formats.md §1–§2; src/scenario/load.ts + check.ts):
// the example files are mutated at the document level (keys deleted, duplicated, renamed, values
// retyped, numbers replaced by bad hex / huge / negative ones, mappings turned into lists) and at
// the text level (lines deleted, duplicated, re-indented, characters inserted). Property:
// parseScenario (which runs checkScenario) either returns a scenario or throws a ScenarioError
// whose message and every diagnostic carry `file:line:col` inside the text; never another error.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDocument, stringify } from 'yaml';
import { parseScenario, ScenarioError } from '../../src/scenario/load.ts';

/** The value type of an arbitrary. */
type Of<A> = A extends fc.Arbitrary<infer T> ? T : never;

const DIR = join(import.meta.dirname, '../../examples');
const FILES = readdirSync(DIR)
  .filter((f) => f.endsWith('.yaml'))
  .sort();
const TEXTS = FILES.map((f) => readFileSync(join(DIR, f), 'utf8'));
const FILE = 'fuzz.yaml';

/** Odd replacement values: wrong types, bad hex, out-of-range numbers, odd strings. */
const ODD: unknown[] = [
  null,
  true,
  0,
  -1,
  1.5,
  2 ** 64,
  Number.MAX_SAFE_INTEGER + 2,
  '',
  '0x',
  '0xZZ',
  '0x_',
  '0x1_0000_0000_0000_0000',
  '-0x10',
  '$',
  '$nosuchlabel',
  'IOMMU_NO_SUCH_FLAG',
  'IOMMU_IOAS_MAP_FIXED_IOVA |',
  '| 1',
  'EINVAL',
  'ENOSUCH',
  [],
  [1, 'x'],
  {},
  { buffer: 'x' },
  { size: -1 },
  'vfio9',
  'iommufd',
];

type Json = unknown;

/** All paths to nodes of a JS value (maps and lists), in document order. */
function paths(v: Json, base: (string | number)[] = [], out: (string | number)[][] = []) {
  out.push(base);
  if (Array.isArray(v)) {
    v.forEach((x, i) => {
      paths(x, [...base, i], out);
    });
  } else if (v !== null && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) paths(x, [...base, k], out);
  }
  return out;
}

function parentOf(root: Json, p: (string | number)[]): Record<string | number, Json> | undefined {
  let n = root as Record<string | number, Json>;
  for (const k of p.slice(0, -1)) n = n?.[k] as Record<string | number, Json>;
  return n !== null && typeof n === 'object' ? n : undefined;
}

const docMut = fc.record({
  kind: fc.constantFrom('delete', 'retype', 'rename', 'wrap', 'copy'),
  at: fc.nat(10_000),
  odd: fc.nat(ODD.length - 1),
  other: fc.nat(10_000),
});

/** A mutation of the parsed document, then stringified back. */
function mutateDoc(text: string, muts: Of<typeof docMut>[]): string {
  const root = parseDocument(text).toJS() as Json;
  for (const m of muts) {
    const all = paths(root).filter((p) => p.length > 0);
    if (all.length === 0) break;
    const p = all[m.at % all.length] as (string | number)[];
    const parent = parentOf(root, p);
    if (!parent) continue;
    const key = p[p.length - 1] as string | number;
    if (m.kind === 'delete') {
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
    } else if (m.kind === 'retype') parent[key] = structuredClone(ODD[m.odd]);
    else if (m.kind === 'rename' && !Array.isArray(parent)) {
      parent[`${String(key)}x`] = parent[key];
      delete parent[key];
    } else if (m.kind === 'wrap') parent[key] = [parent[key]];
    else {
      const q = all[m.other % all.length] as (string | number)[];
      const src = parentOf(root, q)?.[q[q.length - 1] as string | number];
      parent[key] = structuredClone(src);
    }
  }
  return stringify(root);
}

const textMut = fc.record({
  kind: fc.constantFrom('delete', 'dup', 'indent', 'dedent', 'insert', 'badhex'),
  at: fc.nat(10_000),
  ch: fc.constantFrom(':', '-', '{', '}', '[', ']', '"', "'", '#', '&a', '*a', '!!int', '\t', '|'),
});

/** A mutation of the text lines (duplicate keys, broken indentation, stray YAML syntax). */
function mutateText(text: string, muts: Of<typeof textMut>[]): string {
  const lines = text.split('\n');
  for (const m of muts) {
    const i = m.at % lines.length;
    const l = lines[i] as string;
    if (m.kind === 'delete') lines.splice(i, 1);
    else if (m.kind === 'dup') lines.splice(i, 0, l);
    else if (m.kind === 'indent') lines[i] = `  ${l}`;
    else if (m.kind === 'dedent') lines[i] = l.replace(/^ {1,2}/, '');
    else if (m.kind === 'insert') {
      const c = m.at % (l.length + 1);
      lines[i] = l.slice(0, c) + m.ch + l.slice(c);
    } else lines[i] = l.replace(/0x[0-9a-fA-F_]+/, '0xG1');
  }
  return lines.join('\n');
}

function check(text: string): 'ok' | 'diag' {
  const nLines = text.split('\n').length;
  try {
    parseScenario(text, FILE);
    return 'ok';
  } catch (e) {
    if (!(e instanceof ScenarioError)) {
      throw new Error(`not a ScenarioError: ${String(e)}\n--- input ---\n${text}`, { cause: e });
    }
    expect(e.message).toMatch(/^fuzz\.yaml:\d+:\d+: \S/);
    expect(e.diagnostics.length).toBeGreaterThan(0);
    for (const d of e.diagnostics) {
      expect(d.file).toBe(FILE);
      expect(d.line).toBeGreaterThanOrEqual(1);
      expect(d.line).toBeLessThanOrEqual(nLines + 1);
      expect(d.col).toBeGreaterThanOrEqual(1);
      expect(d.message.length).toBeGreaterThan(0);
    }
    return 'diag';
  }
}

describe('fuzz: scenario files', () => {
  it('the unmutated examples load', () => {
    expect(FILES.length).toBeGreaterThan(5);
    for (const t of TEXTS) expect(check(t)).toBe('ok');
  });

  it('document-level mutations: a scenario or a file:line:col ScenarioError', () => {
    const seen = { ok: 0, diag: 0 };
    fc.assert(
      fc.property(
        fc.nat(TEXTS.length - 1),
        fc.array(docMut, { minLength: 1, maxLength: 3 }),
        (f, muts) => {
          seen[check(mutateDoc(TEXTS[f] as string, muts))]++;
        },
      ),
      { numRuns: 300, seed: 0x18f6, endOnFailure: true },
    );
    expect(seen.diag).toBeGreaterThan(0);
  });

  it('text-level mutations: a scenario or a file:line:col ScenarioError', () => {
    const seen = { ok: 0, diag: 0 };
    fc.assert(
      fc.property(
        fc.nat(TEXTS.length - 1),
        fc.array(textMut, { minLength: 1, maxLength: 3 }),
        (f, muts) => {
          seen[check(mutateText(TEXTS[f] as string, muts))]++;
        },
      ),
      { numRuns: 300, seed: 0x18f7, endOnFailure: true },
    );
    expect(seen.diag).toBeGreaterThan(0);
    expect(seen.ok).toBeGreaterThan(0);
  });

  it('regression (seed 6392 of the arbitrary-text run): an alias without an anchor', () => {
    // yaml reports unresolved aliases only while building the value (a ReferenceError).
    expect(check('*!')).toBe('diag');
    let caught: unknown;
    try {
      parseScenario('name: x\nsteps:\n  - *nope\n', FILE);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ScenarioError);
    // the diagnostic points at the alias itself (line 3, column 5)
    expect((caught as ScenarioError).diagnostics[0]).toMatchObject({ line: 3, col: 5 });
  });

  it('an alias bomb (expansion over the alias limit) is a diagnostic, not a crash', () => {
    const lines = ['a0: &a0 [x, x, x, x, x, x, x, x, x, x]'];
    for (let i = 1; i < 8; i++) {
      lines.push(`a${i}: &a${i} [${Array.from({ length: 10 }, () => `*a${i - 1}`).join(', ')}]`);
    }
    lines.push('steps: *a7');
    expect(check(lines.join('\n'))).toBe('diag');
  });

  it('arbitrary text never escapes as another exception', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        check(s);
      }),
      { numRuns: 200, seed: 0x18f8 },
    );
  });
});
