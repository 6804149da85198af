// Number syntax of scenario files (formats.md §1, typescript.md §5): 64-bit values are quoted hex
// strings (`_` separators, any case) turned into exact bigints; plain YAML integers must be safe
// integers (YAML 1.2 rounds larger ones silently). Properties over the whole u64 range, with the
// expected text produced here by an independent formatter.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseScenario, ScenarioError } from '../../src/scenario/load.ts';
import { argExpr, byteData, u64 } from '../../src/scenario/values.ts';

const U64_MAX = (1n << 64n) - 1n;

/** Hex digits of v with `_` inserted at the given digit positions and the given case. */
function spell(v: bigint, cuts: readonly number[], upper: boolean): string {
  let digits = v.toString(16);
  if (upper) digits = digits.toUpperCase();
  const out: string[] = [];
  for (let i = 0; i < digits.length; i++) {
    if (i > 0 && cuts.includes(i)) out.push('_');
    out.push(digits[i] as string);
  }
  return `0x${out.join('')}`;
}

const spelled = fc
  .record({
    v: fc.bigInt({ min: 0n, max: U64_MAX }),
    cuts: fc.array(fc.integer({ min: 1, max: 15 }), { maxLength: 4 }),
    upper: fc.boolean(),
  })
  .map(({ v, cuts, upper }) => ({ v, text: spell(v, cuts, upper) }));

describe('u64 values', () => {
  it('every u64 written as a hex string (with _ and any case) parses to itself', () => {
    fc.assert(
      fc.property(spelled, ({ v, text }) => {
        const r = u64.safeParse(text);
        expect(r.success).toBe(true);
        expect(r.data).toBe(v);
      }),
      { numRuns: 2000 },
    );
  });

  it('a hex string wider than 64 bits is rejected with the reason', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: U64_MAX + 1n, max: (1n << 80n) - 1n }), (v) => {
        const r = u64.safeParse(`0x${v.toString(16)}`);
        expect(r.success).toBe(false);
        expect(JSON.stringify(r.error?.issues)).toMatch(/exceeds 64 bits/);
      }),
    );
  });

  it('plain integers are accepted up to 2^53 - 1 and refused beyond', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (n) => {
        expect(u64.parse(n)).toBe(BigInt(n));
      }),
    );
    for (const n of [2 ** 53, 2 ** 60, 18446744073709548000]) {
      const r = u64.safeParse(n);
      expect(r.success).toBe(false);
      expect(JSON.stringify(r.error?.issues)).toMatch(/beyond 2\^53/);
    }
    expect(u64.safeParse(-1).success).toBe(false);
    expect(u64.safeParse(1.5).success).toBe(false);
  });

  it('through YAML: a quoted hex IOVA reaches the step exactly; an unquoted one is refused', () => {
    fc.assert(
      fc.property(spelled, ({ v, text }) => {
        const sc = parseScenario(
          `steps:\n  - dma: vfio0\n    iova: "${text}"\n    read: 1\n`,
          'p.yaml',
        );
        const st = sc.steps[0];
        expect(st?.kind).toBe('dma');
        if (st?.kind === 'dma') expect(st.s.iova).toBe(v);
      }),
      { numRuns: 300 },
    );
    expect(() =>
      parseScenario(
        `steps:\n  - dma: vfio0\n    iova: 0xfffffffffffff000\n    read: 1\n`,
        'p.yaml',
      ),
    ).toThrow(ScenarioError);
  });
});

describe('raw-ioctl argument expressions', () => {
  it('terms joined by | keep their order and values', () => {
    const term = fc.oneof(
      fc
        .bigInt({ min: 0n, max: U64_MAX })
        .map((v) => ({ text: `0x${v.toString(16)}`, want: { kind: 'num', value: v } })),
      fc.constantFrom('IOMMU_IOAS_MAP_READABLE', 'IOMMU_HWPT_ALLOC_NEST_PARENT').map((c) => ({
        text: c,
        want: { kind: 'const', name: c },
      })),
      fc.constantFrom('dev0', 'hwpt_nested', 'a.b-c').map((l) => ({
        text: `$${l}`,
        want: { kind: 'label', name: l },
      })),
    );
    fc.assert(
      fc.property(fc.array(term, { minLength: 1, maxLength: 4 }), (ts) => {
        const r = argExpr.safeParse(ts.map((t) => t.text).join(' | '));
        expect(r.success).toBe(true);
        expect(r.data).toEqual(ts.map((t) => t.want));
      }),
    );
    expect(argExpr.parse(7)).toEqual([{ kind: 'num', value: 7n }]);
    expect(argExpr.safeParse('not valid').success).toBe(false);
    expect(argExpr.safeParse('IOMMU_X | ').success).toBe(false);
  });
});

describe('byte strings', () => {
  it('a hex byte string is the bytes in order; a list is the same bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 64 }), (b) => {
        const hex = `0x${[...b].map((x) => x.toString(16).padStart(2, '0')).join('')}`;
        expect([...byteData.parse(hex)]).toEqual([...b]);
        expect([...byteData.parse([...b])]).toEqual([...b]);
      }),
    );
    expect(byteData.safeParse('0x123').success).toBe(false);
    expect(byteData.safeParse([256]).success).toBe(false);
  });
});
