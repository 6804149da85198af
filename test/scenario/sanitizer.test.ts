// The stale-translation sanitizer in the scenario language (issue 6 item 6; docs/scenarios.md):
// machine.sanitizer, the `sanitizer` part of the vsmmu.run JSON (field order, "0x…" strings), the
// report lines in the text output, expect-sanitizer, the unexpected-report rule and the exit codes,
// load errors with file:line:col, and that switching the sanitizer on changes no result.
//
// Expected PTE addresses are derived here, not pasted: the guest RAM allocator's rule (bottom-up
// from the RAM base, power-of-two blocks of at least 64 bytes aligned to their size), the sizes
// the Linux-like driver allocates (queues of 2^8 entries, a 2-level stream table with
// STRTAB_SPLIT = 8 under vIDR1.SIDSIZE = 16, one 64-byte CD, 4 KiB io-pgtable tables) and the
// VMSAv8-64 4 KiB-granule index of the level-3 entry (VA[20:12]). The PTE value follows
// io-pgtable-arm's stage-1 rules for IOMMU_READ|IOMMU_WRITE without IOMMU_CACHE.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { parseScenario } from '../../src/scenario/load.ts';
import { formatResult } from '../../src/scenario/result.ts';
import { runScenario } from '../../src/scenario/run.ts';
import { runCliCaptured as cli } from '../cli-capture.ts';

const EXAMPLES = resolve(import.meta.dirname, '../../examples');
const TMP = mkdtempSync(join(tmpdir(), 'vsmmu-san-'));
let fileNo = 0;

/** Writes scenario text to a temporary file and returns its path. */
function tmpFile(text: string): string {
  const f = join(TMP, `s${fileNo++}.yaml`);
  writeFileSync(f, text);
  return f;
}

afterEach(() => {
  vi.restoreAllMocks();
});

const run = (text: string) => runScenario(parseScenario(text, 'test.yaml'));

/** A reference model of the guest RAM allocator (src/scenario/guest-world.ts). */
function allocator(base: number) {
  let next = base;
  return (bytes: number): number => {
    let size = 64;
    while (size < bytes) size *= 2;
    const at = Math.ceil(next / size) * size;
    next = at + size;
    return at;
  };
}

/** GPA of the level-3 PTE of `iova` after one device (vSID < 256) attach and one map with pa:. */
function derivedPteGpa(iova: number): number {
  const alloc = allocator(0x4000_0000);
  alloc(2 ** 8 * 16); // command queue
  alloc(2 ** 8 * 32); // event queue
  alloc(2 ** (16 - 8) * 8); // level-1 stream table descriptors
  alloc(2 ** 8 * 64); // level-2 stream table (vSIDs 0..255)
  alloc(4096); // the domain's level-0 table
  alloc(64); // the device's CD table (one CD)
  alloc(4096); // level-1 table
  alloc(4096); // level-2 table
  const l3 = alloc(4096);
  return l3 + 8 * (Math.floor(iova / 4096) % 512);
}

/** io-pgtable-arm stage-1 page descriptor for IOMMU_READ|IOMMU_WRITE (no CACHE, not PRIV). */
function derivedPte(pa: bigint): bigint {
  const nG = 1n << 11n;
  const af = 1n << 10n;
  const shOuter = 2n << 8n;
  const apUnpriv = 1n << 6n;
  const page = 3n;
  return pa | nG | af | shOuter | apUnpriv | page;
}

const hex = (v: number | bigint) => `0x${v.toString(16)}`;

const REPORT_KEYS = [
  'kind',
  'sid',
  'device',
  'vsid',
  'iova',
  'access',
  'pte',
  'changedAt',
  'dmaAt',
  'missing',
  'detail',
  'count',
  'text',
];

