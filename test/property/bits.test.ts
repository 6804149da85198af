// Property tests of the number-path helpers of src/arch/bits.ts against bigint references over
// the full u64 range (typescript.md §10.7 item 6: every number-path helper is checked against the
// bigint oracle). The references below are written independently with plain bigint shifts/masks.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  addrField,
  and32,
  bit,
  bit32,
  bitSet53,
  clear32,
  ffs53,
  field,
  fls53,
  fmask32,
  get32,
  has32,
  hi32,
  idx,
  inc32,
  joinU64,
  lo32,
  lowBits,
  maskAddr,
  merge32,
  numHi,
  numLo,
  or32,
  or53,
  put32,
  shr,
  sub32,
  subset53,
  xor32,
} from '../../src/arch/bits.ts';
import { mairByte } from '../../src/smmu/attrs.ts';

const U64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
/** Non-negative integers below 2^53 (addresses on the number path), as bigint. */
const ADDR = fc.bigInt({ min: 0n, max: 2n ** 53n - 1n });

/** Reference: bits [hi:lo] of w, shifted down. */
const refBits = (w: bigint, hi: number, lo: number) =>
  (w >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);
/** Reference: w with only bits [hi:lo] kept, in place. */
const refInPlace = (w: bigint, hi: number, lo: number) => refBits(w, hi, lo) << BigInt(lo);

/** A field [fhi:flo] of a 64-bit word at most `maxWidth` bits wide, with fhi ≤ maxHi. */
const fieldPos = (maxWidth: number, maxHi: number) =>
  fc
    .integer({ min: 0, max: maxHi })
    .chain((flo) =>
      fc
        .integer({ min: flo, max: Math.min(maxHi, flo + maxWidth - 1) })
        .map((fhi) => ({ fhi, flo })),
    );

describe('u32 halves', () => {
  it('lo32/hi32/joinU64 round-trip', () => {
    fc.assert(
      fc.property(U64, (w) => {
        expect(joinU64(lo32(w), hi32(w))).toBe(w);
        expect(BigInt(lo32(w))).toBe(w & 0xffff_ffffn);
        expect(BigInt(hi32(w))).toBe(w >> 32n);
      }),
    );
  });
  it('numLo/numHi split a number below 2^53', () => {
    fc.assert(
      fc.property(ADDR, (a) => {
        const x = Number(a);
        expect(BigInt(numLo(x))).toBe(a & 0xffff_ffffn);
        expect(BigInt(numHi(x))).toBe(a >> 32n);
      }),
    );
  });
});

describe('field and bit', () => {
  it('field(lo, hi, fhi, flo) equals the bigint extraction for fields up to 32 bits', () => {
    fc.assert(
      fc.property(U64, fieldPos(32, 63), (w, { fhi, flo }) => {
        const got = field(lo32(w), hi32(w), fhi, flo);
        expect(BigInt(got)).toBe(refBits(w, fhi, flo));
        expect(got).toBeGreaterThanOrEqual(0);
      }),
      { numRuns: 2000 },
    );
  });
  it('bit(lo, hi, n)', () => {
    fc.assert(
      fc.property(U64, fc.integer({ min: 0, max: 63 }), (w, n) => {
        expect(BigInt(bit(lo32(w), hi32(w), n))).toBe((w >> BigInt(n)) & 1n);
      }),
    );
  });
});

describe('address helpers', () => {
  it('addrField keeps bits [fhi:flo] in place (fhi ≤ 52)', () => {
    fc.assert(
      fc.property(U64, fieldPos(53, 52), (w, { fhi, flo }) => {
        const got = addrField(lo32(w), hi32(w), fhi, flo);
        expect(Number.isSafeInteger(got)).toBe(true);
        expect(BigInt(got)).toBe(refInPlace(w, fhi, flo));
      }),
      { numRuns: 2000 },
    );
  });
  it('maskAddr(x, hi, lo) = x & GENMASK(hi, lo)', () => {
    fc.assert(
      fc.property(ADDR, fieldPos(53, 52), (a, { fhi, flo }) => {
        expect(BigInt(maskAddr(Number(a), fhi, flo))).toBe(refInPlace(a, fhi, flo));
      }),
      { numRuns: 2000 },
    );
  });
  it('shr(x, s) = x >> s', () => {
    fc.assert(
      fc.property(ADDR, fc.integer({ min: 0, max: 53 }), (a, s) => {
        expect(BigInt(shr(Number(a), s))).toBe(a >> BigInt(s));
      }),
    );
  });
  it('idx(x, s, width) = (x >> s) & mask(width)', () => {
    fc.assert(
      fc.property(
        ADDR,
        fc.integer({ min: 0, max: 52 }),
        fc.integer({ min: 1, max: 32 }),
        (a, s, width) => {
          const want = (a >> BigInt(s)) & ((1n << BigInt(width)) - 1n);
          expect(BigInt(idx(Number(a), s, width))).toBe(want);
        },
      ),
      { numRuns: 2000 },
    );
  });
  it('mairByte(lo, hi, i) = byte i of the 64-bit MAIR hi:lo', () => {
    fc.assert(
      fc.property(fc.bigInt(0n, 2n ** 64n - 1n), fc.integer({ min: 0, max: 7 }), (mair, i) => {
        const lo = Number(mair & 0xffff_ffffn);
        const hi = Number(mair >> 32n);
        expect(BigInt(mairByte(lo, hi, i))).toBe((mair >> BigInt(8 * i)) & 0xffn);
      }),
    );
  });

  it('lowBits(x, n) = x mod 2^n', () => {
    fc.assert(
      fc.property(ADDR, fc.integer({ min: 0, max: 53 }), (a, n) => {
        expect(BigInt(lowBits(Number(a), n))).toBe(a % 2n ** BigInt(n));
      }),
    );
  });
  it('edge values (property failures would show up here first)', () => {
    const top = 2n ** 64n - 1n;
    expect(BigInt(field(lo32(top), hi32(top), 47, 16))).toBe(0xffff_ffffn);
    expect(BigInt(addrField(lo32(top), hi32(top), 52, 0))).toBe(2n ** 53n - 1n);
    expect(idx(2 ** 52, 52, 1)).toBe(1);
  });
});

