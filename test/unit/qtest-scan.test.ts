// The qtest hot-path scanner and reply encoders (src/devices/qtest-scan.ts). Expected values come
// from independent computations: BigInt() of the digit string with an explicit radix prefix for
// numbers (C strtoull base-0 rules: 0x/0X hex, leading 0 octal, else decimal), Node's
// Buffer hex encoding and BigInt toString(16) for the replies.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hexReplyLine, LineScanner, SCAN_MAX, u32ReplyLine } from '../../src/devices/qtest-scan.ts';

/** strtoull(w, &end, 0) with *end == 0, for unsigned words without sign or white space. */
function strtoullRef(w: string): bigint | undefined {
  let m = /^0[xX]([0-9a-fA-F]+)$/.exec(w);
  if (m) return BigInt(`0x${m[1]}`);
  m = /^0([0-7]*)$/.exec(w);
  if (m) return m[1] === '' ? 0n : BigInt(`0o${m[1]}`);
  if (/^[1-9][0-9]*$/.test(w)) return BigInt(w);
  return undefined;
}

/** What the scanner must answer for a word: the value when it is a safe integer, else −1. */
function expected(w: string): number {
  const v = strtoullRef(w);
  return v !== undefined && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : -1;
}

/** Scans one word alone on a line. */
function scanWord(w: string): number {
  const sc = new LineScanner();
  sc.reset(w, 0);
  const v = sc.num();
  // A word ends at the first space (the separator) or at the line's end.
  if (v >= 0) expect(sc.i).toBe(w.includes(' ') ? w.indexOf(' ') : w.length);
  return v;
}

const MAX = 2n ** 53n - 1n;
const value = fc.oneof(
  fc.bigInt({ min: 0n, max: 0xffffn }),
  fc.bigInt({ min: 0n, max: MAX }),
  fc.bigInt({ min: MAX - 16n, max: MAX + 16n }),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  fc.bigInt({ min: 0n, max: 2n ** 80n }),
);
/** Number words in the three bases, with optional leading zeros (after the prefix). */
const numberWord = fc.tuple(value, fc.nat(20), fc.integer({ min: 0, max: 3 })).map(([v, z, k]) => {
  const zeros = '0'.repeat(z);
  if (k === 0) return `0x${zeros}${v.toString(16)}`;
  if (k === 1) return `0X${zeros}${v.toString(16).toUpperCase()}`;
  if (k === 2) return `0${zeros}${v.toString(8)}`;
  return v.toString(10);
});
const junkWord = fc.stringMatching(/^[-+ \t0-9a-fxXoO8]{0,20}$/);