describe('vsmmu run with machine.sanitizer', () => {
  it('the JSON result: sanitizer between counters and log, fixed report fields, hex strings', async () => {
    const file = join(EXAMPLES, 'sanitizer-forgot-tlbi.yaml');
    const { code, out, err } = await cli(['run', file, '--json']);
    expect(err).toBe('');
    expect(code).toBe(0);
    const j = JSON.parse(out) as Record<string, unknown>;
    expect(Object.keys(j)).toEqual([
      'format',
      'version',
      'scenario',
      'ok',
      'steps',
      'counters',
      'sanitizer',
      'log',
    ]);
    expect(j.version).toBe(1);
    const c = j.counters as Record<string, unknown>;
    expect(c.sanitizerReports).toBe(1);
    const san = j.sanitizer as { reports: Record<string, unknown>[]; unexpected: number };
    expect(Object.keys(san)).toEqual(['reports', 'unexpected']);
    expect(san.unexpected).toBe(0);
    expect(san.reports).toHaveLength(1);
    const r = san.reports[0] as Record<string, unknown>;
    expect(Object.keys(r)).toEqual(REPORT_KEYS);
    const pte = r.pte as Record<string, unknown>;
    expect(Object.keys(pte)).toEqual(['pa', 'gpa', 'old', 'new', 'level', 'stage', 'leaf']);
    // The steps of the file: unmap is the 5th step (index 4), the stale DMA the 9th (index 8).
    const steps = j.steps as { index: number; kind: string }[];
    const unmap = steps.find((s) => s.kind === 'unmap')?.index;
    const staleDma = steps.filter((s) => s.kind === 'dma')[1]?.index;
    const iova = 0x10_0000;
    expect(r).toMatchObject({
      kind: 'stale-tlb',
      sid: '0x8',
      device: 'nic0',
      vsid: '0x8',
      iova: hex(iova),
      access: 'read',
      changedAt: unmap,
      dmaAt: staleDma,
      missing: 'TLBI',
      count: 1,
    });
    const gpa = derivedPteGpa(iova);
    expect(pte).toEqual({
      pa: pte.pa,
      gpa: hex(gpa),
      old: hex(derivedPte(0x4080_0000n)),
      new: '0x0',
      level: 3,
      stage: 1,
      leaf: true,
    });
    // The host address is a host page behind the guest page: same offset within the page.
    expect(pte.pa).toMatch(/^0x[0-9a-f]+$/);
    expect(BigInt(pte.pa as string) % 4096n).toBe(BigInt(gpa % 4096));
    expect(r.text).toMatch(
      new RegExp(
        `^stale-tlb: sid=0x8\\(nic0 vSID 0x8\\) read iova=0x100000 at ${staleDma} may use stage-1 level-3 leaf descriptor @${pte.pa} ${pte.old} -> 0x0 changed at ${unmap}; missing TLBI: `,
      ),
    );
  });

  it('the text output puts each report line under the step whose DMA caused it', async () => {
    const { code, out } = await cli(['run', join(EXAMPLES, 'sanitizer-wrong-asid.yaml')]);
    expect(code).toBe(0);
    const lines = out.split('\n');
    const at = lines.findIndex((l) => l.includes('sanitizer: stale-tlb:'));
    expect(at).toBeGreaterThan(0);
    // The line before is the stale DMA: step #5 (attach, map, dma, unmap, expect-counters, dma).
    expect(lines[at - 1]).toMatch(/^ {2}ok {3}#5 line \d+ dma$/);
    expect(lines[at]).toContain('sid=0x8(nic0 vSID 0x20) read iova=0x102000 at 5');
    expect(lines[at]).toContain('missing ASID');
    expect(out).toMatch(/^counters: .* sanitizerReports=1$/m);
    expect(out).toMatch(/^sanitizer: 1 report\(s\), 0 unexpected$/m);
    expect(out).toMatch(/^PASS sanitizer-wrong-asid: 9 steps$/m);
  });

  it('wrong-asid: the PTE address and missing: ASID', () => {
    const text = readFileSync(join(EXAMPLES, 'sanitizer-wrong-asid.yaml'), 'utf8');
    const r = run(text);
    expect(r.ok, formatResult(r)).toBe(true);
    const rep = r.sanitizer?.reports[0] as Record<string, unknown>;
    expect(rep).toMatchObject({ missing: 'ASID', iova: '0x102000', vsid: '0x20' });
    expect((rep.pte as Record<string, unknown>).gpa).toBe(hex(derivedPteGpa(0x10_2000)));
    expect((rep.pte as Record<string, unknown>).old).toBe(hex(derivedPte(0x4080_2000n)));
  });

  it('the correct driver example ends with zero reports', () => {
    const text = readFileSync(join(EXAMPLES, 'sanitizer-correct-driver.yaml'), 'utf8');
    const r = run(text);
    expect(r.ok, formatResult(r)).toBe(true);
    expect(r.sanitizer).toEqual({ reports: [], unexpected: 0 });
    expect(r.counters.sanitizerReports).toBe(0);
  });

  it('without machine.sanitizer the result has no sanitizer part and no counter', () => {
    const r = run(`machine: { guest: { driver-bug: forget-tlbi } }
steps:
  - attach: vfio0
    domain: d
  - map: d
    iova: "0x1000"
    size: 0x1000
  - dma: vfio0
    iova: "0x1000"
    read: 1
  - unmap: d
    iova: "0x1000"
    size: 0x1000
  - dma: vfio0
    iova: "0x1000"
    read: 1
`);
    expect(r.ok).toBe(true);
    expect('sanitizer' in r).toBe(false);
    expect('sanitizerReports' in r.counters).toBe(false);
    expect(formatResult(r)).not.toContain('sanitizer');
  });
});

/** The forget-tlbi story with `tail` appended after the stale DMA. */
const story = (tail = '', bug = 'forget-tlbi') => `machine:
  sanitizer: true
  guest: { driver-bug: ${bug} }
steps:
  - attach: vfio0
    domain: d
  - map: d
    iova: "0x1000"
    size: 0x2000
  - dma: vfio0
    iova: "0x1000"
    read: 1
  - unmap: d
    iova: "0x1000"
    size: 0x1000
  - dma: vfio0
    iova: "0x1000"
    read: 1
${tail}`;

describe('the unexpected-report rule and exit codes', () => {
  it('a report no expect-sanitizer step accounts for fails the run: exit 1, every step ok', async () => {
    const { code, out } = await cli(['run', tmpFile(story()), '--json']);
    expect(code).toBe(1);
    const j = JSON.parse(out) as {
      ok: boolean;
      steps: { ok: boolean }[];
      sanitizer: { reports: unknown[]; unexpected: number };
      log: string[];
    };
    expect(j.ok).toBe(false);
    expect(j.steps).toHaveLength(5);
    expect(j.steps.every((s) => s.ok)).toBe(true);
    expect(j.sanitizer.reports).toHaveLength(1);
    expect(j.sanitizer.unexpected).toBe(1);
    expect(
      j.log.some((l) => /^sanitizer: 1 unexpected report\(s\), the first at step 4/.test(l)),
    ).toBe(true);
    const text = await cli(['run', tmpFile(story())]);
    expect(text.code).toBe(1);
    expect(text.out).toMatch(/^FAIL s\d+: 1 unexpected sanitizer report\(s\)/m);
  });

  it('an expect-sanitizer step after the DMA accounts for it: exit 0', async () => {
    for (const tail of [
      '  - expect-sanitizer: { count: 1 }\n',
      '  - expect-sanitizer: { count: { min: 1 } }\n',
      '  - expect-sanitizer: { reports: [{ missing: TLBI, iova: "0x1000" }] }\n',
      '  - expect-sanitizer: { reports: [{ device: vfio0, sid: 8, access: read, dmaAt: 4, changedAt: 3, count: 1 }] }\n',
      '  - expect-sanitizer: { reports: [{ kind: stale-tlb, pte: { new: 0, level: 3, stage: 1, leaf: true } }] }\n',
    ]) {
      const { code, err } = await cli(['run', tmpFile(story(tail))]);
      expect(err, tail).toBe('');
      expect(code, tail).toBe(0);
    }
  });

  it('a report after the last expect-sanitizer step is unexpected; a repeat is not a new report', () => {
    const again = `  - dma: vfio0
    iova: "0x1000"
    read: 1
`;
    // The same stale DMA again: the report's count grows, no new report.
    const folded = run(story(`  - expect-sanitizer: { count: 1 }\n${again}`));
    expect(folded.ok, formatResult(folded)).toBe(true);
    expect(folded.sanitizer?.reports).toHaveLength(1);
    expect(folded.sanitizer?.reports[0]).toMatchObject({ count: 2, dmaAt: 4 });
    // A write to the same page is another access: a new report, after the last check.
    const write = run(
      story(`  - expect-sanitizer: { count: 1 }
  - dma: vfio0
    iova: "0x1000"
    write: [1]
`),
    );
    expect(write.ok).toBe(false);
    expect(write.steps.every((s) => s.ok)).toBe(true);
    expect(write.sanitizer?.unexpected).toBe(1);
    expect(write.sanitizer?.reports[1]).toMatchObject({ access: 'write', dmaAt: 6 });
    // An expect-sanitizer step only sees the reports since the previous one.
    const windows = run(
      story(`  - expect-sanitizer: { count: 1 }
  - expect-sanitizer: { count: 0 }
  - dma: vfio0
    iova: "0x1000"
    write: [1]
  - expect-sanitizer: { reports: [{ access: write }] }
`),
    );
    expect(windows.ok, formatResult(windows)).toBe(true);
  });

  it('a failing expect-sanitizer step stops the run with expected/actual: exit 1', async () => {
    const { code, out } = await cli([
      'run',
      tmpFile(story('  - expect-sanitizer: { reports: [{ missing: ASID }] }\n')),
      '--json',
    ]);
    expect(code).toBe(1);
    const j = JSON.parse(out) as {
      steps: { ok: boolean; kind: string; expected?: unknown; actual?: Record<string, unknown> }[];
      log: string[];
    };
    const last = j.steps.at(-1);
    expect(last?.kind).toBe('expect-sanitizer');
    expect(last?.ok).toBe(false);
    expect(last?.expected).toEqual({ missing: 'ASID' });
    expect(last?.actual).toMatchObject({ missing: 'TLBI', iova: '0x1000' });
    expect(j.log.some((l) => l.includes('sanitizer report 0 differs in missing'))).toBe(true);
    const zero = run(story('  - expect-sanitizer: { count: 0 }\n'));
    expect(zero.ok).toBe(false);
    expect(zero.steps.at(-1)).toMatchObject({ ok: false, expected: { count: 0 } });
  });

  it('the correct driver: the same story has no report', () => {
    const text = story('  - expect-sanitizer: { count: 0 }\n', 'none');
    // The correct driver's TLBI completed: the last DMA walks and faults instead.
    const faulting = text.replace(
      '    read: 1\n  - expect-sanitizer',
      '    read: 1\n    expect: fault\n  - expect-sanitizer',
    );
    expect(faulting).not.toBe(text);
    const r = run(faulting);
    expect(r.ok, formatResult(r)).toBe(true);
    expect(r.sanitizer?.reports).toEqual([]);
  });
});

describe('load errors (exit 2, file:line:col)', () => {
  /** Runs the CLI on `text`; the single stderr line must point at `line:col`. */
  async function bad(text: string, line: number, col: number, message: RegExp): Promise<void> {
    const f = tmpFile(text);
    const { code, out, err } = await cli(['run', f]);
    expect(code, err).toBe(2);
    expect(out).toBe('');
    expect(err.trimEnd().split('\n')).toHaveLength(1);
    expect(err).toMatch(new RegExp(`^vsmmu: ${f.replace(/[.\\]/g, '\\$&')}:${line}:${col}: `));
    expect(err).toMatch(message);
  }

  /** Line (1-based) and column of `needle` in `text`. */
  function pos(text: string, needle: string): [number, number] {
    const i = text.indexOf(needle);
    expect(i).toBeGreaterThanOrEqual(0);
    const before = text.slice(0, i).split('\n');
    return [before.length, (before.at(-1)?.length ?? 0) + 1];
  }

  it('an unknown missing value', async () => {
    const t = story('  - expect-sanitizer: { reports: [{ missing: TLBX }] }\n');
    const [l, c] = pos(t, 'TLBX');
    await bad(t, l, c, /missing/);
  });

  it('an unknown report field', async () => {
    const t = story(
      '  - expect-sanitizer:\n      reports:\n        - { iova: "0x1000", addr: 1 }\n',
    );
    const [l, c] = pos(t, 'addr');
    await bad(t, l, c, /unknown key 'addr'/);
  });

  it('an unknown pte field and a bad level', async () => {
    const t = story('  - expect-sanitizer: { reports: [{ pte: { lvl: 3 } }] }\n');
    const [l, c] = pos(t, 'lvl');
    await bad(t, l, c, /unknown key 'lvl'/);
    const t2 = story('  - expect-sanitizer: { reports: [{ pte: { level: 4 } }] }\n');
    const [l2, c2] = pos(t2, '4 }');
    await bad(t2, l2, c2, /pte\.level/);
  });

  it('an unknown device', async () => {
    const t = story('  - expect-sanitizer: { reports: [{ device: nic9 }] }\n');
    const [l, c] = pos(t, 'nic9');
    await bad(t, l, c, /no device 'nic9'/);
  });

  it('count and reports together, or neither', async () => {
    const t = story('  - expect-sanitizer: { count: 1, reports: [] }\n');
    const [l, c] = pos(t, 'count');
    await bad(t, l, c, /count or reports, not both/);
    const t2 = story('  - expect-sanitizer: {}\n');
    const [l2, c2] = pos(t2, 'expect-sanitizer');
    await bad(t2, l2, c2, /give count or reports/);
  });

  it('expect-sanitizer and sanitizerReports need machine.sanitizer: true', async () => {
    const t = story('  - expect-sanitizer: { count: 1 }\n').replace('  sanitizer: true\n', '');
    const [l, c] = pos(t, 'expect-sanitizer');
    await bad(t, l, c, /needs machine\.sanitizer: true/);
    const t2 = story('  - expect-counters: { sanitizerReports: 1 }\n').replace(
      '  sanitizer: true\n',
      '',
    );
    const [l2, c2] = pos(t2, 'sanitizerReports');
    await bad(t2, l2, c2, /sanitizerReports needs machine\.sanitizer/);
  });

  it('machine.sanitizer must be a boolean', async () => {
    const t = story().replace('sanitizer: true', 'sanitizer: yes');
    const [l, c] = pos(t, 'yes');
    await bad(t, l, c, /machine\.sanitizer/);
  });
});

describe('the sanitizer changes no result', () => {
  for (const f of ['guest-lifecycle.yaml', 'guest-pasid.yaml', 'raw-nested-setup.yaml']) {
    it(`${f}: steps, counters and log are the same with machine.sanitizer: true`, () => {
      const text = readFileSync(join(EXAMPLES, f), 'utf8');
      expect(text).toMatch(/^machine:$/m);
      const off = run(text);
      const on = run(text.replace(/^machine:$/m, 'machine:\n  sanitizer: true'));
      expect(on.ok, formatResult(on)).toBe(true);
      // One line more above every step.
      expect(on.steps.map((x) => ({ ...x, line: x.line - 1 }))).toEqual(off.steps);
      expect(on.log).toEqual(off.log);
      const { sanitizerReports, ...rest } = on.counters;
      expect(sanitizerReports).toBe(0);
      expect(rest).toEqual(off.counters);
      expect(on.sanitizer).toEqual({ reports: [], unexpected: 0 });
    });
  }
});
