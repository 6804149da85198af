// The qtest server's number fast path (src/devices/qtest.ts quickNum) against the reference parse:
// C strtoull(s, NULL, 0) with the whole word consumed, computed here independently with bigint
// digit arithmetic (base 16 after 0x/0X, base 8 after a leading 0, else base 10).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseStrtoull, quickNum } from '../../src/devices/qtest.ts';

/** Independent strtoull-like reference for unsigned words without sign or white space. */
function ref(w: string): bigint | undefined {
  let base = 10n;
  let digits = w;
  if (/^0[xX][0-9a-fA-F]/.test(w)) {
    base = 16n;
    digits = w.slice(2);
  } else if (w.startsWith('0')) {
    base = 8n;
  }
  if (digits.length === 0) return undefined;
  let v = 0n;
  for (const ch of digits) {
    const d = Number.parseInt(ch, 36);
    if (Number.isNaN(d) || BigInt(d) >= base) return undefined;
    v = v * base + BigInt(d);
  }
  return v < 1n << 64n ? v : undefined;
}

const word = fc.oneof(
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v) => `0x${v.toString(16)}`),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v) => `0X${v.toString(16).toUpperCase()}`),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v) => v.toString(10)),
  fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map((v) => `0${v.toString(8)}`),
  fc.stringMatching(/^[0-9a-fxX]{0,18}$/),
);

describe('qtest quickNum', () => {
  it('is −1 or exactly the strtoull value (and below 2^53)', () => {
    fc.assert(
      fc.property(word, (w) => {
        const q = quickNum(w);
        const r = ref(w);
        expect(parseStrtoull(w)).toBe(r);
        if (q >= 0) {
          expect(Number.isSafeInteger(q)).toBe(true);
          expect(BigInt(q)).toBe(r);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('takes the plain forms the fast paths rely on', () => {
    expect(quickNum('0')).toBe(0);
    expect(quickNum('0x90500a8')).toBe(0x0905_00a8);
    expect(quickNum('16')).toBe(16);
    expect(quickNum(`0x${'f'.repeat(13)}`)).toBe(2 ** 52 - 1);
    // Left to the bigint parser: octal, too long, signs, empty hex, undefined.
    for (const w of ['010', `0x${'f'.repeat(14)}`, '1234567890123456', '-1', '0x', '', undefined]) {
      expect(quickNum(w)).toBe(-1);
    }
  });
});
