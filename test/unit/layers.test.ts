// The layer rule (interfaces.md §1): a lower layer never imports a higher one; vmm, pv and guest
// never import each other; arch imports nothing outside itself; only faces use npm packages.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '../..');
const SRC = join(ROOT, 'src');

const RANK: Record<string, number> = {
  arch: 0,
  mem: 1,
  pgtable: 2,
  smmu: 3,
  devices: 4,
  iommufd: 5,
  vmm: 6,
  pv: 6,
  guest: 6,
  scenario: 7,
  cli: 8,
};
/** Layers allowed to use npm packages (the CLI/scenario layer only; node: builtins are fine). */
const MAY_USE_PACKAGES = new Set(['scenario', 'cli']);

function files(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...files(p));
    else if (p.endsWith('.ts') || p.endsWith('.tsx')) out.push(p);
  }
  return out;
}

function specifiers(source: string): string[] {
  const re = /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;
  const out: string[] = [];
  for (const m of source.matchAll(re)) out.push((m[1] ?? m[2]) as string);
  return out;
}

function layerOf(file: string): string | undefined {
  const rel = relative(SRC, file);
  if (rel.startsWith('..')) return undefined;
  const first = rel.split(sep)[0] as string;
  return first in RANK ? first : undefined;
}

/** Every violation of the layer rule under `src/`, as readable strings. */
function layerViolations(): string[] {
  const bad: string[] = [];
  for (const f of files(SRC)) {
    const from = layerOf(f);
    if (!from) continue;
    for (const spec of specifiers(readFileSync(f, 'utf8'))) {
      const where = `${relative(ROOT, f)} imports '${spec}'`;
      if (!spec.startsWith('.')) {
        if (!spec.startsWith('node:') && !MAY_USE_PACKAGES.has(from)) {
          bad.push(`${where}: package imports are for scenario/cli only`);
        }
        continue;
      }
      const target = resolve(f, '..', spec);
      const to = layerOf(target);
      if (!to) {
        bad.push(`${where}: leaves the layered tree`);
        continue;
      }
      if (to === from) continue;
      const rf = RANK[from] as number;
      const rt = RANK[to] as number;
      if (rt > rf) bad.push(`${where}: ${from} must not import the higher layer ${to}`);
      else if (rt === rf) bad.push(`${where}: ${from} and ${to} must not import each other`);
    }
  }
  return bad;
}

describe('layer rule', () => {
  it('no lower layer imports a higher one', () => {
    expect(layerViolations()).toEqual([]);
  });
  it('the scanner sees real imports (self-check)', () => {
    expect(specifiers("import { a } from '../smmu/x.ts';\nexport * from './y.ts';")).toEqual([
      '../smmu/x.ts',
      './y.ts',
    ]);
  });
});