describe('53-bit bit-set helpers (page-size bitmaps) against bigint', () => {
  const refFls = (x: bigint) => (x === 0n ? -1 : x.toString(2).length - 1);
  const refFfs = (x: bigint) => {
    if (x === 0n) return -1;
    let b = 0;
    while (((x >> BigInt(b)) & 1n) === 0n) b++;
    return b;
  };
  it('or53, subset53, bitSet53, fls53, ffs53', () => {
    fc.assert(
      fc.property(ADDR, ADDR, fc.integer({ min: 0, max: 52 }), (a, b, n) => {
        const x = Number(a);
        const y = Number(b);
        expect(BigInt(or53(x, y))).toBe(a | b);
        expect(subset53(x, y)).toBe((a & b) === a);
        expect(subset53(x, or53(x, y))).toBe(true);
        expect(bitSet53(x, n)).toBe(((a >> BigInt(n)) & 1n) === 1n);
        expect(fls53(x)).toBe(refFls(a));
        expect(ffs53(x)).toBe(refFfs(a));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('u32 register helpers against bigint', () => {
  const U32 = fc.bigInt({ min: 0n, max: 2n ** 32n - 1n });
  const M32 = 2n ** 32n - 1n;
  const pos = fc
    .integer({ min: 0, max: 31 })
    .chain((lo) => fc.integer({ min: lo, max: 31 }).map((hi) => ({ hi, lo })));
  it('and32, or32, xor32, clear32, merge32, has32, bit32', () => {
    fc.assert(
      fc.property(U32, U32, U32, fc.integer({ min: 0, max: 31 }), (a, b, m, n) => {
        const [x, y, z] = [Number(a), Number(b), Number(m)];
        expect(BigInt(and32(x, y))).toBe(a & b);
        expect(BigInt(or32(x, y))).toBe(a | b);
        expect(BigInt(xor32(x, y))).toBe(a ^ b);
        expect(BigInt(clear32(x, z))).toBe(a & ~m & M32);
        expect(BigInt(merge32(x, y, z))).toBe((a & ~m & M32) | (b & m));
        expect(has32(x, n)).toBe(((a >> BigInt(n)) & 1n) === 1n);
        expect(BigInt(bit32(n))).toBe(1n << BigInt(n));
      }),
      { numRuns: 2000 },
    );
  });
  it('get32, put32, fmask32', () => {
    fc.assert(
      fc.property(U32, U32, pos, (a, v, { hi, lo }) => {
        const width = BigInt(hi - lo + 1);
        const mask = (1n << width) - 1n;
        expect(BigInt(get32(Number(a), hi, lo))).toBe((a >> BigInt(lo)) & mask);
        expect(BigInt(put32(Number(v), hi, lo))).toBe((v & mask) << BigInt(lo));
        expect(BigInt(fmask32(hi, lo))).toBe(mask << BigInt(lo));
      }),
      { numRuns: 2000 },
    );
  });
  it('inc32, sub32 (queue counters)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 31 }), U32, U32, (w, a, b) => {
        const mod = 1n << BigInt(w);
        const pa = a % mod;
        const pb = b % mod;
        expect(BigInt(inc32(Number(pa), w))).toBe((pa + 1n) % mod);
        expect(BigInt(sub32(Number(pa), Number(pb), w))).toBe((((pa - pb) % mod) + mod) % mod);
      }),
      { numRuns: 2000 },
    );
  });
});