describe('LineScanner.num', () => {
  it('agrees with the strtoull reference on number words in all three bases', () => {
    fc.assert(
      fc.property(numberWord, (w) => {
        expect(scanWord(w)).toBe(expected(w));
      }),
      { numRuns: 3000 },
    );
  });

  it('is −1 or the strtoull value on arbitrary words', () => {
    fc.assert(
      fc.property(junkWord, (w) => {
        const v = scanWord(w);
        // A word with a space ends at the space: only its first part is a candidate.
        const first = w.split(' ')[0] as string;
        expect(v).toBe(expected(first));
      }),
      { numRuns: 3000 },
    );
  });

  it('takes the boundary values in each base and leaves 2^53 to the general parser', () => {
    const max = Number.MAX_SAFE_INTEGER;
    expect(SCAN_MAX).toBe(max);
    expect(scanWord((2n ** 53n - 1n).toString(10))).toBe(max);
    expect(scanWord(`0x${(2n ** 53n - 1n).toString(16)}`)).toBe(max);
    expect(scanWord(`0${(2n ** 53n - 1n).toString(8)}`)).toBe(max);
    expect(scanWord((2n ** 53n).toString(10))).toBe(-1);
    expect(scanWord(`0x${(2n ** 53n).toString(16)}`)).toBe(-1);
    expect(scanWord(`0${(2n ** 53n).toString(8)}`)).toBe(-1);
    expect(scanWord('0xffffffffffffffff')).toBe(-1);
    expect(scanWord('18446744073709551616')).toBe(-1);
    expect(scanWord('0')).toBe(0);
    expect(scanWord('00')).toBe(0);
    expect(scanWord('0x0')).toBe(0);
    expect(scanWord('0X0000000009050000')).toBe(0x0905_0000);
    expect(scanWord('017')).toBe(15);
    expect(scanWord('0xAbC')).toBe(0xabc);
  });

  it('leaves words strtoull rejects, or that need its sign or white-space rules, to the general parser', () => {
    for (const w of [
      '',
      '-1',
      '+1',
      '-0x1',
      '\t1',
      '1\t',
      '\r',
      '0x',
      '0X',
      '0xg',
      '0x1g',
      '0x0x1',
      '08',
      '019',
      '0b101',
      '1e3',
      '1.0',
      'nan',
      'Infinity',
      'é',
      '\u0000',
      '１', // fullwidth digit one
    ]) {
      expect(scanWord(w)).toBe(-1);
    }
  });

  it('handles long words: leading zeros in every base, and long digit runs that overflow', () => {
    expect(scanWord(`0x${'0'.repeat(10_000)}1f`)).toBe(0x1f);
    expect(scanWord(`0${'0'.repeat(10_000)}17`)).toBe(15);
    expect(scanWord(`1${'0'.repeat(10_000)}`)).toBe(-1);
    expect(scanWord(`0x${'f'.repeat(10_000)}`)).toBe(-1);
    expect(scanWord(`0x${'0'.repeat(10_000)}z`)).toBe(-1);
  });

  it('scans words separated by single spaces and stops at a space', () => {
    const sc = new LineScanner();
    sc.reset('smmu_dma 16 - 0x1040 64 R', 9);
    expect(sc.num()).toBe(16);
    expect(sc.space()).toBe(true);
    expect(sc.char(45)).toBe(true);
    expect(sc.space()).toBe(true);
    expect(sc.num()).toBe(0x1040);
    expect(sc.space()).toBe(true);
    expect(sc.num()).toBe(64);
    expect(sc.space()).toBe(true);
    expect(sc.atEnd()).toBe(false);
    expect(sc.char(82)).toBe(true);
    expect(sc.atEnd()).toBe(true);
    expect(sc.space()).toBe(false);
    expect(sc.num()).toBe(-1);
  });

  it('rejects a one-character word that continues, and a double space', () => {
    const sc = new LineScanner();
    sc.reset('-1 R', 0);
    expect(sc.char(45)).toBe(false);
    sc.reset('RW', 0);
    expect(sc.char(82)).toBe(false);
    sc.reset('R', 0);
    expect(sc.char(87)).toBe(false);
    sc.reset('1  2', 0);
    expect(sc.num()).toBe(1);
    expect(sc.space()).toBe(true);
    expect(sc.num()).toBe(-1);
  });

  it('scans a word in the middle of a long line', () => {
    const sc = new LineScanner();
    const line = `read 0x${'0'.repeat(5000)}40000000 ${'9'.repeat(15)} junk`;
    sc.reset(line, 5);
    expect(sc.num()).toBe(0x4000_0000);
    expect(sc.space()).toBe(true);
    expect(sc.num()).toBe(999_999_999_999_999);
    expect(sc.space()).toBe(true);
    expect(sc.num()).toBe(-1);
  });
});

describe('reply encoders', () => {
  it('hexReplyLine is OK 0x + lowercase hex + newline, for every size path', () => {
    for (const len of [0, 1, 2, 3, 63, 64, 65, 4095, 4096, 4097, 70_000]) {
      const b = Uint8Array.from({ length: len }, (_, i) => (i * 151 + len) & 0xff);
      expect(hexReplyLine(b)).toBe(`OK 0x${Buffer.from(b).toString('hex')}\n`);
    }
  });

  it('hexReplyLine does not keep bytes of an earlier, longer reply', () => {
    const long = new Uint8Array(100).fill(0xab);
    hexReplyLine(long);
    expect(hexReplyLine(Uint8Array.of(1, 0xfe))).toBe('OK 0x01fe\n');
    expect(hexReplyLine(new Uint8Array(100))).toBe(`OK 0x${'00'.repeat(100)}\n`);
  });

  it('hexReplyLine matches Buffer hex on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (b) => {
        expect(hexReplyLine(b)).toBe(`OK 0x${Buffer.from(b).toString('hex')}\n`);
      }),
    );
  });

  it('u32ReplyLine is OK 0x%016x + newline', () => {
    const ref = (v: number) => `OK 0x${BigInt(v).toString(16).padStart(16, '0')}\n`;
    for (const v of [0, 1, 0xf, 0x10, 0x7fff_ffff, 0x8000_0000, 0xdead_beef, 0xffff_ffff]) {
      expect(u32ReplyLine(v)).toBe(ref(v));
    }
    fc.assert(
      fc.property(fc.nat({ max: 0xffff_ffff }), (v) => {
        expect(u32ReplyLine(v)).toBe(ref(v));
      }),
    );
  });
});
