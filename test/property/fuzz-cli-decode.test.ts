// Bad-input fuzzing of the hex input of `vsmmu decode` (src/cli/decode.ts over
// src/arch/decode-input.ts, formats.md §1 number rules): random structure names, word lists with
// odd hex (bad digits, too many digits, separators, empty pieces) and options, run in-process
// through runCli. Property: the CLI never rejects; it exits 0, or 2 with exactly one `vsmmu: …`
// line on stderr and no stack trace. A random kernel log through parseDmesg never throws either.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDmesg } from '../../src/arch/decode-input.ts';
import { runCliCaptured } from '../cli-capture.ts';

const STRUCTS = [
  'ste',
  'cd',
  'l1std',
  'l1cd',
  'cmd',
  'evt',
  'priq',
  'pte-s1',
  'pte-s2',
  'cr0',
  'idr0',
  'gerror',
  'strtab_base_cfg',
  'cmdq_cons',
  'STE',
  'nosuch',
  '',
];

const hexWord = fc.oneof(
  {
    weight: 12,
    arbitrary: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v) => `0x${v.toString(16)}`),
  },
  {
    weight: 4,
    arbitrary: fc
      .bigInt({ min: 0n, max: (1n << 64n) - 1n })
      .map((v) => v.toString(16).padStart(16, '0')),
  },
  fc.constantFrom(
    '0x',
    '0X1',
    '_',
    '0x_1_',
    ',',
    ',,',
    '0x1,0x2',
    'g',
    '-1',
    '0x-1',
    '1'.repeat(17),
    '1'.repeat(32),
    '1'.repeat(33),
    'f'.repeat(64),
    ' 0x1 ',
    '0x1,',
    '--json',
    '--level',
    '-5',
  ),
  fc.string({ maxLength: 10 }),
);

const wordsArb = fc.oneof(
  fc.array(hexWord, { maxLength: 9 }),
  fc.array(
    fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v) => `0x${v.toString(16)}`),
    { minLength: 1, maxLength: 8 },
  ),
);

const optionArgs = fc.oneof(
  fc.constant([] as string[]),
  fc.constant(['--json']),
  fc
    .tuple(fc.constantFrom('4k', '16k', '64k', '8k', ''), fc.constantFrom('-1', '0', '3', '4', 'x'))
    .map(([g, l]) => ['--granule', g, '--level', l]),
  fc.constant(['--ds']),
);

describe('fuzz: `vsmmu decode` hex input', () => {
  it('exits 0, or 2 with one clear stderr line; never rejects', async () => {
    const codes = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...STRUCTS),
        wordsArb,
        optionArgs,
        async (structure, words, opts) => {
          const argv = ['decode', ...(structure === '' ? [] : [structure]), ...words, ...opts];
          const { code, out, err } = await runCliCaptured(argv);
          codes.set(code, (codes.get(code) ?? 0) + 1);
          expect([0, 2], JSON.stringify(argv)).toContain(code);
          expect(err, JSON.stringify(argv)).not.toMatch(/\n\s+at /);
          if (code === 0) expect(out.length).toBeGreaterThan(0);
          if (code === 2 && err.startsWith('vsmmu: ')) {
            // our own usage errors: one line
            expect(err.trimEnd().split('\n').length, JSON.stringify(argv)).toBe(1);
          }
          if (code === 2) expect(err.length, JSON.stringify(argv)).toBeGreaterThan(0);
        },
      ),
      { numRuns: 300, seed: 0x18f9, endOnFailure: true },
    );
    // both outcomes are reached
    expect(codes.get(0) ?? 0).toBeGreaterThan(0);
    expect(codes.get(2) ?? 0).toBeGreaterThan(0);
  });

  it('parseDmesg over random and mutated logs never throws', () => {
    const dump =
      'arm-smmu-v3 arm-smmu-v3.0.auto: event 0x10 received:\n' +
      'arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000000800000010\n' +
      'arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000000000000000\n' +
      'arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000000000001000\n' +
      'arm-smmu-v3 arm-smmu-v3.0.auto: \t0x0000000000000000\n';
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(400), fc.string({ maxLength: 6 })), { maxLength: 6 }),
        fc.string({ maxLength: 60 }),
        (edits, tail) => {
          let t = dump;
          for (const [at, s] of edits) {
            const i = at % (t.length + 1);
            t = t.slice(0, i) + s + t.slice(i + (at % 3));
          }
          const scan = parseDmesg(t + tail);
          expect(Array.isArray(scan.events)).toBe(true);
          for (const e of scan.events) expect(e.words.length).toBe(4);
        },
      ),
      { numRuns: 300, seed: 0x18fa },
    );
  });
});
